#!/usr/bin/env bash
# The test command: installs what the tests need, type-checks, then runs every vitest project.
# Every server a test needs (redis-server, the RTSP camera, the GCS test server, the Pub/Sub
# emulator when installed, our three services) is started by the tests on 127.0.0.1 free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh test
npx tsc -b
npx vitest run "$@"
