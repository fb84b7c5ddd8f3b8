#!/usr/bin/env bash
# Installs what crispy-streamer needs on a fresh Debian machine with Node, and nothing twice.
#   scripts/ensure-deps.sh run    ffmpeg and redis-server: enough to run the stack
#   scripts/ensure-deps.sh test   plus the RTSP test camera (gst-rtsp-server through python3-gi),
#                                 chromium for the dashboard and fleet page tests, and prometheus
#                                 for promtool (the alerting rules' checks and unit tests)
set -euo pipefail
cd "$(dirname "$0")/.."

want=${1:-run}
packages=(ffmpeg redis-server)
if [[ $want == test ]]; then
  packages+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly chromium prometheus)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  echo "crispy-streamer: installing Debian packages: ${missing[*]}"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file. A registry that serves only this
# platform's builds leaves other platforms' optional packages (rollup's, esbuild's) out of the lock,
# and npm 11's ci refuses such a lock as "out of sync"; npm install then installs the same locked
# versions for this platform.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "crispy-streamer: installing npm packages"
  ci_log=$(mktemp)
  trap 'rm -f "$ci_log"' EXIT
  if ! npm ci --no-audit --no-fund --loglevel=error 2>"$ci_log"; then
    # Only the missing-platform-packages refusal falls back; any other failure is real.
    if ! grep -q 'Missing: ' "$ci_log"; then
      cat "$ci_log" >&2
      exit 1
    fi
    echo "crispy-streamer: npm ci refused the lock file ($(grep -m1 -o 'Missing: [^ ]*' "$ci_log")); installing the locked versions with npm install"
    npm install --no-save --no-audit --no-fund --loglevel=error
  fi
fi
