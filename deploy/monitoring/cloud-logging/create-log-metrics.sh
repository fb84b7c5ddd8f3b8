#!/usr/bin/env bash
# Creates (or updates) crispy-streamer's log-based metrics in a project, from log-metrics/*.json:
#   bash deploy/monitoring/cloud-logging/create-log-metrics.sh PROJECT
# They count the function's lines per camera (label `source`); chart them in Metrics Explorer as
# logging.googleapis.com/user/NAME, or alert on them (see README.md here).
set -euo pipefail
project=${1:?usage: create-log-metrics.sh PROJECT}
cd "$(dirname "$0")/log-metrics"
for file in *.json; do
  name=${file%.json}
  if gcloud logging metrics describe "$name" --project "$project" >/dev/null 2>&1; then
    gcloud logging metrics update "$name" --project "$project" --config-from-file "$file"
  else
    gcloud logging metrics create "$name" --project "$project" --config-from-file "$file"
  fi
done
