#!/usr/bin/python3
"""redis-py (Debian's 4.3, RESP2) against a dynis server on $DYNIS_PORT.

Run as: tests/clients/with-server.sh SERVER /usr/bin/python3 tests/clients/redis_py.py
Every check is an assert with a message; the first failure prints it and exits 1.
"""
import os
import sys
import threading
import time
import traceback

import redis

PORT = int(os.environ["DYNIS_PORT"])


def client(**kw):
    return redis.Redis(host="127.0.0.1", port=PORT, socket_timeout=10, **kw)


def eq(got, want, what):
    assert got == want, f"{what}: got {got!r}, want {want!r}"


def test_basic(r):
    eq(r.ping(), True, "PING")
    r.flushall()
    eq(r.set("k", "v"), True, "SET")
    eq(r.get("k"), b"v", "GET")
    eq(r.get("missing"), None, "GET missing")
    eq(r.exists("k", "missing", "k"), 2, "EXISTS counts repeats")
    eq(r.expire("k", 100), True, "EXPIRE existing")
    ttl = r.ttl("k")
    assert 98 <= ttl <= 100, f"TTL after EXPIRE 100: {ttl}"
    eq(r.expire("missing", 100), False, "EXPIRE missing")
    eq(r.ttl("missing"), -2, "TTL missing")
    r.set("p", "1")
    eq(r.ttl("p"), -1, "TTL without expiry")
    eq(r.persist("k"), True, "PERSIST")
    eq(r.ttl("k"), -1, "TTL after PERSIST")
    eq(r.mset({"a": "1", "b": "2", "c": "3"}), True, "MSET")
    eq(r.mget(["a", "b", "nothere", "c"]), [b"1", b"2", None, b"3"], "MGET")
    eq(r.incr("n"), 1, "INCR new")
    eq(r.incr("n", 41), 42, "INCRBY")
    eq(r.decr("n"), 41, "DECR")
    eq(r.incrbyfloat("f", 1.5), 1.5, "INCRBYFLOAT")
    eq(r.get("n"), b"41", "counter value")
    try:
        r.incr("k")
        raise AssertionError("INCR on a non-integer should fail")
    except redis.ResponseError as e:
        eq(str(e), "value is not an integer or out of range", "INCR error text")
    eq(r.delete("a", "b", "nothere"), 2, "DELETE count")
    eq(r.exists("a", "b"), 0, "EXISTS after DELETE")
    eq(r.type("c"), b"string", "TYPE string")
    eq(r.type("nothere"), b"none", "TYPE none")
    eq(r.append("c", "45"), 3, "APPEND")
    eq(r.strlen("c"), 3, "STRLEN")
    eq(r.getrange("c", 1, -1), b"45", "GETRANGE")
    eq(r.setrange("c", 1, "xy"), 3, "SETRANGE")
    eq(r.get("c"), b"3xy", "GET after SETRANGE")
    # Binary-safe values.
    blob = bytes(range(256)) * 4
    r.set("bin", blob)
    eq(r.get("bin"), blob, "binary value round trip")


def test_set_options(r):
    r.delete("o")
    eq(r.set("o", "1", nx=True), True, "SET NX on missing")
    eq(r.set("o", "2", nx=True), None, "SET NX on existing")
    eq(r.set("o", "3", xx=True), True, "SET XX on existing")
    eq(r.set("nx-missing", "3", xx=True), None, "SET XX on missing")
    eq(r.set("o", "4", ex=100, get=True), b"3", "SET EX GET returns the old value")
    ttl = r.ttl("o")
    assert 98 <= ttl <= 100, f"TTL after SET EX 100: {ttl}"
    eq(r.set("o", "5", px=50000), True, "SET PX")
    pttl = r.pttl("o")
    assert 48000 <= pttl <= 50000, f"PTTL after SET PX 50000: {pttl}"
    eq(r.set("o", "6", keepttl=True), True, "SET KEEPTTL")
    assert r.ttl("o") > 40, f"KEEPTTL lost the TTL: {r.ttl('o')}"
    eq(r.set("o", "7"), True, "plain SET")
    eq(r.ttl("o"), -1, "plain SET clears the TTL")
    # Redis 7: NX and GET together.
    eq(r.set("o", "8", nx=True, get=True), b"7", "SET NX GET on existing returns old, no write")
    eq(r.get("o"), b"7", "SET NX GET did not write")
    r.delete("o2")
    eq(r.set("o2", "x", nx=True, get=True), None, "SET NX GET on missing returns nil")
    eq(r.get("o2"), b"x", "SET NX GET on missing wrote")
    eq(r.set("o3", "v", ex=1), True, "SET EX 1")
    time.sleep(1.3)
    eq(r.get("o3"), None, "key expired after EX 1")
    eq(r.exists("o3"), 0, "EXISTS on expired")
    try:
        r.set("o", "v", ex=0)
        raise AssertionError("SET EX 0 should fail")
    except redis.ResponseError as e:
        assert "invalid expire time" in str(e), f"SET EX 0 error: {e}"


