#!/usr/bin/env bash
# redis_benchmark.sh DYNIS_SERVER_BINARY
# redis-benchmark against dynis: the quiet run and the --csv run finish with exit 0, report a
# requests-per-second figure for every test and print no error text.
set -u
if [ -z "${DYNIS_PORT:-}" ]; then
  exec "$(dirname "$0")/with-server.sh" "$1" bash "$0" "$1"
fi
P=$DYNIS_PORT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
tests="ping,set,get,incr,mset"
expected=("PING_INLINE" "PING_MBULK" "SET" "GET" "INCR" "MSET (10 keys)")

# Quiet mode. Progress lines end in \r; the final figure of each test follows the last \r.
out=$(timeout 240 redis-benchmark -p "$P" -t "$tests" -n 10000 -q 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "redis-benchmark -q exited with $rc"
lines=$(echo "$out" | tr '\r' '\n' | grep -E 'requests per second')
for t in "${expected[@]}"; do
  if ! echo "$lines" | grep -qE "^ *$(printf '%s' "$t" | sed 's/[()]/\\&/g'): [0-9]+(\.[0-9]+)? requests per second"; then
    fail "no requests-per-second line for $t"
  fi
done
if echo "$out" | grep -qE 'ERR|error|Error'; then
  fail "error text in redis-benchmark -q output:"; echo "$out" | tr '\r' '\n' | grep -E 'ERR|error|Error'
fi
echo "$lines"

# CSV mode: a header, then one row per test with numeric fields.
csv=$(timeout 240 redis-benchmark -p "$P" -t "$tests" -n 10000 -r 1000 --csv 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "redis-benchmark --csv exited with $rc"
echo "$csv"
if echo "$csv" | grep -qE 'ERR|error|Error'; then fail "error text in --csv output"; fi
header='"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"'
[ "$(echo "$csv" | head -1)" = "$header" ] || fail "unexpected CSV header: $(echo "$csv" | head -1)"
parsed=$(echo "$csv" | /usr/bin/python3 -c '
import csv, sys
rows = list(csv.reader(sys.stdin))
for r in rows[1:]:
    if len(r) != 8:
        print("BAD", r); continue
    try:
        nums = [float(x) for x in r[1:]]
    except ValueError:
        print("BAD", r); continue
    rps, avg, mn, p50, p95, p99, mx = nums
    ok = rps > 0 and 0 <= mn <= p50 <= p95 <= p99 <= mx and mn <= avg <= mx
    print(("OK " if ok else "BAD ") + r[0])
')
for t in "${expected[@]}"; do
  echo "$parsed" | grep -qxF "OK $t" || fail "CSV row for $t missing or not sane"
done
if echo "$parsed" | grep -q '^BAD'; then fail "bad CSV rows: $(echo "$parsed" | grep '^BAD')"; fi

# Pipelined SET/GET over random keys, and the keys really are there afterwards.
out=$(timeout 240 redis-benchmark -p "$P" -t set,get -n 20000 -r 5000 -P 16 -q 2>&1)
rc=$?
[ $rc -eq 0 ] || fail "redis-benchmark -P 16 exited with $rc"
if echo "$out" | grep -qE 'ERR|error|Error'; then fail "error text in -P 16 output: $out"; fi
n=$(redis-cli -p "$P" EXISTS key:__rand_int__ key:000000000001 2>&1)
[ "$n" -ge 1 ] 2>/dev/null || fail "no benchmark keys stored (EXISTS gave '$n')"
v=$(redis-cli -p "$P" GET key:__rand_int__)
# -d 3 (the default): a 3-byte payload.
[ "${#v}" -eq 3 ] || fail "GET key:__rand_int__ gave '$v', want a 3-byte value"

[ $failures -eq 0 ] && echo "redis-benchmark: all checks passed"
[ $failures -eq 0 ]
