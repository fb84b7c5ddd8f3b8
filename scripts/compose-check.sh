#!/usr/bin/env bash
# The compose check: builds the images from the Dockerfile and runs the stack with
# `docker compose --profile demo up`, as the README tells a user to, on a Docker engine of its own,
# then judges what the stack did (scripts/compose-check/run-stack.ts) and removes everything it made.
#   sudo bash scripts/compose-check.sh       (root: it starts dockerd and runs debootstrap)
#
# Phases, each timed:
#   install      Debian's Docker engine and Compose (installed as what docker-compose recommends),
#                debootstrap, iptables, iproute2, procps, ffmpeg (ffprobe reads the stored
#                chunks), when missing
#   daemon       dockerd with its own data root, exec root and socket in a temp dir, a dead loopback
#                proxy so that a pull fails at once instead of hanging, and this machine's MTU
#   base images  debian:bookworm-slim and node:24-bookworm-slim made locally
#                (scripts/compose-check/base-images.sh): the public registry is not reachable here
#   builds       compose config with every file combination (Compose's own schema), then the
#                service images with the legacy builder while redis:7-bookworm (made locally too)
#                and the demo camera build beside them; the image sizes
#   up-to-first-chunk, assertions   scripts/compose-check/run-stack.ts
#   teardown     compose down -v, dockerd stopped, its data root, and the host's bridge, iptables
#                chains, forwarding settings and /etc/docker/key.json as they were before
# Teardown runs on success, failure and Ctrl-C; what a run killed outright left, the next removes.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# Debian's client, the engine's own version: another docker on PATH (a newer CLI, say) is not used.
docker=/usr/bin/docker
project=crispy-compose-check
state_prefix=/tmp/crispy-compose-check.
tsx=(node --conditions=source --import "$repo/node_modules/tsx/dist/loader.mjs")

say() { echo "compose-check: $*"; }
die() { echo "compose-check: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root: it starts a Docker engine and runs debootstrap"

state=""
dockerd_pid=""
had_docker0=yes
had_chains=yes
forward_policy=""
ip_forward=""
had_trust_key=yes
timings="" # phase<TAB>seconds lines
images_report=""
side_build=""
phase_name=""
phase_started=0
phase() {
  local now
  now=$(date +%s.%N)
  if [[ -n $phase_name ]]; then
    timings+=$(awk -v name="$phase_name" -v from="$phase_started" -v to="$now" 'BEGIN { printf "%s\t%.1f", name, to - from }')$'\n'
  fi
  phase_name=${1:-}
  phase_started=$now
  [[ -z $phase_name ]] || say "== $phase_name"
}

# ---- teardown: everything this run made, whatever happened

compose_cmd=()
compose() { "${compose_cmd[@]}" -p "$project" --profile demo "$@"; }

processes_of() {
  # PIDs of a run's processes: its command line names the run's temp dir (dockerd, containerd,
  # shims), or its environment names the run's daemon (the compose and docker clients it started).
  local dir=$1 pid
  for pid in /proc/[0-9]*; do
    pid=${pid#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$dir/" ||
      tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF -- "DOCKER_HOST=unix://$dir/docker.sock"; then
      echo "$pid"
    fi
  done
  return 0
}

remove_state_dir() {
  local dir=$1 pid mount
  for pid in $(processes_of "$dir"); do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 40); do [[ -z $(processes_of "$dir") ]] && break; sleep 0.5; done
  for pid in $(processes_of "$dir"); do kill -KILL "$pid" 2>/dev/null || true; done
  # Deepest first; then rm never leaves this file system, whatever is still mounted.
  awk -v prefix="$dir/" 'index($5, prefix) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r mount; do
    umount -l "$mount" 2>/dev/null || true
  done
  rm -rf --one-file-system "$dir"
}

# What the host had before dockerd touched it, kept in the temp dir as well: a later run that
# finds this run's leftovers puts the host back with these values, not its own.
save_host_state() {
  printf 'had_docker0=%s\nhad_chains=%s\nip_forward=%s\nforward_policy=%s\nhad_trust_key=%s\n' \
    "$had_docker0" "$had_chains" "$ip_forward" "$forward_policy" "$had_trust_key" >"$1/host-before"
}

load_host_state() { # from the text save_host_state wrote; anything else in it is ignored
  local key value
  while IFS='=' read -r key value; do
    case $key in
      had_docker0 | had_chains | had_trust_key) [[ $value == yes || $value == no ]] && printf -v "$key" '%s' "$value" ;;
      ip_forward) [[ $value =~ ^[01]$ ]] && ip_forward=$value ;;
      forward_policy) [[ $value =~ ^(ACCEPT|DROP)$ ]] && forward_policy=$value ;;
    esac
  done <<<"$1"
}

