#!/usr/bin/python3
"""Chaos on real processes: the start of a Jepsen-style suite for dynis.

Five dynis-server processes, each in a network namespace this script creates (a veth pair per
node on one bridge in the root namespace; the bridge holds .254 so clients here reach every
node). Client threads add globally unique elements to set-valued keys with GETCTX / union of
siblings / SETCTX through every node, while a nemesis partitions the nodes into halves,
isolates one, kills -9 and restarts one, wipes one (kill -9, its data directory removed, restarted
under the same node id: the server leases a new epoch), pauses one (SIGSTOP), and heals between
faults.
Links are cut with nftables inside the nodes' namespaces (drop to/from the peers on the other
side); client traffic from .254 is never cut, so the figures say how the cluster serves the
clients that reach a node.

Anti-entropy check, after the faults: the clients stop, one more node is wiped and restarted
(no client traffic from then on: no new hint names it, no read repairs it), every node runs
`DYNIS AAE EXCHANGE` once, and then, with no client read (DYNIS LOCALCTX inspects one node's own
replica), every primary of every key the workload wrote (DYNIS PREFLIST, role primary) must hold
the same record (the LOCALCTX reply, context and values, byte for byte) within 40 s (smoke) or
90 s (long); the time taken and the INFO aae_* deltas are reported. Servers run with
`aae-round 5` (CHAOS_AAE_ROUND). Each wipe must bring the node back under its node id, with a
new epoch, and its log must say it found an empty data directory.

Checker, after that and at least 10 s after the clients stopped: every acknowledged (+OK)
element is in every node's final GETCTX ... R 3 (no loss), no element is there that was never
attempted (no phantom); the share of writes accepted per phase and per side is reported, and
enforced when CHAOS_MIN_ACCEPT is set (`make test` sets 0.95: with sloppy quorum a client of any
node that reaches W others has its writes accepted while the faults last).

  chaos.py [--schedule smoke|long] [--server PATH] [--summary PATH]

Environment: DYNIS_SERVER (server binary), CHAOS_SECONDS (length of the long schedule's fault
part, default 300), CHAOS_SEED (its random seed, printed), CHAOS_MIN_ACCEPT (e.g. 0.99: fail
when a fault phase accepts a smaller share; not applied to the killed, paused and isolated
nodes' own clients, which no quorum design can serve, to a restarted node's clients while they
reconnect, nor to heals), CHAOS_KEEP=1 (keep the run dir on success),
CHAOS_CONTROL=lww (negative control: clients write with plain SET, which overwrites concurrent
writers' elements; the checker must report losses), CHAOS_AAE=no (negative control: servers run
with `aae no`; the anti-entropy check must fail), CHAOS_AAE_ROUND (aae-round, default 5).

Cleanup is unconditional (finally + SIGINT/SIGTERM/SIGHUP handlers + a deadline alarm):
servers killed, namespaces and the bridge deleted, the run dir removed on success and kept
(its path printed) on failure. Leftovers of earlier runs (names carry the pid of the run that
made them) are removed first, only when that pid is no longer a running chaos.py.
"""

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import redis

