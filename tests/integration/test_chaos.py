"""Chaos: at-least-once delivery under crashes, API-server restarts, a failing
sink and compacted history, once per checkpoint store.

A load generator (chaos/loadgen.py) plays a few hundred Argo Workflows in
three namespaces -- created, Pending, Running with nodes growing, Succeeded or
Failed, some deleted while running, some after -- with full-object PUTs, and
records every resourceVersion the API server returned. Meanwhile, at seeded
random moments, the watcher (file sink, checkpoint in the store under test)
is killed with SIGKILL and restarted several times, the API server is
restarted under it once, the sink file is replaced by a directory for a few
seconds, and once the watcher is kept down while etcd is compacted and the
API server restarted, so that it resumes into 410 Gone and recovers the gap
by relisting. Then the load stops, the watcher drains and is stopped with
SIGTERM, and chaos/checker.py proves from the sink file(s) that every change
was delivered at least once, in order, with nothing invented; the only
changes allowed to be missing are those inside a compacted gap, counted apart.

WW_CHAOS_SEED=N replays a schedule (the seed is printed on every run);
WW_CHAOS_WORKFLOWS and WW_CHAOS_DURATION (seconds of load) scale the run.
The figures are printed and written to chaos-figures.json in the test's
tmp_path (or under $WW_CHAOS_ARTIFACTS), with the watchers' logs and the
generator's records beside it.
"""
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes.client.rest import ApiException

from chaos.checker import check, gap_windows, read_sink
from chaos.loadgen import LoadGen
from conftest import wait_until

SEED = int(os.environ.get("WW_CHAOS_SEED") or secrets.randbelow(2**31))
N_WORKFLOWS = int(os.environ.get("WW_CHAOS_WORKFLOWS", "300"))
DURATION = float(os.environ.get("WW_CHAOS_DURATION", "80"))
N_KILLS = 4
REDIS_SERVER = "/usr/bin/redis-server"


# --- Redis, spoken raw (RESP) so the test needs no client package -------------

def resp(port, *args, timeout=2.0):
    """Sends one command, returns the first reply line (bytes) or None."""
    cmd = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(cmd)
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                buf += chunk
            return buf.split(b"\r\n", 1)[0]
    except OSError:
        return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path):
    port = free_port()
    d = tmp_path / "redis"
    d.mkdir()
    log = open(d / "redis.log", "wb")
    p = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--dir", str(d)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: p.poll() is not None or resp(port, "PING") == b"+PONG", timeout=20,
                   what="redis-server to answer PING")
        assert p.poll() is None, (d / "redis.log").read_text()
        yield port
    finally:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


# --- the store under test ------------------------------------------------------

class Store:
    def __init__(self, kind, cluster, tmp_path, request):
        self.kind, self.cluster = kind, cluster
        if kind == "file":
            self.path = str(tmp_path / "checkpoint")
            self.url = f"file://{self.path}"
        elif kind == "configmap":
            self.ns = cluster.namespace("chaos-ckpt")
            self.name = "workflow-watcher-checkpoint"
            self.url = f"configmap://{self.ns}/{self.name}"
        elif kind == "redis":
            self.port = request.getfixturevalue("redis_server")
            self.key = f"ww-chaos-{secrets.token_hex(4)}"
            self.url = f"redis://127.0.0.1:{self.port}/{self.key}"
        else:
            raise ValueError(kind)

    def saved(self):
        """True once the watcher has saved a checkpoint."""
        if self.kind == "file":
            return os.path.exists(self.path)
        if self.kind == "configmap":
            try:
                self.cluster.core.read_namespaced_config_map(self.name, self.ns)
                return True
            except ApiException as e:
                if e.status == 404:
                    return False
                raise
        return resp(self.port, "EXISTS", self.key) == b":1"


# --- the chaos -----------------------------------------------------------------

