#!/usr/bin/env bash
# Builds dist/loom, one executable with Node.js inside (Node's Single Executable Applications):
# the esbuild bundle dist/loom.cjs is injected into a copy of the installed node binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cat > dist/sea-config.json <<'JSON'
{ "main": "dist/loom.cjs", "output": "dist/sea-prep.blob", "disableExperimentalSEAWarning": true, "useSnapshot": false, "useCodeCache": false }
JSON
node --experimental-sea-config dist/sea-config.json
rm -f dist/loom
cp "$(command -v node)" dist/loom
strip dist/loom 2>/dev/null || true
npx postject dist/loom NODE_SEA_BLOB dist/sea-prep.blob \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 2>&1 | grep -v 'note.100' || true
chmod +x dist/loom
rm -f dist/sea-prep.blob dist/sea-config.json
echo "built dist/loom ($(du -h dist/loom | cut -f1))"
