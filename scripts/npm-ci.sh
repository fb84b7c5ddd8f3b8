#!/usr/bin/env bash
# npm ci, and npm install with the same locked versions only when npm ci refuses the lock for the one
# reason that is not a real problem. Used by scripts/ensure-deps.sh and by the Dockerfile; extra
# arguments go to both commands (e.g. --omit=dev --workspace shared --workspace upload-worker).
#
# A registry that serves only this platform's builds leaves other platforms' optional packages
# (rollup's, esbuild's) out of the lock, and npm 11's ci refuses such a lock as "out of sync"
# ("Missing: PACKAGE from lock file"); npm install then installs the same locked versions for this
# platform. Any other failure of npm ci is real and fails this script with npm's own message.
set -euo pipefail

ci_log=$(mktemp)
trap 'rm -f "$ci_log"' EXIT
if npm ci --no-audit --no-fund --loglevel=error "$@" 2>"$ci_log"; then
  exit 0
fi
if ! grep -q 'Missing: ' "$ci_log"; then
  cat "$ci_log" >&2
  exit 1
fi
echo "crispy-streamer: npm ci refused the lock file ($(grep -m1 -o 'Missing: [^ ]*' "$ci_log")); installing the locked versions with npm install"
npm install --no-save --no-audit --no-fund --loglevel=error "$@"
