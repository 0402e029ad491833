#!/usr/bin/env bash
# redis_cli_session.sh DYNIS_SERVER_BINARY
# A scripted redis-cli session against dynis, compared byte for byte with the same session run
# against a real redis-server (one-shot commands, a piped multi-line session, RESP3 via -3,
# COMMAND DOCS GET), plus the dynis-only GETCTX/SETCTX sibling/merge flow and redis-cli's
# interactive hints (in tmux, when available). Exits non-zero and prints every mismatch.
set -u
if [ -z "${DYNIS_PORT:-}" ]; then
  exec "$(dirname "$0")/with-server.sh" "$1" bash "$0" "$1"
fi

DP=$DYNIS_PORT
tmp=$(mktemp -d /tmp/dynis-cli-session.XXXXXX)
RP=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
  --logfile "$tmp/redis.log" >/dev/null 2>&1 &
rpid=$!
tmux_session=""
cleanup() {
  [ -n "$tmux_session" ] && tmux kill-session -t "$tmux_session" 2>/dev/null
  kill "$rpid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$rpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
for _ in $(seq 100); do
  redis-cli -p "$RP" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done
if ! redis-cli -p "$RP" ping 2>/dev/null | grep -q PONG; then
  echo "FAIL: reference redis-server did not start"; cat "$tmp/redis.log"; exit 1
fi

failures=0
checks=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# cli PORT ARGS...: one redis-cli invocation, stdout+stderr and exit status.
cli() {
  local port=$1; shift
  timeout 20 redis-cli -p "$port" "$@" 2>&1
  echo "[rc=$?]"
}

# same ARGS...: runs the one-shot command against both servers, compares the outputs exactly.
same() {
  local a b
  checks=$((checks + 1))
  a=$(cli "$DP" "$@")
  b=$(cli "$RP" "$@")
  if [ "$a" != "$b" ]; then
    fail "redis-cli $* differs (dynis < > redis)"
    diff <(echo "$a") <(echo "$b") | sed 's/^/    /'
  fi
}

# same_sorted ARGS...: as same, but order-insensitive (KEYS order is unspecified in Redis too).
same_sorted() {
  local a b
  checks=$((checks + 1))
  a=$(cli "$DP" "$@" | sort)
  b=$(cli "$RP" "$@" | sort)
  if [ "$a" != "$b" ]; then
    fail "redis-cli $* differs, order ignored (dynis < > redis)"
    diff <(echo "$a") <(echo "$b") | sed 's/^/    /'
  fi
}

# scan_all PORT ARGS...: every key of a full SCAN iteration (cursor loop), sorted.
scan_all() {
  local port=$1; shift
  local cursor=0 out n=0
  while :; do
    out=$(timeout 20 redis-cli -p "$port" SCAN "$cursor" "$@") || { echo "SCAN failed"; return; }
    cursor=$(echo "$out" | head -1)
    echo "$out" | tail -n +2
    n=$((n + 1))
    [ "$cursor" = "0" ] && break
    [ "$n" -gt 10000 ] && { echo "SCAN did not terminate"; break; }
  done | sed '/^$/d' | sort
}

for p in "$DP" "$RP"; do redis-cli -p "$p" FLUSHALL >/dev/null; done

# --- one-shot commands --------------------------------------------------------------------
same PING
same PING "hello world"
same --no-raw PING
same SET k1 v1
same GET k1
same --no-raw GET k1
same GET missing
same --no-raw GET missing
same SET k1 v2 NX
same SET k1 v3 XX
same SET nx1 a NX
same SET nx1 b NX
same SET xx1 a XX
same --no-raw SET xx1 a XX
same SET k1 v4 GET
same --no-raw SET nokey v GET
same SET k1 v5 EX 1000 GET
same TTL k1
same SET k1 v6 XX EX 500
same TTL k1
same SET k1 v7 NX GET
same SET k1 v EX 0
same SET k1 v EX abc
same SET k1 v NX XX
same SET k1 v EX 10 PX 100
same SET k1
same GET k1
same INCR counter
same INCR counter
same --no-raw INCR counter
same INCRBY counter 40
same DECR counter
same INCR k1
same SET big 9223372036854775807
same INCR big
same MSET m1 a m2 b m3 c
same MGET m1 m2 nothere m3
same --no-raw MGET m1 m2 nothere m3
same MSET m1
same EXPIRE m1 1000
same TTL m1
same TTL m2
same TTL nothere
same EXPIRE nothere 100
same PERSIST m1
same TTL m1
same PEXPIRE m2 100000000
same EXISTS m1 m2 nothere m1
same DEL m1 nothere m2
same EXISTS m1 m2 m3
same DEL m1
same MSET key:1 a key:2 b key:3 c other x
same_sorted KEYS 'key:*'
same_sorted KEYS '*'
same_sorted KEYS 'key:[12]'
same KEYS 'nomatch*'
checks=$((checks + 1))
a=$(scan_all "$DP"); b=$(scan_all "$RP")
[ "$a" = "$b" ] || { fail "SCAN iteration differs"; diff <(echo "$a") <(echo "$b"); }
checks=$((checks + 1))
a=$(scan_all "$DP" MATCH 'key:*' COUNT 2); b=$(scan_all "$RP" MATCH 'key:*' COUNT 2)
[ "$a" = "$b" ] || { fail "SCAN MATCH COUNT differs"; diff <(echo "$a") <(echo "$b"); }
checks=$((checks + 1))
a=$(scan_all "$DP" TYPE hash); b=$(scan_all "$RP" TYPE hash)
[ "$a" = "$b" ] || { fail "SCAN TYPE hash differs"; diff <(echo "$a") <(echo "$b"); }
checks=$((checks + 1))
a=$(scan_all "$DP" TYPE string); b=$(scan_all "$RP" TYPE string)
[ "$a" = "$b" ] || { fail "SCAN TYPE string differs"; diff <(echo "$a") <(echo "$b"); }
same TYPE key:1
same TYPE nothere
same APPEND ap hello
same APPEND ap " world"
same GET ap
same STRLEN ap
same STRLEN nothere
same GETRANGE ap 0 4
same GETRANGE ap -5 -1
same GETRANGE ap 100 200
same GETRANGE nothere 0 -1
same SETRANGE ap 6 WORLD
same GET ap
same SETRANGE pad 5 x
same --no-raw GET pad
same SETRANGE ap -1 x
same SET fl 10.5
same INCRBYFLOAT fl 0.1
same INCRBYFLOAT fl -5
same INCRBYFLOAT fl 5.0e3
same INCRBYFLOAT newfl 3
same --no-raw INCRBYFLOAT newfl 1.5
same INCRBYFLOAT ap 1
same INCRBYFLOAT fl abc
same MULTI
same EXEC
same DISCARD
same CONFIG GET maxclients
same --no-raw CONFIG GET maxclients
same CLIENT GETNAME
same CLIENT SETNAME "bad name"
same GET
same NOSUCHCOMMAND a b
same --no-raw TYPE key:1
same -3 GET ap
same -3 MGET ap nothere
same -3 CONFIG GET maxclients
same -3 --no-raw CONFIG GET maxclients
same -3 --no-raw GET nothere
same -3 --no-raw INCRBYFLOAT fl 1
same -3 --no-raw EXISTS ap

# HELLO 3 through redis-cli -3: the same field names and protocol value as Redis.
checks=$((checks + 1))
hd=$(timeout 20 redis-cli -3 -p "$DP" HELLO 3 2>&1)
hr=$(timeout 20 redis-cli -3 -p "$RP" HELLO 3 2>&1)
# Raw mode prints a map as one "field value" line per entry.
keys_of() { awk '{print $1}' ; }
kd=$(echo "$hd" | keys_of); kr=$(echo "$hr" | keys_of)
if [ "$kd" != "$kr" ]; then
  fail "HELLO 3 field names differ (dynis < > redis)"; diff <(echo "$kd") <(echo "$kr")
fi
if [ "$(echo "$hd" | awk '$1 == "proto" {print $2}')" != "3" ]; then
  fail "HELLO 3 via redis-cli -3 does not report proto 3:"; echo "$hd"
fi
hd=$(timeout 20 redis-cli -3 --no-raw -p "$DP" HELLO 3 2>&1)
if ! echo "$hd" | grep -q '^1# "server" => "redis"$'; then
  fail "redis-cli -3 --no-raw HELLO 3 is not a map starting with server => redis:"; echo "$hd"
fi

# INFO server: dynis's own values, Redis's field names.
checks=$((checks + 1))
info=$(timeout 20 redis-cli -p "$DP" INFO server 2>&1 | tr -d '\r')
echo "$info" | grep -q '^redis_version:' || { fail "INFO server lacks redis_version:"; echo "$info"; }
echo "$info" | grep -q '^# Server' || { fail "INFO server lacks '# Server'"; echo "$info"; }
echo "$info" | grep -qx "tcp_port:$DP" || { fail "INFO server lacks tcp_port:$DP"; echo "$info"; }

# --- a piped multi-line session (one connection) --------------------------------------------
cat >"$tmp/session.txt" <<'EOF'
PING
CLIENT GETNAME
CLIENT SETNAME sess-1
CLIENT GETNAME
SET s1 "hello world"
GET s1
SET s2 'with "quotes"'
GET s2
SET s3 "tab\there\x01bin"
STRLEN s3
MULTI
SET t1 1
INCR t1
INCRBY t1 10
GET t1
MGET s1 t1 missing
EXEC
MULTI
SET t2 x
DISCARD
EXISTS t2
EXEC
MULTI
INCR t1
NOSUCH
EXEC
GET t1
MULTI
INCR s1
INCR t1
EXEC
MULTI
MULTI
DISCARD
MULTI
SET t3 x
SHUTDOWN
EXEC
EXISTS t3
MULTI
WATCH t1
SET t4 y
EXEC
GET t4
SET e1 v EX 1000
TTL e1
EXPIRE e1 2000
TTL e1
DEL s1 s2 s3 missing
EXISTS s1 s2 s3
APPEND s4 abc
GETRANGE s4 1 1
SETRANGE s4 1 XYZ
GET s4
INCRBYFLOAT f 2.5
INCRBYFLOAT f 2.5
TYPE f
CONFIG GET maxclients
SET s5 v NX GET
SET s5 w NX GET
SET s5 w XX GET
GET s5
QUIT
EOF
for flags in "" "--no-raw"; do
  checks=$((checks + 1))
  # shellcheck disable=SC2086
  a=$(timeout 20 redis-cli -p "$DP" $flags <"$tmp/session.txt" 2>&1; echo "[rc=$?]")
  # shellcheck disable=SC2086
  b=$(timeout 20 redis-cli -p "$RP" $flags <"$tmp/session.txt" 2>&1; echo "[rc=$?]")
  if [ "$a" != "$b" ]; then
    fail "piped session (redis-cli $flags < file) differs (dynis < > redis)"
    diff <(echo "$a") <(echo "$b") | sed 's/^/    /'
  fi
done
# The same piped session through -3 (RESP3) on both.
checks=$((checks + 1))
for p in "$DP" "$RP"; do redis-cli -p "$p" DEL t1 t4 f s4 s5 e1 >/dev/null; done
a=$(timeout 20 redis-cli -3 --no-raw -p "$DP" <"$tmp/session.txt" 2>&1; echo "[rc=$?]")
b=$(timeout 20 redis-cli -3 --no-raw -p "$RP" <"$tmp/session.txt" 2>&1; echo "[rc=$?]")
if [ "$a" != "$b" ]; then
  fail "piped session via redis-cli -3 --no-raw differs (dynis < > redis)"
  diff <(echo "$a") <(echo "$b") | sed 's/^/    /'
fi

# --- COMMAND DOCS GET: same structure as Redis 7 ---------------------------------------------
checks=$((checks + 1))
# Keeps the shape and every key and argument name; drops the free texts.
docs_shape() {
  sed -E '/"(summary|since|complexity)"$/{n;s/"[^"]*"$/"<text>"/}'
}
a=$(timeout 20 redis-cli -p "$DP" --no-raw COMMAND DOCS GET 2>&1 | docs_shape)
b=$(timeout 20 redis-cli -p "$RP" --no-raw COMMAND DOCS GET 2>&1 | docs_shape)
if [ "$a" != "$b" ]; then
  fail "COMMAND DOCS GET differs in structure (dynis < > redis)"
  diff <(echo "$a") <(echo "$b") | sed 's/^/    /'
fi
# And SET's argument names and tokens (the source of redis-cli's hints); Redis adds "since" and
# "history" entries we do not require.
checks=$((checks + 1))
set_args() { grep -E '^ *[0-9]+\) "' | grep -vE '"(summary|since|complexity|history)"' |
  sed -E 's/^ *[0-9]+\) //' | grep -E '^"(name|type|token|key_spec_index)"$' -A1 |
  grep -v '^--$' | paste - - ; }
a=$(timeout 20 redis-cli -p "$DP" --no-raw COMMAND DOCS SET 2>&1 | set_args)
b=$(timeout 20 redis-cli -p "$RP" --no-raw COMMAND DOCS SET 2>&1 | set_args)
if [ "$a" != "$b" ]; then
  fail "COMMAND DOCS SET argument names/types/tokens differ (dynis < > redis)"
  diff <(echo "$a") <(echo "$b") | sed 's/^/    /'
fi

# --- GETCTX/SETCTX (dynis only): two writers with one context → two siblings → merge → one -----
checks=$((checks + 1))
DC() { timeout 20 redis-cli -p "$DP" "$@" 2>&1; }
out=$(DC --no-raw GETCTX cart)
# Missing key: [context, []].
if [ "$(echo "$out" | tail -1)" != "2) (empty array)" ]; then
  fail "GETCTX on a missing key is not [context, []]:"; echo "$out"
fi
# The context line, as redis-cli quotes it ("\xNN" escapes); redis-cli's own argument parser
# reads that quoting back, so the bytes round-trip through a piped session.
ctx_of() { sed -n 's/^1) \(".*"\)$/\1/p' | head -1; }
ctx0=$(echo "$out" | ctx_of)
[ -n "$ctx0" ] || { fail "GETCTX gave no context line:"; echo "$out"; }
w=$(printf 'SETCTX cart %s "apple"\n' "$ctx0" | timeout 20 redis-cli -p "$DP" 2>&1)
[ "$w" = "OK" ] || { fail "first SETCTX: $w"; }
w=$(printf 'SETCTX cart %s "pear"\n' "$ctx0" | timeout 20 redis-cli -p "$DP" 2>&1)
[ "$w" = "OK" ] || { fail "second SETCTX with the same context: $w"; }
out=$(DC --no-raw GETCTX cart)
# --no-raw: line 1 is '1) "<ctx>"', then '2) 1) "v1"', '   2) "v2"', ...
vals=$(echo "$out" | tail -n +2 | sed -nE 's/^(2\) )? *[0-9]+\) "(.*)"$/\2/p' | sort | tr '\n' ' ')
if [ "$vals" != "apple pear " ]; then
  fail "two writers with one context should give siblings [apple, pear]; got '$vals':"; echo "$out"
fi
# In raw mode the second element is printed one value per line after the context.
raw=$(DC GETCTX cart | tail -n 2 | sort | tr '\n' ' ')
[ "$raw" = "apple pear " ] || fail "raw GETCTX values: '$raw'"
g=$(DC GET cart)
[ "$g" = "apple" ] || [ "$g" = "pear" ] || fail "GET on siblings should give the LWW winner, got '$g'"
ctx1=$(echo "$out" | ctx_of)
w=$(printf 'SETCTX cart %s "apple,pear"\n' "$ctx1" | timeout 20 redis-cli -p "$DP" 2>&1)
[ "$w" = "OK" ] || fail "merge SETCTX: $w"
out=$(DC --no-raw GETCTX cart)
if ! echo "$out" | grep -qx '2) 1) "apple,pear"' || echo "$out" | grep -q '^   2) '; then
  fail "after the merge GETCTX should give exactly one value apple,pear:"; echo "$out"
fi
[ "$(DC GET cart)" = "apple,pear" ] || fail "GET after merge: $(DC GET cart)"
# A stale context (ctx0) now makes a sibling again; DELCTX with the fresh context removes all.
printf 'SETCTX cart %s "late"\n' "$ctx0" | timeout 20 redis-cli -p "$DP" >/dev/null 2>&1
# Counted in --no-raw output: raw output prints the binary context as it is, newlines included.
n=$(DC --no-raw GETCTX cart | grep -cE '^(2\)|   ) ?[0-9]+\) ')
[ "$n" = "2" ] || { fail "stale-context write should add a sibling, got $n values"; DC --no-raw GETCTX cart; }
ctx2=$(DC --no-raw GETCTX cart | ctx_of)
w=$(printf 'DELCTX cart %s\n' "$ctx2" | timeout 20 redis-cli -p "$DP" 2>&1)
[ "$w" = "OK" ] || fail "DELCTX: $w"
out=$(DC --no-raw GETCTX cart)
[ "$(echo "$out" | tail -1)" = "2) (empty array)" ] || { fail "after DELCTX:"; echo "$out"; }
[ "$(DC EXISTS cart)" = "0" ] || fail "EXISTS after DELCTX: $(DC EXISTS cart)"
w=$(DC SETCTX cart)
echo "$w" | grep -q "wrong number of arguments for 'setctx' command" || fail "SETCTX arity: $w"

# --- interactive hints in tmux ---------------------------------------------------------------
if ! command -v tmux >/dev/null 2>&1; then
  echo "SKIP: tmux not installed, redis-cli interactive hint check skipped"
else
  checks=$((checks + 1))
  tmux_session="dynis-hints-$$"
  # A private tmux server socket so nothing of the user's tmux is touched.
  export TMUX_TMPDIR=$tmp
  unset TMUX
  tmux new-session -d -s "$tmux_session" -x 150 -y 20 \
    "env HOME=$tmp TERM=xterm redis-cli -p $DP"
  pane=""
  for _ in $(seq 50); do
    pane=$(tmux capture-pane -p -t "$tmux_session" 2>/dev/null)
    echo "$pane" | grep -q "127.0.0.1:$DP>" && break
    sleep 0.1
  done
  tmux send-keys -t "$tmux_session" -l 'SET '
  ok=0
  for _ in $(seq 50); do
    pane=$(tmux capture-pane -p -t "$tmux_session" 2>/dev/null)
    if echo "$pane" | grep -q "127.0.0.1:$DP> SET key value"; then ok=1; break; fi
    sleep 0.1
  done
  if [ $ok -ne 1 ]; then
    fail "redis-cli interactive hint for 'SET ' does not show 'key value'; pane:"
    echo "$pane"
  fi
  # A dynis-only command gets its hint from COMMAND DOCS too.
  tmux send-keys -t "$tmux_session" C-u
  tmux send-keys -t "$tmux_session" -l 'GETCTX '
  ok=0
  for _ in $(seq 50); do
    pane=$(tmux capture-pane -p -t "$tmux_session" 2>/dev/null)
    if echo "$pane" | grep -q "127.0.0.1:$DP> GETCTX key \[R r\]"; then ok=1; break; fi
    sleep 0.1
  done
  if [ $ok -ne 1 ]; then
    fail "redis-cli interactive hint for 'GETCTX ' does not show 'key [R r]'; pane:"
    echo "$pane"
  fi
  tmux kill-session -t "$tmux_session" 2>/dev/null
  tmux_session=""
fi

echo "$checks checks, $failures failed"
[ "$failures" -eq 0 ]