forget_network() {
  # dockerd leaves its bridge and iptables chains behind, turns on IP forwarding and sets the
  # FORWARD policy to DROP: all put back as they were.
  [[ -n $ip_forward ]] && echo "$ip_forward" >/proc/sys/net/ipv4/ip_forward
  [[ -n $forward_policy ]] && iptables -P FORWARD "$forward_policy"
  if [[ $had_docker0 == no ]] && ip link show docker0 >/dev/null 2>&1; then ip link delete docker0 || true; fi
  if [[ $had_chains == no ]]; then
    local table rule chain
    for table in filter nat; do
      iptables -t "$table" -S 2>/dev/null | grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*(DOCKER|docker0)' |
        while read -r rule; do eval "iptables -t $table ${rule/-A /-D }" 2>/dev/null || true; done
      for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ { print $2 }'); do
        iptables -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ { print $2 }'); do
        iptables -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  fi
}

remove_earlier_run() {
  local dir=$1 before=""
  [[ -f $dir/host-before ]] && before=$(cat "$dir/host-before")
  # Its dockerd and containers first, then the host as that run found it (in a subshell: this
  # run's own record of the host is taken afterwards).
  remove_state_dir "$dir"
  [[ -z $before ]] || (load_host_state "$before" && forget_network && forget_trust_key)
}

forget_trust_key() {
  # dockerd writes its identity to /etc/docker/key.json on first start.
  [[ $had_trust_key == no ]] && rm -f /etc/docker/key.json
  return 0
}