def test_keys_scan(r):
    r.flushall()
    names = {f"scan:{i}".encode() for i in range(300)}
    r.mset({k: "v" for k in names})
    r.mset({"other:1": "x", "other:2": "y"})
    eq(set(r.keys("scan:*")), names, "KEYS scan:*")
    eq(set(r.keys("other:?")), {b"other:1", b"other:2"}, "KEYS other:?")
    eq(len(r.keys()), 302, "KEYS *")
    got = list(r.scan_iter(match="scan:*", count=17))
    eq(len(got), len(set(got)), "SCAN returned no duplicates without writes")
    eq(set(got), names, "SCAN_ITER match")
    eq(len(list(r.scan_iter())), 302, "SCAN_ITER all")
    eq(set(r.scan_iter(_type="string", match="other:*")), {b"other:1", b"other:2"},
       "SCAN TYPE string")
    eq(list(r.scan_iter(_type="hash")), [], "SCAN TYPE hash")
    eq(r.dbsize(), 302, "DBSIZE")


def test_pipelines(r):
    r.delete("pt", "pn")
    # Default: transaction=True wraps the commands in MULTI/EXEC.
    with r.pipeline() as p:
        p.set("pt", "a").incr("pn").incr("pn").get("pt").mget("pt", "pn", "missing")
        res = p.execute()
    eq(res, [True, 1, 2, b"a", [b"a", b"2", None]], "pipeline(transaction=True)")
    with r.pipeline(transaction=False) as p:
        for i in range(100):
            p.set(f"pl:{i}", i)
        for i in range(100):
            p.get(f"pl:{i}")
        res = p.execute()
    eq(res[:100], [True] * 100, "pipeline(transaction=False) SETs")
    eq(res[100:], [str(i).encode() for i in range(100)], "pipeline(transaction=False) GETs")
    # An error inside a transaction: the other commands still run (Redis semantics).
    with r.pipeline() as p:
        p.set("pe", "x").incr("pe").set("pe2", "y")
        try:
            p.execute()
            raise AssertionError("INCR on a string inside MULTI should raise on execute")
        except redis.ResponseError as e:
            assert "not an integer" in str(e), f"pipeline error: {e}"
    eq(r.get("pe2"), b"y", "commands after the failing one in EXEC ran")
    # WATCH-based optimistic transaction (redis-py's transaction helper).
    r.set("w", "1")

    def bump(pipe):
        v = int(pipe.get("w"))
        pipe.multi()
        pipe.set("w", v + 1)

    r.transaction(bump, "w")
    eq(r.get("w"), b"2", "transaction() with WATCH")


def test_pool_threads():
    pool = redis.ConnectionPool(host="127.0.0.1", port=PORT, max_connections=8, socket_timeout=10)
    errors = []
    n_threads, n_ops = 6, 300

    def worker(t):
        try:
            r = redis.Redis(connection_pool=pool)
            for i in range(n_ops):
                r.set(f"t{t}:{i}", f"{t}-{i}")
                r.incr("shared-counter")
                if i % 10 == 0:
                    got = r.get(f"t{t}:{i}")
                    if got != f"{t}-{i}".encode():
                        errors.append(f"thread {t}: GET t{t}:{i} gave {got!r}")
            with r.pipeline() as p:
                for i in range(n_ops):
                    p.get(f"t{t}:{i}")
                vals = p.execute()
            want = [f"{t}-{i}".encode() for i in range(n_ops)]
            if vals != want:
                errors.append(f"thread {t}: pipelined GETs differ")
        except Exception:  # noqa: BLE001 - reported below
            errors.append(f"thread {t}: {traceback.format_exc()}")

    r0 = redis.Redis(connection_pool=pool)
    r0.delete("shared-counter")
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
        assert not th.is_alive(), "a pool thread did not finish in 60 s"
    assert not errors, "pool threads failed:\n" + "\n".join(errors)
    eq(int(r0.get("shared-counter")), n_threads * n_ops, "INCR from several threads lost none")
    created = len(pool._available_connections) + len(pool._in_use_connections)
    assert 2 <= created <= 8, f"pool should have used several connections, used {created}"
    pool.disconnect()


