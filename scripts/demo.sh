#!/usr/bin/env bash
# Quick start, part one: runs the whole pipeline on local defaults (no cloud account needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh run
exec node --conditions=source --import "file://$PWD/node_modules/tsx/dist/loader.mjs" scripts/demo.ts "$@"
