#!/usr/bin/env bash
# ioredis and node-redis (pinned in tests/clients/node/package.json, installed from the npm
# registry into build/node-clients) against a dynis server: tests/clients/node/clients.js.
set -euo pipefail
server=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
dest=$top/build/node-clients
command -v node >/dev/null && command -v npm >/dev/null || { echo "node and npm are needed"; exit 1; }
mkdir -p "$dest"
cp "$here/node/package.json" "$here/node/clients.js" "$dest/"
if [ ! -d "$dest/node_modules/ioredis" ] || [ ! -d "$dest/node_modules/redis" ]; then
  (cd "$dest" && timeout 300 npm install --no-audit --no-fund --loglevel=error)
fi
exec "$here/with-server.sh" "$server" node "$dest/clients.js"