def test_ctx(r):
    r.delete("cart")
    ctx0, vals = r.execute_command("GETCTX", "cart")
    assert isinstance(ctx0, bytes), f"GETCTX context should be bytes, got {ctx0!r}"
    eq(vals, [], "GETCTX on a missing key")
    # Two writers holding the same context: two siblings, nothing lost.
    w1 = client()
    w2 = client()
    eq(w1.execute_command("SETCTX", "cart", ctx0, "apple"), b"OK", "writer 1 SETCTX")
    eq(w2.execute_command("SETCTX", "cart", ctx0, "pear"), b"OK", "writer 2 SETCTX")
    ctx1, vals = r.execute_command("GETCTX", "cart")
    eq(sorted(vals), [b"apple", b"pear"], "two concurrent writers give two siblings")
    assert ctx1 != ctx0, "context should change after writes"
    winner = r.get("cart")
    assert winner in (b"apple", b"pear"), f"GET on siblings gives the LWW winner, got {winner!r}"
    eq(client().get("cart"), winner, "LWW winner is deterministic")
    # The merge, written with the context that named both siblings: one value.
    merged = b",".join(sorted(vals))
    eq(r.execute_command("SETCTX", "cart", ctx1, merged), b"OK", "merge SETCTX")
    ctx2, vals = r.execute_command("GETCTX", "cart")
    eq(vals, [merged], "after the merge one value")
    eq(r.get("cart"), merged, "GET after the merge")
    # Per-request quorum options are accepted.
    ctx3, vals = r.execute_command("GETCTX", "cart", "R", 1)
    eq(vals, [merged], "GETCTX R 1")
    eq(r.execute_command("SETCTX", "cart", ctx3, b"final", "W", 1), b"OK", "SETCTX W 1")
    eq(r.execute_command("GETCTX", "cart")[1], [b"final"], "after SETCTX W 1")
    # A plain SET supersedes every sibling.
    r.execute_command("SETCTX", "cart", ctx0, "stale")
    eq(len(r.execute_command("GETCTX", "cart")[1]), 2, "stale context gives a sibling")
    r.set("cart", "overwritten")
    eq(r.execute_command("GETCTX", "cart")[1], [b"overwritten"], "SET supersedes siblings")
    ctx4, _ = r.execute_command("GETCTX", "cart")
    eq(r.execute_command("DELCTX", "cart", ctx4), b"OK", "DELCTX")
    eq(r.execute_command("GETCTX", "cart")[1], [], "GETCTX after DELCTX")
    eq(r.exists("cart"), 0, "EXISTS after DELCTX")
    # Binary values through the context pair.
    blob = bytes(range(256))
    c, _ = r.execute_command("GETCTX", "bin-ctx")
    r.execute_command("SETCTX", "bin-ctx", c, blob)
    eq(r.execute_command("GETCTX", "bin-ctx")[1], [blob], "binary value via SETCTX")
    # Inside a pipeline too.
    with r.pipeline(transaction=False) as p:
        p.execute_command("GETCTX", "cart2")
        p.execute_command("SETCTX", "cart2", b"", "x")
        p.execute_command("GETCTX", "cart2")
        res = p.execute()
    eq(res[2][1], [b"x"], "GETCTX/SETCTX in a pipeline")
    try:
        r.execute_command("SETCTX", "cart")
        raise AssertionError("SETCTX with too few arguments should fail")
    except redis.ResponseError as e:
        assert "wrong number of arguments" in str(e), f"SETCTX arity error: {e}"


def test_server_info(r):
    info = r.info()
    assert "redis_version" in info, f"INFO lacks redis_version: {sorted(info)[:20]}"
    assert isinstance(info.get("tcp_port"), int), f"INFO tcp_port: {info.get('tcp_port')!r}"
    eq(info["tcp_port"], PORT, "INFO tcp_port")
    server = r.info("server")
    assert "redis_version" in server, "INFO server lacks redis_version"
    for section in ("clients", "memory", "stats", "keyspace"):
        r.info(section)  # parses
    eq(r.config_get("maxclients").keys(), {"maxclients"}, "CONFIG GET maxclients keys")
    assert int(r.config_get("maxclients")["maxclients"]) > 0, "maxclients > 0"
    c = client()
    eq(c.client_getname(), None, "CLIENT GETNAME before SETNAME")
    eq(c.client_setname("py-client"), True, "CLIENT SETNAME")
    # redis-py 4.3 decodes CLIENT GETNAME's reply itself (str_if_bytes).
    eq(redis.client.str_if_bytes(c.client_getname()), "py-client", "CLIENT GETNAME")
    cid = c.client_id()
    assert isinstance(cid, int) and cid > 0, f"CLIENT ID: {cid!r}"
    listed = [x for x in c.client_list() if x.get("name") == "py-client"]
    eq(len(listed), 1, "CLIENT LIST shows the named client")
    # A client with client_name= set on connect (sent by redis-py on every new connection).
    named = client(client_name="auto-name")
    eq(redis.client.str_if_bytes(named.client_getname()), "auto-name", "client_name= on connect")
    # decode_responses clients.
    d = client(decode_responses=True)
    d.set("dec", "é")
    eq(d.get("dec"), "é", "decode_responses UTF-8 round trip")
    eq(d.echo("hi"), "hi", "ECHO")
    eq(r.execute_command("SELECT", 0), True, "SELECT 0")
    assert r.time()[0] > 1_600_000_000, "TIME"


def main():
    tests = [test_basic, test_set_options, test_keys_scan, test_pipelines, test_ctx,
             test_server_info]
    r = client()
    failed = 0
    for t in tests:
        try:
            t(r)
            print(f"ok   {t.__name__}")
        except Exception:  # noqa: BLE001 - every failure is printed
            failed += 1
            print(f"FAIL {t.__name__}")
            traceback.print_exc(file=sys.stdout)
    try:
        test_pool_threads()
        print("ok   test_pool_threads")
    except Exception:  # noqa: BLE001
        failed += 1
        print("FAIL test_pool_threads")
        traceback.print_exc(file=sys.stdout)
    print(f"redis-py {redis.__version__}: {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