class Chaos:
    def __init__(self, cluster, watcher_factory, args, sink, gen, rng, out):
        self.cluster, self.factory, self.args = cluster, watcher_factory, args
        self.sink, self.gen, self.rng, self.out = sink, gen, rng, out
        self.watchers = []
        self.timeline = []
        self.t0 = time.monotonic()
        self.kills = 0
        self.apiserver_restarts = 0
        self.compactions = 0
        self.outage_s = 0.0
        self.parts = 0
        self.gap_watcher = None       # index of the first watcher started after the compacted gap

    def note(self, what):
        line = f"[{time.monotonic() - self.t0:6.1f}s] {what}"
        self.timeline.append(line)
        print(line, flush=True)

    @property
    def w(self):
        return self.watchers[-1]

    def start(self):
        self.watchers.append(self.factory(self.args))
        self.note(f"watcher #{len(self.watchers)} started (pid {self.w.proc.pid})")
        return self.w

    def kill(self, why="kill -9"):
        assert self.w.proc.poll() is None, f"watcher #{len(self.watchers)} died by itself:\n{self.w.log_text()[-3000:]}"
        self.w.proc.kill()
        self.w.proc.wait(10)
        self.kills += 1
        self.note(f"watcher #{len(self.watchers)} killed (SIGKILL, {why}); writes so far {self.gen.writes}")

    def wait_writes(self, n):
        """Lets the load make n more changes (if it is still running)."""
        target = self.gen.writes + n
        wait_until(lambda: self.gen.writes >= target or not self.gen.running(), timeout=60,
                   what=f"{n} more writes by the load generator")

    # actions
    def do_kill(self):
        self.kill()
        time.sleep(self.rng.uniform(0, 1.5))        # down for a random while: chaos, not synchronisation
        self.start()

    def do_restart_apiserver(self):
        assert self.w.proc.poll() is None, f"watcher #{len(self.watchers)} died by itself:\n{self.w.log_text()[-3000:]}"
        t = time.monotonic()
        self.cluster.ctl("restart-apiserver")
        self.apiserver_restarts += 1
        self.note(f"API server restarted under the running watcher ({time.monotonic() - t:.1f} s)")

    def do_sink_outage(self):
        # a watcher that has not opened its sink yet refuses to start on a
        # directory (a configuration error); the outage is for a running one
        wait_until(lambda: self.w.proc.poll() is not None
                   or any(r.get("component") == "watch" for r in self.w.log_records()),
                   timeout=30, what="the watcher to open its sink")
        assert self.w.proc.poll() is None, self.w.log_text()[-3000:]
        self.parts += 1
        part = f"{self.sink}.part{self.parts}"
        failures_before = self.sink_failures(self.w)
        os.rename(self.sink, part)
        os.mkdir(self.sink)
        t = time.monotonic()
        self.note(f"sink outage: {os.path.basename(self.sink)} renamed to {os.path.basename(part)} and replaced "
                  "by a directory")
        # the outage counts from the first publish that fails (the watcher
        # may be busy relisting, with nothing to publish for a while)
        wait_until(lambda: self.sink_failures(self.w) > failures_before or self.w.proc.poll() is not None,
                   timeout=60, interval=0.2, what="the watcher to meet the failing sink")
        assert self.w.proc.poll() is None, self.w.log_text()[-3000:]
        t1 = time.monotonic()
        length = self.rng.uniform(3, 7)
        kill_inside = self.rng.random() < 0.5
        self.note(f"the watcher met the failing sink after {t1 - t:.1f} s; failing for {length:.1f} s more"
                  + (" with a kill inside" if kill_inside else ""))
        if kill_inside:
            time.sleep(self.rng.uniform(0.5, length - 0.5))   # chaos, not synchronisation
            self.kill("during the sink outage")
        time.sleep(max(0.0, length - (time.monotonic() - t1)))
        os.rmdir(self.sink)
        self.outage_s += time.monotonic() - t
        self.note(f"sink outage over after {time.monotonic() - t:.1f} s")
        if kill_inside:
            self.start()

    @staticmethod
    def sink_failures(w):
        return sum(1 for r in w.log_records() if r.get("component") == "sink" and "cannot" in r.get("msg", ""))

    def do_gap(self):
        self.kill("before the compacted gap")
        self.note("inside the gap: " + self.gen.gap_churn(self.rng, self.compactions + 1))
        self.wait_writes(20)                        # changes the watcher misses
        rev = self.cluster.ctl("compact")
        self.compactions += 1
        self.cluster.ctl("restart-apiserver")
        self.apiserver_restarts += 1
        self.note(f"etcd compacted at revision {rev} and the API server restarted while the watcher was down")
        self.wait_writes(10)                        # and more after the restart
        self.start()
        self.gap_watcher = len(self.watchers) - 1

    def run(self, schedule):
        for at, action in schedule:
            delay = at - (time.monotonic() - self.t0)
            if delay > 0:
                time.sleep(delay)                   # the random moment: chaos, not synchronisation
            getattr(self, "do_" + action.replace("-", "_"))()


