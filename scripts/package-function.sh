#!/usr/bin/env bash
# Builds deploy/cloud-function: a self-contained source folder for `gcloud functions deploy`.
# Cloud Build runs `npm install` there; the shared package travels inside as a tarball.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -b shared cloud-function
out=deploy/cloud-function
rm -rf "$out" && mkdir -p "$out"
shared_tgz=$(npm pack ./shared --pack-destination "$out" --silent)
cp -r cloud-function/dist "$out/dist"
node - "$out" "$shared_tgz" <<'JS'
const fs = require('node:fs');
const [out, sharedTgz] = process.argv.slice(2);
const fn = JSON.parse(fs.readFileSync('cloud-function/package.json', 'utf8'));
const shared = JSON.parse(fs.readFileSync('shared/package.json', 'utf8'));
const pkg = {
  name: 'crispy-streamer-describe-chunk',
  private: true,
  type: 'module',
  main: 'dist/index.js',
  engines: { node: '>=20' },
  dependencies: { ...fn.dependencies, ...shared.dependencies, '@crispy-streamer/shared': `file:${sharedTgz}` },
};
fs.writeFileSync(`${out}/package.json`, JSON.stringify(pkg, null, 2) + '\n');
JS
echo "packaged $out: deploy with --source=$out --entry-point=describeChunk"