NODES = 5
CLIENT_PORT = 7000
CLUSTER_PORT = 17000
SECRET = "dynis-chaos-secret"
KEYS = 20  # few keys: writers through different nodes contend, making siblings
# Sides whose clients cannot be served by any quorum design: their node is down, stopped, or
# alone (one node cannot gather W=2 replicas, sloppy or not). Reported, never enforced.
UNREACHABLE_SIDES = {"killed", "paused", "isolated"}
CLIENTS_PER_NODE = 2
OP_TIMEOUT = 3.0  # socket timeout: a paused node must not hold a client for long
NS_PREFIX = "dynchaos-"
BR_PREFIX = "dyn-br-"
VETH_PREFIX = "dyn-v"
ELEMENT = re.compile(rb"^c\d+-\d+$")
WIPE_SPACING = 30.0  # long schedule: seconds between wipes, so anti-entropy refills the last one
CONVERGE_TIMEOUT = {"smoke": 40.0, "long": 90.0}  # anti-entropy check: all primaries identical


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*cmd, check=True, input=None):
    r = subprocess.run(list(cmd), input=input, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: rc {r.returncode}: {r.stderr.strip()}")
    return r


class Deadline(Exception):
    pass


# --- leftovers -------------------------------------------------------------------------------

def run_alive(run):
    """Whether the run id (the pid of the chaos.py that made the names) is still running."""
    try:
        with open(f"/proc/{run}/cmdline", "rb") as f:
            return b"chaos.py" in f.read()
    except OSError:
        return False


def clean_leftovers():
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        m = re.match(rf"^{NS_PREFIX}(\d+)-\d+$", ns)
        if not m or run_alive(m.group(1)):
            continue
        log(f"removing leftover namespace {ns}")
        for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        sh("ip", "netns", "del", ns, check=False)
    for line in sh("ip", "-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        m = re.match(rf"^(?:{BR_PREFIX}|{VETH_PREFIX})(\d+)(?:-\d+)?$", name)
        if not m or run_alive(m.group(1)):
            continue
        log(f"removing leftover link {name}")
        sh("ip", "link", "del", name, check=False)
    # Run dirs of killed runs (a failed run's dir is marked KEPT and stays for inspection).
    tmp = tempfile.gettempdir()
    for d in os.listdir(tmp):
        m = re.match(r"^dynis-chaos-(\d+)-", d)
        path = os.path.join(tmp, d)
        if (m and not run_alive(m.group(1)) and os.path.isdir(path)
                and not os.path.exists(os.path.join(path, "KEPT"))):
            log(f"removing leftover run dir {path}")
            shutil.rmtree(path, ignore_errors=True)


def free_subnet():
    used = sh("ip", "-o", "addr", "show").stdout
    start = os.getpid() % 200
    for k in range(200):
        x = 20 + (start + k) % 200
        if f"10.77.{x}." not in used:
            return f"10.77.{x}"
    raise RuntimeError("no free 10.77.x.0/24")


# --- the cluster -----------------------------------------------------------------------------

class Node:
    def __init__(self, cluster, i):
        self.i = i
        self.ns = f"{NS_PREFIX}{cluster.run}-{i}"
        self.veth = f"{VETH_PREFIX}{cluster.run}-{i}"
        self.ip = f"{cluster.subnet}.{i + 1}"
        self.dir = os.path.join(cluster.dir, f"node{i}")
        # Given on the command line, so a node whose data dir was wiped comes back as itself.
        self.node_id = hashlib.sha1(f"dynis-chaos-{cluster.run}-{i}".encode()).hexdigest()
        self.proc = None
        self.paused = False
        self.cluster = cluster

    def args(self):
        seeds = " ".join(f"{n.ip}:{CLUSTER_PORT}" for n in self.cluster.nodes)
        return [self.cluster.server, "--bind", self.ip, "--port", str(CLIENT_PORT),
                "--cluster-port", str(CLUSTER_PORT), "--cluster-nodes", seeds,
                "--cluster-secret", SECRET, "--cluster-name", "dynis-chaos",
                "--replicas", "3", "--read-quorum", "2", "--write-quorum", "2",
                "--cluster-request-timeout", "1000", "--protected-mode", "no",
                "--io-threads", "2", "--dir", os.path.join(self.dir, "data"),
                "--node-id", self.node_id, "--aae", self.cluster.aae,
                "--aae-round", str(self.cluster.aae_round),
                "--logfile", os.path.join(self.dir, "server.log")]

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        err = open(os.path.join(self.dir, "stderr.log"), "ab")
        # ip netns exec execs the command: the Popen pid is the server's own.
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns] + self.args(),
                                     stdout=err, stderr=err, stdin=subprocess.DEVNULL)
        self.paused = False

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        if self.proc:
            self.proc.wait()

    def wipe(self):
        """kill -9, then the data directory goes entirely (a replaced disk)."""
        self.kill()
        shutil.rmtree(os.path.join(self.dir, "data"), ignore_errors=True)
        if os.path.exists(os.path.join(self.dir, "data")):
            raise RuntimeError(f"node {self.i}: could not remove its data dir")

    def identity(self):
        """(node-id, epoch) from DYNIS NODE, or None when it does not answer."""
        try:
            c = self.client(2)
            r = c.execute_command("DYNIS", "NODE")
            c.close()
            f = dict(zip(r[0::2], r[1::2])) if isinstance(r, list) else r
            return f[b"node-id"].decode(), int(f[b"epoch"])
        except (redis.RedisError, OSError, KeyError, ValueError):
            return None

    def new_data_dir_notes(self):
        """How many times server.log says the server found an empty data dir."""
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return f.read().count("New data directory")
        except OSError:
            return 0

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.paused = False

    def client(self, timeout=OP_TIMEOUT):
        return redis.Redis(host=self.ip, port=CLIENT_PORT, socket_timeout=timeout,
                           socket_connect_timeout=min(timeout, 2.0))

    def nft(self, script):
        sh("ip", "netns", "exec", self.ns, "nft", "-f", "-", input=script)

    def cut(self, peers):
        """Drops all traffic between this node and the given peers (both directions)."""
        script = "flush chain inet chaos input\nflush chain inet chaos output\n"
        if peers:
            ips = ", ".join(p.ip for p in peers)
            script += (f"add rule inet chaos input ip saddr {{ {ips} }} drop\n"
                       f"add rule inet chaos output ip daddr {{ {ips} }} drop\n")
        self.nft(script)