def namespaces_ready(w, nss):
    log = w.log_text()
    return all(f"{ns}: streaming list complete" in log or f"{ns}: listed " in log for ns in nss)


def delivered_ids(path):
    return {(m.uid, m.rv) for m in read_sink(path, final=False)[0]}


def delivered_all(records, path):
    """Every live object's last state and every deletion of an object the sink
    has seen is there (an object never seen at all lived inside a gap, or
    the barrier below catches it)."""
    msgs, _, _ = read_sink(path, final=False)
    have, dels, seen = set(), set(), set()
    for m in msgs:
        seen.add(m.uid)
        (dels.add(m.uid) if m.is_delete else have.add((m.uid, m.rv)))
    missing = [u for u, r in records.items()
               if (not r["deleted"] and (u, r["rvs"][-1]) not in have) or (r["deleted"] and u in seen and u not in dels)]
    return not missing


@pytest.mark.timeout(900)
@pytest.mark.parametrize("store_kind", ["file", "configmap", "redis"])
def test_at_least_once_under_chaos(cluster, watcher_factory, tmp_path, request, capsys, record_property, store_kind):
    t_start = time.monotonic()
    rng = random.Random(SEED)
    out = tmp_path
    if os.environ.get("WW_CHAOS_ARTIFACTS"):      # kept beyond pytest's last three tmp dirs
        out = Path(os.environ["WW_CHAOS_ARTIFACTS"]) / f"{store_kind}-seed{SEED}-{time.strftime('%H%M%S')}"
        out.mkdir(parents=True)
    print(f"chaos seed {SEED} (replay with WW_CHAOS_SEED={SEED}), store {store_kind}", flush=True)
    store = Store(store_kind, cluster, out, request)
    nss = [cluster.namespace(f"chaos-{store_kind[:4]}") for _ in range(3)]
    sink = str(out / "sink" / "events.jsonl")
    os.makedirs(os.path.dirname(sink))
    args = ["--kubeconfig", cluster.kubeconfig, "--sink", f"file://{sink}", "--checkpoint", store.url,
            "--checkpoint-changes", "200", "--watch-timeout-min", "20", "--watch-timeout-max", "40"]
    for ns in nss:
        args += ["--namespace", ns]

    gen = LoadGen(cluster.kubeconfig, nss, n_workflows=N_WORKFLOWS, duration=DURATION, seed=SEED)
    start_rv = gen.precreate(per_ns=5)            # seen by the first start's initial list
    chaos = Chaos(cluster, watcher_factory, args, sink, gen, rng, out)
    report = None
    try:
        w = chaos.start()
        wait_until(lambda: namespaces_ready(w, nss) or w.proc.poll() is not None, timeout=30,
                   what="the initial lists")
        assert w.proc.poll() is None, f"the watcher exited with {w.proc.returncode}:\n{w.log_text()[-3000:]}"
        gen.start()
        chaos.note(f"load started: {N_WORKFLOWS} workflows over ~{DURATION:.0f} s in {', '.join(nss)}")
        # the first kill must not come before the first checkpoint: a watcher
        # that never saved one starts afresh by design
        wait_until(store.saved, timeout=30, what=f"the first checkpoint in {store.url}")
        chaos.note("first checkpoint saved")

        actions = ["kill"] * N_KILLS + ["restart-apiserver", "sink-outage", "gap"]
        rng.shuffle(actions)
        # one random moment in each of len(actions) equal slots of the load
        lo = time.monotonic() - chaos.t0 + 1
        slot = max(2.0, (DURATION - 12 - lo) / len(actions))
        times = [lo + slot * (i + rng.uniform(0.1, 0.9)) for i in range(len(actions))]
        chaos.note("schedule: " + ", ".join(f"{a}@{t:.0f}s" for t, a in zip(times, actions)))
        chaos.run(list(zip(times, actions)))

        gen.join(timeout=DURATION + 240)
        chaos.note(f"load finished: {gen.figures()}")
        # a barrier per namespace: delivery is ordered per stream, so once the
        # sentinel is in the sink, everything written before it is too
        sentinels = {gen.sentinel(ns, "zz-sentinel") for ns in nss}
        wait_until(lambda: sentinels <= delivered_ids(sink) or chaos.w.proc.poll() is not None,
                   timeout=180, interval=0.5, what="the sentinels in the sink")
        assert chaos.w.proc.poll() is None, f"the watcher exited:\n{chaos.w.log_text()[-3000:]}"
        chaos.note("sentinels delivered")
        # what is still missing now is lost for good (the checker says what);
        # a short grace only for messages of other streams still in flight
        try:
            wait_until(lambda: delivered_all(gen.snapshot(), sink), timeout=15, interval=0.5, what="final states")
            chaos.note("final states delivered")
        except AssertionError:
            chaos.note("final states NOT all delivered")
        rc = chaos.w.stop(15, timeout=60)
        chaos.note(f"watcher #{len(chaos.watchers)} stopped with SIGTERM: exit {rc}")
        assert rc == 0, chaos.w.log_text()[-3000:]

        # A clean stop saved the checkpoint: a restart publishes nothing again.
        n_before = read_sink(sink)[2]
        w = chaos.start()
        after = {gen.sentinel(ns, "zz-after-restart") for ns in nss}
        wait_until(lambda: after <= delivered_ids(sink) or w.proc.poll() is not None, timeout=60,
                   interval=0.5, what="the objects made after the clean restart")
        rc = w.stop(15, timeout=60)
        chaos.note(f"restarted after the clean stop, stopped again: exit {rc}")
        assert rc == 0, w.log_text()[-3000:]
        msgs, problems, n_lines = read_sink(sink)
        after_uids = {u for u, _ in after}
        redelivered = [m for m in msgs[n_before:] if m.uid not in after_uids]

        # the proof
        logs = [x.log_text() for x in chaos.watchers]
        windows = gap_windows(logs, nss)
        records = gen.snapshot()
        report = check(records, msgs, start_rv=start_rv, windows=windows, problems=problems)
        gap_logs = "".join(logs[chaos.gap_watcher:]) if chaos.gap_watcher is not None else ""
        figures = dict(report.figures)
        figures.update({
            "seed": SEED, "store": store_kind, "namespaces": nss, "kills": chaos.kills,
            "apiserver_restarts": chaos.apiserver_restarts, "compactions": chaos.compactions,
            "sink_outage_seconds": round(chaos.outage_s, 1), "sink_parts": chaos.parts,
            "watcher_starts": len(chaos.watchers), "sink_lines": n_lines,
            "relists_after_410": sum(t.count("too old resource version") for t in logs),
            "sink_failures_logged": sum(chaos.sink_failures(x) for x in chaos.watchers),
            "gap_windows": {ns: v for ns, v in windows.items() if v},
            "redelivered_after_clean_restart": len(redelivered),
            "run_seconds": round(time.monotonic() - t_start, 1),
            **gen.figures(),
        })
    finally:
        gen.stop()
        for i, x in enumerate(chaos.watchers, 1):
            (out / f"watcher-{i}.log").write_text(x.log_text())
        (out / "records.json").write_text(json.dumps(gen.snapshot()))
        (out / "timeline.txt").write_text("\n".join(chaos.timeline) + "\n")

    (out / "chaos-figures.json").write_text(json.dumps(figures, indent=1))
    for k, v in figures.items():
        record_property(k, v)
    shown = {k: v for k, v in figures.items() if k not in ("gap_lost_examples", "namespaces")}
    with capsys.disabled():
        print(f"\nchaos [{store_kind}] seed {SEED}: " + json.dumps(shown) + f"\n  (details in {out})")

    assert report.ok, (f"seed {SEED}, store {store_kind}: at-least-once violated\n{report.failure_text()}\n"
                       f"figures: {json.dumps(figures)}\nlogs and records in {out}")
    assert not redelivered, f"re-published after a clean stop: {redelivered[:10]}"
    assert figures["kills"] >= N_KILLS + 1
    assert figures["sink_failures_logged"] >= 1, "the sink outage was never noticed"
    # the compacted gap took the 410 path and was recovered by a relist
    assert "too old resource version" in gap_logs and "relisting" in gap_logs, gap_logs[-3000:]
    assert set(figures["recovered_by_kind"]) == {"recovered-added", "recovered-modified", "recovered-deleted"}