teardown() {
  local status=$?
  trap - EXIT INT TERM
  set +e
  phase teardown
  [[ -n $side_build ]] && kill -TERM "$side_build" 2>/dev/null
  if [[ -n $dockerd_pid ]] && kill -0 "$dockerd_pid" 2>/dev/null; then
    if ((status != 0)) && ((${#compose_cmd[@]} > 0)); then
      say "the last log lines of each service:"
      timeout 60 "${compose_cmd[@]}" -p "$project" --profile demo --profile more-workers logs --no-color --tail 15 2>/dev/null | cut -c1-400
    fi
    ((${#compose_cmd[@]} > 0)) && timeout 120 "${compose_cmd[@]}" -p "$project" --profile demo --profile more-workers down -v --remove-orphans >/dev/null 2>&1
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 60); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$dockerd_pid" 2>/dev/null
  fi
  [[ -n $state ]] && remove_state_dir "$state"
  forget_network
  forget_trust_key
  phase ""
  if [[ -n $images_report ]]; then echo; echo "$images_report"; fi
  if [[ -n $timings ]]; then
    echo
    echo "compose-check timings (s):"
    printf '%s' "$timings" | awk -F'\t' 'NF == 2 { printf "  %-18s %7.1f\n", $1, $2; total += $2 } END { printf "  %-18s %7.1f\n", "total", total }'
  fi
  if ((status == 0)); then say "passed"; else say "FAILED (exit $status)"; fi
  exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---- install

phase install
# A run killed outright (SIGKILL, power) left its daemon and temp dir: this run removes them.
for stale in "$state_prefix"*; do
  [[ -d $stale ]] || continue
  owner=$(cat "$stale/owner.pid" 2>/dev/null || echo "")
  # Alive and still this script (a zombie or a reused pid has another command line, or none).
  if [[ $owner =~ ^[0-9]+$ ]] && tr '\0' ' ' 2>/dev/null <"/proc/$owner/cmdline" | grep -qF compose-check.sh; then
    die "another compose check runs (pid $owner, $stale)"
  fi
  say "removing what an earlier run left: $stale"
  remove_earlier_run "$stale"
done
engine=$(apt-cache depends docker-compose 2>/dev/null | awk '$1 == "Recommends:" { print $2; exit }')
[[ -n $engine ]] || die "apt knows no docker-compose package, or it recommends no engine: is this Debian 12?"
packages=(docker-compose "$engine" debootstrap iptables iproute2 procps ffmpeg)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  say "installing Debian packages: ${missing[*]/#$engine/(the engine docker-compose recommends)}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[[ -f node_modules/tsx/dist/loader.mjs ]] || bash scripts/npm-ci.sh
# Compose v2 when Debian's client has it as a plugin, else Debian's Compose 1.29.
if "$docker" compose version >/dev/null 2>&1; then compose_cmd=("$docker" compose); else compose_cmd=(/usr/bin/docker-compose); fi
say "clients: $("$docker" --version); $("${compose_cmd[@]}" version --short 2>/dev/null || "${compose_cmd[@]}" version | head -1)"

# ---- daemon

phase daemon
if pgrep -x dockerd >/dev/null; then
  die "another Docker engine runs here (pid $(pgrep -x dockerd | tr '\n' ' ')): this check starts its own, and two would fight over the docker0 bridge and the DOCKER iptables chains"
fi
ip link show docker0 >/dev/null 2>&1 || had_docker0=no
[[ -e /etc/docker/key.json ]] || had_trust_key=no
ip_forward=$(cat /proc/sys/net/ipv4/ip_forward)
forward_policy=$(iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }')
iptables -t filter -S DOCKER >/dev/null 2>&1 || iptables -t nat -S DOCKER >/dev/null 2>&1 || had_chains=no
state=$(mktemp -d "${state_prefix}XXXXXX")
echo $$ >"$state/owner.pid"
save_host_state "$state"
uplink=$(ip route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
mtu=$(cat "/sys/class/net/${uplink:-lo}/mtu" 2>/dev/null || echo 1500)
((mtu <= 1500)) || mtu=1500
# The proxy on port 9 answers nothing: pulls from the public registry fail at once.
HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY="" \
  dockerd --storage-driver=overlay2 --data-root "$state/data" --exec-root "$state/exec" \
  --pidfile "$state/dockerd.pid" -H "unix://$state/docker.sock" --mtu "$mtu" >"$state/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST="unix://$state/docker.sock"
for _ in $(seq 1 60); do "$docker" version >/dev/null 2>&1 && break; kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.5; done
"$docker" version >/dev/null 2>&1 || { tail -20 "$state/dockerd.log" >&2; die "dockerd did not start"; }
say "dockerd $("$docker" version --format '{{.Server.Version}}') (pid $dockerd_pid), data root $state/data, MTU $mtu"

# ---- base images

phase "base images"
DOCKER=$docker bash scripts/compose-check/base-images.sh "$state/base" debian node

# ---- builds

phase builds
# What the compose files need set; nothing here is a real secret, and none is printed.
export BOARD_PASSWORD LOCAL_SIGNING_SECRET BOARD_PORT
BOARD_PASSWORD=$(node -e "process.stdout.write(require('node:crypto').randomBytes(18).toString('base64url'))")
LOCAL_SIGNING_SECRET=$(node -e "process.stdout.write(require('node:crypto').randomBytes(32).toString('hex'))")
BOARD_PORT=$(node -e "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { process.stdout.write(String(s.address().port)); s.close(); })")
export RTSP_URL=rtsp://demo-camera:8554/demo
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
# Compose validates every file against its own schema (1.29's is older than the specification).
BUCKET_URL=gs://compose-check/chunks GCP_CREDENTIALS_FILE=/dev/null \
  bash -c 'for files in "-f docker-compose.yml" "-f docker-compose.yml -f docker-compose.gcs.yml" "-f docker-compose.yml -f docker-compose.emulators.yml"; do
    "$@" $files --profile demo --profile more-workers config -q || { echo "compose-check: compose config $files refused the files" >&2; exit 1; }
  done' _ "${compose_cmd[@]}"
# Redis and the demo camera share no layer with the services: they build at the same time.
logs=$repo/test-output/compose-check
mkdir -p "$logs"
stamp() { while IFS= read -r line; do printf '%(%s)T %s\n' -1 "$line"; done; }
( { DOCKER=$docker bash scripts/compose-check/base-images.sh "$state/base" redis && compose build demo-camera; } 2>&1 | stamp >"$logs/side-build.log" ) &
side_build=$!
compose build stream-handle upload-worker cloud-function 2>&1 | stamp >"$logs/build.log"
((PIPESTATUS[0] == 0)) || { tail -40 "$logs/build.log" >&2; die "the service images did not build ($logs/build.log)"; }
wait "$side_build" || { side_build=""; tail -40 "$logs/side-build.log" >&2; die "redis or the demo camera did not build ($logs/side-build.log)"; }
side_build=""
grep -hE '^[0-9]+ (slim-ffmpeg|check-ffmpeg|crispy-streamer): ' "$logs/build.log" | cut -d' ' -f2- | sort | uniq -c | sed 's/^ */  /' || true

image_size() { "$docker" image inspect --format '{{.Size}}' "$1" 2>/dev/null | awk '{ printf "%.0f MB", $1 / 1000000 }'; }
images_report="image sizes (MB as docker image ls counts them):"
for service in stream-handle upload-worker cloud-function demo-camera; do
  for name in "${project}_${service}" "${project}-${service}"; do
    size=$(image_size "$name") && [[ -n $size ]] && { images_report+=$'\n'"$(printf '  %-24s %s' "$service" "$size")"; break; }
  done
done
for base in debian:bookworm-slim node:24-bookworm-slim redis:7-bookworm; do
  images_report+=$'\n'"$(printf '  %-24s %s (base, made here)' "$base" "$(image_size "$base")")"
done
echo "$images_report"

# ---- run and judge

phase "" # run-stack.ts times its own phases
say "== stack"
stack_status=0
CRISPY_DOCKER=$docker CRISPY_COMPOSE=$(printf '%s\n' "${compose_cmd[@]}" | node -e "process.stdout.write(JSON.stringify(require('node:fs').readFileSync(0, 'utf8').trim().split('\n')))") \
  CRISPY_PROJECT=$project CRISPY_TIMINGS=$state/stack-timings \
  "${tsx[@]}" scripts/compose-check/run-stack.ts || stack_status=$?
[[ -f $state/stack-timings ]] && timings+=$(cat "$state/stack-timings")$'\n'
exit "$stack_status"
