#!/usr/bin/env bash
# The test command: installs what the tests need, type-checks, lints, then runs every vitest project.
# Every server a test needs (redis-server, the RTSP camera, the GCS test server, the Pub/Sub
# emulator when installed, our three services) is started by the tests on 127.0.0.1 free ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh test
npx tsc -b
npx tsc -p bench # the benchmark harness is not run by the tests, but it must keep compiling
# The lint gate and the formatter: zero warnings, or no test runs.
npx eslint . --max-warnings 0
npx prettier --check . --log-level warn
rm -f test-output/fault-summary.jsonl
status=0
npx vitest run "$@" || status=$?
# The end-to-end fault tests each appended a line (also when they failed): recorded, stored once,
# duplicated, reported, lost. The table is printed either way; a lost or duplicated chunk fails the run.
node --conditions=source --import ./node_modules/tsx/dist/loader.mjs scripts/fault-summary.ts || status=1
exit "$status"