@pytest.mark.timeout(120)
def test_deletion_of_an_object_delivered_after_the_last_save_survives_a_compacted_gap(cluster, watcher_factory,
                                                                                        tmp_path):
    """The chaos test's smallest failing case, deterministic: an object is
    delivered (fsynced) after the last checkpoint save, the watcher is killed,
    the object is deleted while it is down and the history compacted. The
    relist after 410 is diffed against the saved index, which never knew the
    object, so without a remedy its DELETED is never published although its
    ADDED was."""
    ns = cluster.namespace("chaos-gap")
    sink = str(tmp_path / "events.jsonl")
    args = ["--kubeconfig", cluster.kubeconfig, "--namespace", ns, "--sink", f"file://{sink}",
            "--checkpoint", f"file://{tmp_path / 'checkpoint'}",
            "--checkpoint-interval", "3600", "--checkpoint-changes", "1000000"]

    def names():
        return [(m.type, m.name, m.recovered) for m in read_sink(sink, final=False)[0]]

    first = watcher_factory(args)
    first.wait_ready()
    assert first.stop() == 0                       # saves an empty index at shutdown
    second = watcher_factory(args)
    wf = cluster.create_wf(ns, "short-lived")
    wait_until(lambda: ("ADDED", "short-lived", False) in names(), what="the ADDED in the sink")
    second.proc.kill()                             # delivered, not yet in a saved checkpoint
    second.proc.wait()
    cluster.delete_wf(ns, "short-lived")
    cluster.ctl("compact")
    cluster.ctl("restart-apiserver")
    third = watcher_factory(args)
    third.wait_log("too old resource version", timeout=60)
    cluster.create_wf(ns, "sentinel")
    wait_until(lambda: any(n == "sentinel" for _, n, _ in names()), timeout=60, what="the sentinel")
    assert third.stop() == 0
    got = names()
    assert [t for t, n, _ in got if n == "short-lived"] == ["ADDED", "DELETED"], \
        f"{got}: the deletion of {wf['metadata']['uid']} was never published\n{third.log_text()}"
