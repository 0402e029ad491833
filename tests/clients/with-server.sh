#!/usr/bin/env bash
# with-server.sh SERVER_BINARY CMD [ARGS...]
# Starts dynis-server on a free loopback port in a temporary data dir, waits for PING, runs
# CMD with DYNIS_PORT (and DYNIS_DIR) set, then shuts the server down. Exits with CMD's status.
set -u
server=$1; shift
dir=$(mktemp -d /tmp/dynis-client.XXXXXX)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$server" --port "$port" --dir "$dir/data" --logfile "$dir/server.log" --io-threads 2 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 100); do
  redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done
export DYNIS_PORT=$port DYNIS_DIR=$dir
timeout 300 "$@"
rc=$?
if [ $rc -ne 0 ]; then echo "--- server log"; tail -20 "$dir/server.log"; fi
exit $rc