class Cluster:
    def __init__(self, server, rundir, aae="yes", aae_round=5):
        self.run = str(os.getpid())
        self.server = server
        self.aae = aae
        self.aae_round = aae_round
        self.dir = rundir
        self.subnet = free_subnet()
        self.bridge = f"{BR_PREFIX}{self.run}"
        self.nodes = [Node(self, i) for i in range(NODES)]
        self.made_bridge = False
        self.made_ns = []

    def create_network(self):
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        self.made_bridge = True
        sh("ip", "addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for n in self.nodes:
            sh("ip", "netns", "add", n.ns)
            self.made_ns.append(n.ns)
            peer = f"dyn-p{self.run}-{n.i}"
            sh("ip", "link", "add", n.veth, "type", "veth", "peer", "name", peer)
            sh("ip", "link", "set", n.veth, "master", self.bridge)
            sh("ip", "link", "set", n.veth, "up")
            sh("ip", "link", "set", peer, "netns", n.ns)
            ex = ["ip", "netns", "exec", n.ns]
            sh(*ex, "ip", "link", "set", peer, "name", "eth0")
            sh(*ex, "ip", "addr", "add", f"{n.ip}/24", "dev", "eth0")
            sh(*ex, "ip", "link", "set", "eth0", "up")
            sh(*ex, "ip", "link", "set", "lo", "up")
            n.nft("table inet chaos {\n"
                  " chain input { type filter hook input priority 0; policy accept; }\n"
                  " chain output { type filter hook output priority 0; policy accept; }\n"
                  "}\n")
        log(f"network: bridge {self.bridge} {self.subnet}.254/24, namespaces "
            f"{self.nodes[0].ns}..{self.nodes[-1].ns}")

    def start(self):
        for n in self.nodes:
            n.start()

    def formed(self, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if all(self.node_ready(n) for n in self.nodes):
                return True
            time.sleep(0.3)
        return False

    def node_ready(self, n):
        try:
            c = n.client(2)
            members = c.execute_command("DYNIS", "NODES")
            if len(members) != NODES:
                return False
            for m in members:
                fields = dict(zip(m[0::2], m[1::2]))
                state = fields.get(b"state")
                if state is not None and state not in (b"connected", b"self", b"myself"):
                    return False
            c.execute_command("EXISTS", "chaos-probe")  # -CLUSTERDOWN while forming
            c.close()
            return True
        except (redis.RedisError, OSError):
            return False

    def membership_problems(self):
        """Nodes whose DYNIS NODES does not list all five as members taking partitions (e.g. a
        wiped node sealed membership with only itself and the others adopted that)."""
        out = []
        narrowed = {}  # member list -> the nodes that hold it
        by_id = {n.node_id: n.i for n in self.nodes}
        for n in self.nodes:
            try:
                c = n.client(2)
                members = c.execute_command("DYNIS", "NODES")
                c.close()
            except (redis.RedisError, OSError) as e:
                out.append(f"node {n.i}: DYNIS NODES failed: {type(e).__name__}: {e}")
                continue
            full = []
            for m in members:
                f = dict(zip(m[0::2], m[1::2])) if isinstance(m, list) else m
                if f.get(b"membership") == b"member":
                    full.append(by_id.get(f.get(b"node-id", b"").decode(), "?"))
            if sorted(full, key=str) != list(range(NODES)):
                narrowed.setdefault(str(sorted(full, key=str)), []).append(n.i)
        for members, holders in sorted(narrowed.items()):
            out.append(f"membership narrowed: nodes {holders} take only {members} as members "
                       f"(the others 'joining')")
        return out

    def heal(self):
        for n in self.nodes:
            n.cut([])

    def partition(self, groups):
        for g in groups:
            others = [n for n in self.nodes if n not in g]
            for n in g:
                n.cut(others)

    def destroy(self):
        for n in self.nodes:
            if n.proc and n.proc.poll() is None:
                n.signal(signal.SIGCONT)
                n.signal(signal.SIGTERM)
        end = time.time() + 3
        for n in self.nodes:
            if n.proc:
                try:
                    n.proc.wait(max(0.1, end - time.time()))
                except subprocess.TimeoutExpired:
                    n.kill()
        for ns in self.made_ns:
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
            sh("ip", "netns", "del", ns, check=False)
        if self.made_bridge:
            sh("ip", "link", "del", self.bridge, check=False)
        for n in self.nodes:  # veths die with their namespace; make sure
            if sh("ip", "link", "show", n.veth, check=False).returncode == 0:
                sh("ip", "link", "del", n.veth, check=False)


# --- workload --------------------------------------------------------------------------------

def parse_set(value):
    return set(e for e in value.split(b",") if e) if value else set()


class History:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []  # (t_start, node, outcome, element or None, error or None)
        self.attempted = set()  # elements sent in a SETCTX
        self.acked = set()
        self.written_keys = set()  # keys a SETCTX (or SET) was sent for

    def add(self, t, node, outcome, element, error=None, key=None):
        with self.lock:
            self.ops.append((t, node, outcome, element, error))
            if element is not None:
                self.attempted.add(element)
                self.written_keys.add(key)
                if outcome == "ok":
                    self.acked.add(element)


class Client(threading.Thread):
    def __init__(self, cid, node, keys, history, stop, seed):
        super().__init__(daemon=True)
        self.cid, self.node, self.keys, self.history, self.stop = cid, node, keys, history, stop
        self.rng = random.Random(seed)
        self.seq = 0
        self.conn = None
        self.errors = {}
        self.lww = os.environ.get("CHAOS_CONTROL") == "lww"

    def note(self, e):
        # "NOQUORUM read: 1 of 2 required replicas answered" without the address some carry.
        msg = re.sub(r"\d+\.\d+\.\d+\.\d+:\d+", "<addr>", str(e))
        k = type(e).__name__ + (": " + " ".join(msg.split()[:8])
                                if isinstance(e, redis.ResponseError) else "")
        self.errors[k] = self.errors.get(k, 0) + 1
        return k

    def run(self):
        while not self.stop.is_set():
            key = self.rng.choice(self.keys)
            t = time.time()
            if self.conn is None:
                self.conn = self.node.client()
            try:
                ctx, values = self.conn.execute_command("GETCTX", key)
            except redis.RedisError as e:
                self.history.add(t, self.node.i, "read_err", None, self.note(e))
                if not isinstance(e, redis.ResponseError):
                    self.reconnect()
                continue
            elements = set()
            for v in values:
                elements |= parse_set(v)
            self.seq += 1
            element = f"c{self.cid}-{self.seq}".encode()
            elements.add(element)
            value = b",".join(sorted(elements))
            error = None
            try:
                if self.lww:  # negative control: a blind overwrite drops concurrent elements
                    r = self.conn.execute_command("SET", key, value)
                else:
                    r = self.conn.execute_command("SETCTX", key, ctx, value)
                outcome = "ok" if r in (b"OK", True, "OK") else "indeterminate"
            except redis.RedisError as e:
                error = self.note(e)
                outcome = "indeterminate"  # refused or timed out: it may still be stored
                if not isinstance(e, redis.ResponseError):
                    self.reconnect()
            self.history.add(t, self.node.i, outcome, element, error, key)
            time.sleep(0.01)

    def reconnect(self):
        try:
            self.conn.close()
        except Exception:
            pass
        self.conn = None
        self.stop.wait(0.2)


# --- nemesis ---------------------------------------------------------------------------------

class Nemesis:
    def __init__(self, cluster):
        self.cluster = cluster
        self.phases = []  # {name, start, end, sides: {node index: side label}}
        self.wipes = []  # one record per wipe (Nemesis.wipe)
        self.last_wipe = 0.0
        self.t0 = time.time()

    def begin(self, name, sides=None):
        now = time.time()
        if self.phases and self.phases[-1]["end"] is None:
            self.phases[-1]["end"] = now
        sides = sides or {i: "all" for i in range(NODES)}
        self.phases.append({"name": name, "start": now, "end": None, "sides": sides})
        desc = ", ".join(f"{lbl}={sorted(i for i, s in sides.items() if s == lbl)}"
                         for lbl in sorted(set(sides.values())))
        log(f"phase {name}: {desc}")

    def end(self):
        if self.phases and self.phases[-1]["end"] is None:
            self.phases[-1]["end"] = time.time()

    def partition(self, minority, dur):
        nodes = self.cluster.nodes
        a = [nodes[i] for i in minority]
        b = [n for n in nodes if n not in a]
        self.begin(f"partition-{len(a)}+{len(b)}",
                   {n.i: ("minority" if n in a else "majority") for n in nodes})
        self.cluster.partition([a, b])
        time.sleep(dur)

    def isolate(self, i, dur):
        nodes = self.cluster.nodes
        self.begin("isolate", {n.i: ("isolated" if n.i == i else "rest") for n in nodes})
        self.cluster.partition([[nodes[i]], [n for n in nodes if n.i != i]])
        time.sleep(dur)

    def kill(self, i, dur):
        n = self.cluster.nodes[i]
        self.begin("kill", {m.i: ("killed" if m.i == i else "rest") for m in self.cluster.nodes})
        n.kill()
        time.sleep(dur)
        n.start()  # same data dir and config
        self.begin("restarted", {m.i: ("restarted" if m.i == i else "rest")
                                 for m in self.cluster.nodes})
        end = time.time() + dur
        while time.time() < end and not self.cluster.node_ready(n):
            time.sleep(0.2)
        time.sleep(max(0.0, end - time.time()))

    def wipe(self, i, dur, phase="wipe"):
        """kill -9 node i, remove its data dir, restart it with the same config (node id) after
        dur; it must come back under a new epoch with an empty store. Returns the record."""
        n = self.cluster.nodes[i]
        before = n.identity()
        notes = n.new_data_dir_notes()
        self.begin(phase, {m.i: ("killed" if m.i == i else "rest") for m in self.cluster.nodes})
        n.wipe()
        time.sleep(dur)
        n.start()
        self.begin(f"{phase}-restarted", {m.i: ("restarted" if m.i == i else "rest")
                                          for m in self.cluster.nodes})
        restarted = time.time()
        while time.time() < restarted + max(dur, 10.0) and not self.cluster.node_ready(n):
            time.sleep(0.2)
        after = n.identity()
        rec = {"node": i, "at": round(time.time() - self.t0, 1),
               "epoch_before": before and before[1], "node_id_after": after and after[0],
               "epoch_after": after and after[1],
               "new_data_dir": n.new_data_dir_notes() > notes, "problems": []}
        if after is None:
            rec["problems"].append(f"wiped node {i} not answering DYNIS NODE after restart")
        else:
            if after[0] != n.node_id:
                rec["problems"].append(f"wiped node {i} came back as {after[0]}, not {n.node_id}")
            if before is not None and not after[1] > before[1]:
                rec["problems"].append(f"wiped node {i} kept epoch {before[1]} -> {after[1]}")
        if not rec["new_data_dir"]:
            rec["problems"].append(f"wiped node {i}: server.log has no 'New data directory'")
        rec["problems"] += [f"after wiping node {i}: {p}"
                            for p in self.cluster.membership_problems()]
        log(f"wiped node {i}: epoch {rec['epoch_before']} -> {rec['epoch_after']}, "
            f"empty dir seen: {rec['new_data_dir']}")
        self.wipes.append(rec)
        self.last_wipe = time.time()
        time.sleep(max(0.0, restarted + dur - time.time()))
        return rec

    def pause(self, i, dur):
        self.begin("pause", {m.i: ("paused" if m.i == i else "rest") for m in self.cluster.nodes})
        self.cluster.nodes[i].pause()
        time.sleep(dur)

    def heal(self, dur):
        self.cluster.heal()
        for n in self.cluster.nodes:
            if n.paused:
                n.resume()
        self.begin("heal")
        time.sleep(dur)


def smoke_schedule(nem, rng):
    nem.begin("healthy")
    time.sleep(6)
    nem.partition([0, 1], 8)
    nem.heal(4)
    nem.isolate(2, 8)
    nem.heal(4)
    nem.kill(3, 5)
    nem.heal(4)
    nem.pause(4, 8)
    nem.heal(5)
    nem.wipe(1, 3)
    nem.heal(4)


def long_schedule(nem, rng, seconds):
    nem.begin("healthy")
    time.sleep(10)
    end = time.time() + seconds
    while time.time() < end:
        fault = rng.choice(["partition", "isolate", "kill", "pause", "wipe"])
        if fault == "wipe" and time.time() - nem.last_wipe < WIPE_SPACING:
            fault = "kill"  # the last wiped node may still be refilling: do not wipe another
        dur = rng.uniform(5, 20)
        i = rng.randrange(NODES)
        if fault == "partition":
            nem.partition(sorted(rng.sample(range(NODES), 2)), dur)
        elif fault == "isolate":
            nem.isolate(i, dur)
        elif fault == "kill":
            nem.kill(i, dur / 2)
        elif fault == "wipe":
            nem.wipe(i, dur / 2)
        else:
            nem.pause(i, dur)
        nem.heal(rng.uniform(3, 10))


# --- checker ---------------------------------------------------------------------------------

AAE_FIELDS = ("aae_exchanges", "aae_exchanges_failed", "aae_keys_repaired", "aae_bytes_sent",
              "aae_tombstones_reaped", "hints_replayed")


def aae_info(cluster):
    """Per node: INFO dynis's anti-entropy counters (None when it does not answer)."""
    out = {}
    for n in cluster.nodes:
        try:
            c = n.client(3)
            info = c.info("dynis")
            c.close()
            out[n.i] = {f: info.get(f) for f in AAE_FIELDS}
        except (redis.RedisError, OSError):
            out[n.i] = None
    return out


def info_delta(before, after):
    total = {}
    for f in AAE_FIELDS:
        vals = [(after[i] or {}).get(f) for i in after]
        olds = [(before.get(i) or {}).get(f) for i in after]
        if any(not isinstance(v, int) for v in vals):
            total[f] = None  # a node did not answer, or the field is missing
        else:
            total[f] = sum(v - (o if isinstance(o, int) else 0) for v, o in zip(vals, olds))
    return total


def trigger_exchanges(cluster):
    """DYNIS AAE EXCHANGE on every node: per node the count it queued, or the error."""
    out = {}
    for n in cluster.nodes:
        try:
            c = n.client(5)
            out[n.i] = c.execute_command("DYNIS", "AAE", "EXCHANGE")
            c.close()
        except (redis.RedisError, OSError) as e:
            out[n.i] = f"{type(e).__name__}: {e}"
    return out


def primaries(cluster, key):
    """The key's primaries as node 0 routes (DYNIS PREFLIST, role primary), or None."""
    by_id = {n.node_id: n for n in cluster.nodes}
    try:
        c = cluster.nodes[0].client(3)
        r = c.execute_command("DYNIS", "PREFLIST", key)
        c.close()
    except (redis.RedisError, OSError):
        return None
    out = []
    for m in r:
        f = dict(zip(m[0::2], m[1::2])) if isinstance(m, list) else m
        if f.get(b"role") == b"primary" and f.get(b"node-id", b"").decode() in by_id:
            out.append(by_id[f[b"node-id"].decode()])
    return out


def local_record(node, key):
    """DYNIS LOCALCTX: (context, [values]) of the node's own replica, or an error string."""
    try:
        c = node.client(3)
        ctx, values = c.execute_command("DYNIS", "LOCALCTX", key)
        c.close()
        return (bytes(ctx), [bytes(v) for v in values])
    except (redis.RedisError, OSError, ValueError) as e:
        return f"{type(e).__name__}: {e}"


def describe_divergence(key, recs):
    """One line: how the primaries' records of key differ."""
    parts = []
    union = set()
    for r in recs.values():
        if not isinstance(r, str):
            for v in r[1]:
                union |= parse_set(v)
    for i, r in sorted(recs.items()):
        if isinstance(r, str):
            parts.append(f"node {i}: {r}")
            continue
        elems = set()
        for v in r[1]:
            elems |= parse_set(v)
        parts.append(f"node {i}: ctx {len(r[0])}B {hashlib.sha1(r[0]).hexdigest()[:8]}, "
                     f"{len(r[1])} sibling(s), {len(elems)} elements "
                     f"(missing {len(union - elems)})")
    good = [r for r in recs.values() if not isinstance(r, str)]
    if (len(good) == len(recs) and len({r[0] for r in good}) == 1
            and len({tuple(sorted(r[1])) for r in good}) == 1):
        parts.append("same context and values, siblings in another order")
    return f"{key}: " + "; ".join(parts)


def aae_converge(cluster, keys, timeout):
    """Polls LOCALCTX on every primary of every key until they all hold identical records.
    No client read is made. Returns (seconds to converge or None, details)."""
    t0 = time.time()
    prefs = {}
    last = {}
    rounds = 0
    while True:
        rounds += 1
        diverged = {}
        for key in keys:
            if len(prefs.get(key) or []) != 3:  # until node 0 holds every primary up
                prefs[key] = primaries(cluster, key)
            ps = prefs[key]
            if not ps or len(ps) != 3:
                diverged[key] = {"preflist": f"primaries {[n.i for n in ps or []]}"}
                continue
            recs = {n.i: local_record(n, key) for n in ps}
            first = next(iter(recs.values()))
            if any(isinstance(r, str) for r in recs.values()) or any(
                    r != first for r in recs.values()):
                diverged[key] = recs
        elapsed = time.time() - t0
        if not diverged:
            return elapsed, {"rounds": rounds, "diverged": []}
        last = diverged
        if elapsed > timeout:
            lines = []
            for key, recs in sorted(last.items()):
                lines.append(f"{key}: {recs['preflist']}" if "preflist" in recs
                             else describe_divergence(key, recs))
            return None, {"rounds": rounds, "diverged_keys": len(last), "diverged": lines}
        time.sleep(0.5)


def final_reads(cluster, keys):
    """Per node, per key: the union of the siblings of GETCTX key R 3 (retried)."""
    out = {}
    for n in cluster.nodes:
        out[n.i] = {}
        for key in keys:
            got = None
            for attempt in range(10):
                try:
                    c = n.client(5)
                    args = ["GETCTX", key, "R", "3"] if attempt < 8 else ["GETCTX", key]
                    _, values = c.execute_command(*args)
                    c.close()
                    got = set()
                    for v in values:
                        got |= parse_set(v)
                    break
                except (redis.RedisError, OSError):
                    time.sleep(0.5)
            out[n.i][key] = got
    return out


def accept_shares(history, phases):
    rows = []
    for p in phases:
        per = {}
        errors = {}
        last_fail = None
        for t, node, outcome, _, error in history.ops:
            if p["start"] <= t < p["end"]:
                if error:
                    errors[error] = errors.get(error, 0) + 1
                if outcome != "ok":
                    last_fail = max(last_fail or 0.0, t - p["start"])
                side = p["sides"][node]
                s = per.setdefault(side, [0, 0, 0])
                s[0] += 1
                s[1] += outcome == "ok"
                s[2] += outcome == "read_err"
        top = sorted(errors.items(), key=lambda kv: -kv[1])[:3]
        rows.append({"phase": p["name"], "seconds": round(p["end"] - p["start"], 1),
                     "errors": dict(top),
                     "last_failure_s": round(last_fail, 1) if last_fail is not None else None,
                     "sides": {k: {"ops": v[0], "ok": v[1], "read_err": v[2],
                                   "share": round(v[1] / v[0], 3) if v[0] else None}
                               for k, v in sorted(per.items())}})
    return rows


def aggregate(rows):
    """Share per phase name and side over the whole run."""
    agg = {}
    for r in rows:
        for side, s in r["sides"].items():
            a = agg.setdefault(f"{r['phase']}/{side}", [0, 0, 0])
            a[0] += s["ops"]
            a[1] += s["ok"]
            a[2] += s["read_err"]
    return {k: {"ops": v[0], "ok": v[1], "read_err": v[2],
                "share": round(v[1] / v[0], 3) if v[0] else None}
            for k, v in agg.items()}


def check(history, finals, phases, keys):
    problems = []
    lost_per_node = {}
    union = set()
    unread = []
    for i, per_key in finals.items():
        present = set()
        for key, s in per_key.items():
            if s is None:
                unread.append((i, key))
                continue
            present |= s
        union |= present
        lost_per_node[i] = len(history.acked - present) if not any(
            u[0] == i for u in unread) else None
    lost = history.acked - union
    phantom = set(e for e in union if e not in history.attempted or not ELEMENT.match(e))
    if unread:
        problems.append(f"{len(unread)} final reads failed: {unread[:5]}")
    if lost:
        problems.append(f"{len(lost)} acknowledged elements lost: {sorted(lost)[:10]}")
    for i, nlost in lost_per_node.items():
        if nlost:
            problems.append(f"node {i}'s final reads miss {nlost} acknowledged elements")
    if phantom:
        problems.append(f"{len(phantom)} elements never written: {sorted(phantom)[:10]}")
    ops = history.ops
    summary = {
        "ops": len(ops),
        "read_errors": sum(1 for o in ops if o[2] == "read_err"),
        "attempted": len(history.attempted),
        "acknowledged": len(history.acked),
        "indeterminate": len(history.attempted) - len(history.acked),
        "indeterminate_present": len((history.attempted - history.acked) & union),
        "lost": len(lost),
        "lost_per_node": lost_per_node,
        "phantom": len(phantom),
        "phases": accept_shares(history, phases),
    }
    summary["by_phase"] = aggregate(summary["phases"])
    return summary, problems


def aae_check(cluster, nem, history, rng, schedule):
    """After the clients stopped: one more wipe, then anti-entropy alone (no client reads) must
    make every primary of every written key hold the same record. Returns (summary, problems)."""
    problems = []
    if schedule == "long":  # let the last wipe of the schedule be refilled first
        wait = nem.last_wipe + WIPE_SPACING - time.time()
        if wait > 0:
            log(f"waiting {wait:.1f} s since the last wipe")
            time.sleep(wait)
    last = nem.wipes[-1]["node"] if nem.wipes else None
    qi = 0 if schedule == "smoke" else rng.choice([i for i in range(NODES) if i != last])
    nem.wipe(qi, 0.5, phase="wipe-quiet")
    nem.end()
    for w in nem.wipes:
        problems += w["problems"]
    if not cluster.formed(20):
        problems.append("cluster not formed again within 20 s of the last wipe")
    problems += [f"before the anti-entropy check: {p}" for p in cluster.membership_problems()]
    t_ready = time.time()
    before = aae_info(cluster)
    triggered = trigger_exchanges(cluster)
    if cluster.aae == "yes":
        bad = {i: r for i, r in triggered.items() if not isinstance(r, int)}
        if bad:
            problems.append(f"DYNIS AAE EXCHANGE did not return a count on {bad}")
    keys = sorted(history.written_keys)
    timeout = CONVERGE_TIMEOUT[schedule]
    log(f"anti-entropy check: {len(keys)} keys, DYNIS AAE EXCHANGE queued {triggered}; "
        f"polling LOCALCTX on the primaries for up to {timeout:.0f} s")
    took, det = aae_converge(cluster, keys, timeout)
    after = aae_info(cluster)
    delta = info_delta(before, after)
    # Repairs die down: once converged, another exchange round should repair nothing.
    again = None
    if took is not None:
        trigger_exchanges(cluster)
        time.sleep(2)
        again = info_delta(after, aae_info(cluster)).get("aae_keys_repaired")
    if took is None:
        problems.append(f"anti-entropy: {det['diverged_keys']} of {len(keys)} keys still differ "
                        f"between primaries after {timeout:.0f} s without reads")
    out = {"quiet_wipe_node": qi, "keys": len(keys), "converged_s": None if took is None
           else round(took, 1), "timeout_s": timeout, "poll_rounds": det["rounds"],
           "diverged": det["diverged"][:20], "exchange_triggered": {str(k): str(v) for k, v in
                                                                   triggered.items()},
           "info_delta": delta, "info_after": after, "repaired_after_convergence": again,
           "wipes": nem.wipes, "since_ready_s": round(time.time() - t_ready, 1)}
    return out, problems


def print_report(s):
    print("\n=== chaos report ===")
    print(f"ops {s['ops']} (GETCTX errors {s['read_errors']}), writes attempted "
          f"{s['attempted']}, acknowledged {s['acknowledged']}, indeterminate "
          f"{s['indeterminate']} (of which present at the end: {s['indeterminate_present']})")
    print(f"acknowledged lost: {s['lost']} (per node {s['lost_per_node']}), "
          f"never written but present: {s['phantom']}")
    print("accepted share per phase (ok/ops, ops = GETCTX+SETCTX attempts by start time; "
          "[r] = failed at GETCTX):")
    for r in s["phases"]:
        sides = "  ".join(f"{k} {v['ok']}/{v['ops']}={v['share']} [r {v['read_err']}]"
                          for k, v in r["sides"].items())
        last = (f"  (last failure at +{r['last_failure_s']}s)"
                if r["last_failure_s"] is not None else "")
        print(f"  {r['phase']:<16} {r['seconds']:>5}s  {sides}{last}")
        for k, v in r["errors"].items():
            print(f"  {'':<16}   {v:>6} x {k}")
    a = s.get("aae")
    if a:
        print("wipes: " + ", ".join(f"node {w['node']} at +{w['at']}s epoch {w['epoch_before']}"
                                     f" -> {w['epoch_after']}" for w in a["wipes"]))
        conv = (f"converged in {a['converged_s']} s ({a['poll_rounds']} polls)"
                if a["converged_s"] is not None else
                f"NOT converged within {a['timeout_s']:.0f} s")
        print(f"anti-entropy (no reads, after wiping node {a['quiet_wipe_node']}): {a['keys']} "
              f"keys, {conv}; INFO deltas {a['info_delta']}; keys repaired by one more "
              f"exchange round: {a['repaired_after_convergence']}")
        for line in a["diverged"]:
            print(f"  differs: {line}")
    print("accepted share per phase kind over the run:")
    for k, v in sorted(s["by_phase"].items()):
        note = "  (not enforced)" if k.split("/")[1] in UNREACHABLE_SIDES else ""
        print(f"  {k:<28} {v['ok']:>6}/{v['ops']:<6} {v['share']}  [r {v['read_err']}]{note}")


LOG_TIME = re.compile(r"^\d+:\w (\d\d \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3}) . (.*)$")
HEALTH_LINE = re.compile(r"is down|is up again|link to .* (lost|failed|is up again)")


def health_lines(node, start, end):
    """The node's server.log lines about its peers' health (its failure detector's judgements,
    its links) logged between start and end (epoch seconds)."""
    out = []
    try:
        with open(os.path.join(node.dir, "server.log")) as f:
            for line in f:
                m = LOG_TIME.match(line)
                if not m or not HEALTH_LINE.search(m.group(2)):
                    continue
                t = time.mktime(time.strptime(m.group(1)[:-4], "%d %b %Y %H:%M:%S"))
                t += int(m.group(1)[-3:]) / 1000.0
                if start - 1.0 <= t <= end + 1.0:
                    out.append(f"+{t - start:5.1f}s {m.group(2)}")
    except OSError as e:
        out.append(f"(server.log unreadable: {e})")
    return out


def explain_share(cluster, history, phases, kind, side):
    """Why a phase kind accepted too few writes on one side: per phase of that kind, each node's
    own share and first errors, and what its log says of its peers' health meanwhile."""
    for p in phases:
        if p["name"] != kind or p["end"] is None:
            continue
        nodes = sorted(i for i, s in p["sides"].items() if s == side)
        print(f"  {kind}/{side} at +{p['start'] - phases[0]['start']:.1f}s:")
        for i in nodes:
            ops = [o for o in history.ops if o[1] == i and p["start"] <= o[0] < p["end"]]
            ok = sum(1 for o in ops if o[2] == "ok")
            errs = {}
            for o in ops:
                if o[4]:
                    errs[o[4]] = errs.get(o[4], 0) + 1
            top = ", ".join(f"{v} x {k}" for k, v in sorted(errs.items(), key=lambda kv: -kv[1])[:2])
            print(f"    node {i}: {ok}/{len(ops)} accepted{'; ' + top if top else ''}")
            for line in health_lines(cluster.nodes[i], p["start"], p["end"])[:20]:
                for n in cluster.nodes:  # name peers by their index, as the report does
                    line = line.replace(n.node_id, f"<{n.i}>").replace(f"{n.ip}:", f"<{n.i}>:")
                print(f"      {line}")


# --- main ------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedule", choices=["smoke", "long"], default="smoke")
    ap.add_argument("--server", default=os.environ.get("DYNIS_SERVER", "build/release/dynis-server"))
    ap.add_argument("--summary", default=None, help="also write the JSON summary here")
    a = ap.parse_args()
    server = os.path.abspath(a.server)
    if not os.access(server, os.X_OK):
        sys.exit(f"chaos: no server binary at {server}")
    if os.geteuid() != 0:
        sys.exit("chaos: needs root (ip netns, nft)")
    for tool in ("ip", "nft"):
        if not shutil.which(tool):
            sys.exit(f"chaos: {tool} not found (deps/install.sh installs iproute2 and nftables)")

    seconds = float(os.environ.get("CHAOS_SECONDS", "300"))
    seed = int(os.environ.get("CHAOS_SEED", str(random.randrange(1 << 30))))
    min_accept = os.environ.get("CHAOS_MIN_ACCEPT")
    aae_mode = os.environ.get("CHAOS_AAE", "yes")
    aae_round = int(os.environ.get("CHAOS_AAE_ROUND", "5"))
    if aae_mode not in ("yes", "no"):
        sys.exit("chaos: CHAOS_AAE is yes or no")
    # The smoke run must end within 135 s whatever happens (utils/run-tests' timeout 150 is the
    # backstop): ~80 s when anti-entropy converges in a few seconds, its 40 s bound at worst.
    # The long one within its schedule plus setup, the anti-entropy check and checking.
    budget = 135 if a.schedule == "smoke" else seconds * 1.5 + 240
    rng = random.Random(seed)
    log(f"chaos: schedule {a.schedule}, seed {seed}, server {server}, budget {budget:.0f}s, "
        f"aae {aae_mode}, aae-round {aae_round}s")

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    def on_alarm(_signum, _frame):
        raise Deadline(f"deadline of {budget:.0f}s exceeded")

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(budget))

    clean_leftovers()
    rundir = tempfile.mkdtemp(prefix=f"dynis-chaos-{os.getpid()}-")
    cluster = None
    stop = threading.Event()
    ok = False
    summary = None
    try:
        cluster = Cluster(server, rundir, aae=aae_mode, aae_round=aae_round)
        cluster.create_network()
        cluster.start()
        t0 = time.time()
        if not cluster.formed(30):
            raise RuntimeError("cluster did not form within 30 s")
        log(f"cluster of {NODES} formed in {time.time() - t0:.1f}s")

        # A value holds every element of its key and every op moves it whole: long runs spread
        # over more keys so values stay far below max-object-size (~9k elements per key).
        nkeys = KEYS if a.schedule == "smoke" else max(KEYS, int(seconds // 15))
        keys = [f"chaos:set:{k}" for k in range(nkeys)]
        history = History()
        clients = []
        for n in cluster.nodes:
            for _ in range(CLIENTS_PER_NODE):
                cid = len(clients)
                clients.append(Client(cid, n, keys, history, stop, seed * 1000 + cid))
        for c in clients:
            c.start()

        nem = Nemesis(cluster)
        if a.schedule == "smoke":
            smoke_schedule(nem, rng)
        else:
            long_schedule(nem, rng, seconds)
        stop.set()
        for c in clients:
            c.join(OP_TIMEOUT + 2)
        nem.end()
        errors = {}
        for c in clients:
            for k, v in c.errors.items():
                errors[k] = errors.get(k, 0) + v
        log("clients stopped; errors seen:")
        for k, v in sorted(errors.items(), key=lambda kv: -kv[1]):
            print(f"  {v:>6}  {k}")
        stopped_at = time.time()
        aae, aae_problems = aae_check(cluster, nem, history, rng, a.schedule)
        # At least 10 s between the heal and the final reads (repair, reconnects).
        settle = max(0.0, 10.0 - (time.time() - stopped_at))
        if settle > 0:
            log(f"settling {settle:.1f} s (repair, reconnects)")
            time.sleep(settle)
        finals = final_reads(cluster, keys)
        summary, problems = check(history, finals, nem.phases, keys)
        problems = aae_problems + problems
        summary.update({"schedule": a.schedule, "seed": seed, "client_errors": errors,
                        "aae": aae})
        print_report(summary)
        if min_accept is not None:
            for k, v in summary["by_phase"].items():
                # Enforced for clients of nodes that can reach W others while a fault lasts;
                # not for the faulty nodes' own clients, the restarted node's clients (they
                # reconnect), nor heals (the isolated node's clients wait for its links).
                kind, side = k.split("/")
                if side in UNREACHABLE_SIDES or side == "restarted" or kind == "heal":
                    continue
                if v["share"] is not None and v["share"] < float(min_accept):
                    problems.append(f"{k} accepted {v['share']} < CHAOS_MIN_ACCEPT {min_accept}")
                    explain_share(cluster, history, nem.phases, kind, side)
        for p in problems:
            print(f"FAIL: {p}")
        ok = not problems
        print("chaos: PASS" if ok else "chaos: FAIL")
    except BaseException as e:
        stop.set()
        print(f"chaos: aborted: {type(e).__name__}: {e}", flush=True)
        if isinstance(e, (RuntimeError, Deadline)) and cluster:
            for n in cluster.nodes:
                print(f"--- node {n.i} server.log tail")
                try:
                    with open(os.path.join(n.dir, "server.log")) as f:
                        print("".join(f.readlines()[-10:]))
                except OSError:
                    pass
        if not isinstance(e, Exception):
            raise
    finally:
        signal.alarm(0)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        if summary is not None:
            text = json.dumps(summary, indent=1, default=str)
            with open(os.path.join(rundir, "summary.json"), "w") as f:
                f.write(text)
            if a.summary:
                with open(a.summary, "w") as f:
                    f.write(text)
        if cluster:
            cluster.destroy()
        if ok and not os.environ.get("CHAOS_KEEP"):
            shutil.rmtree(rundir, ignore_errors=True)
        else:
            for n in (cluster.nodes if cluster else []):
                shutil.rmtree(os.path.join(n.dir, "data"), ignore_errors=True)
            open(os.path.join(rundir, "KEPT"), "w").close()
            log(f"run dir kept: {rundir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
