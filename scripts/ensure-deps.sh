#!/usr/bin/env bash
# Installs what crispy-streamer needs on a fresh Debian machine with Node, and nothing twice.
#   scripts/ensure-deps.sh run    ffmpeg and redis-server: enough to run the stack
#   scripts/ensure-deps.sh test   plus the RTSP test camera (gst-rtsp-server through python3-gi),
#                                 chromium for the dashboard and fleet page tests, and prometheus
#                                 for promtool (the alerting rules' checks and unit tests), and
#                                 faketime (libfaketime: cameras and nodes whose clocks are off)
set -euo pipefail
cd "$(dirname "$0")/.."

want=${1:-run}
packages=(ffmpeg redis-server)
if [[ $want == test ]]; then
  packages+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly chromium prometheus faketime)
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

# npm ci when node_modules is missing or older than the lock file (scripts/npm-ci.sh says when it
# falls back to npm install).
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "crispy-streamer: installing npm packages"
  bash scripts/npm-ci.sh
fi
