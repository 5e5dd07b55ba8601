"""Delivery: the checkpoint advances only on acknowledgement; restarts
resume; the file sink, its outages and rejections; dead letters; the grace
period; refused checkpoints; gap recovery from a stored checkpoint."""
import json
import os
import signal
import stat
import time

from conftest import wait_until
from test_resilience import gap


def sink_events(path):
    """Complete lines of the sink file (and of its rotated parts), in order."""
    out = []
    for p in sorted(f for f in os.listdir(os.path.dirname(path)) if f.startswith(os.path.basename(path) + ".part")):
        out += _read(os.path.join(os.path.dirname(path), p))
    if os.path.isfile(path):
        out += _read(path)
    return out


def _read(p):
    with open(p, "rb") as f:
        data = f.read()
    return [json.loads(l) for l in data.split(b"\n")[:-1]]


def header(ck):
    with open(ck) as f:
        return json.loads(f.readline())


class Run:
    """A watcher with a file sink and a file checkpoint in tmp_path."""

    def __init__(self, cluster, watcher_factory, tmp_path, ns):
        self.cluster, self.factory, self.ns = cluster, watcher_factory, ns
        self.sink = str(tmp_path / "out.jsonl")
        self.ck = str(tmp_path / "state" / "checkpoint")
        self.dl = str(tmp_path / "dead.jsonl")

    def start(self, *extra, sink_query=""):
        return self.factory(["--kubeconfig", self.cluster.kubeconfig, "--namespace", self.ns,
                             "--sink", "file://" + self.sink + sink_query, "--checkpoint", "file://" + self.ck,
                             "--checkpoint-interval", "1", *extra])

    def events(self):
        return sink_events(self.sink)

    def break_sink(self):
        """The sink's path becomes a folder: it can no longer be opened."""
        if os.path.exists(self.sink):
            os.rename(self.sink, self.sink + ".part1")
        os.mkdir(self.sink)

    def heal_sink(self):
        os.rmdir(self.sink)

    def wait(self, pred, what, timeout=30):
        return wait_until(lambda: pred(self.events()), timeout=timeout, what=what)


def ids(evs):
    return [e["id"] for e in evs]


def test_restart_resumes_without_republishing(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    a = cluster.create_wf(ns, "a")
    b = cluster.create_wf(ns, "b")
    w = r.start()
    r.wait(lambda ev: len(ev) == 2, "two ADDED")
    assert w.stop() == 0
    assert "checkpoint" in w.log_text()
    assert stat.S_IMODE(os.stat(r.ck).st_mode) == 0o600
    h = header(r.ck)
    assert h["objects"] == 2 and h["streams"] == [{"namespace": ns, "resourceVersion": h["streams"][0]["resourceVersion"]}]
    assert int(h["streams"][0]["resourceVersion"]) >= int(b["metadata"]["resourceVersion"])

    a["status"] = {"phase": "Running"}
    a2 = cluster.update_wf(a)
    cluster.delete_wf(ns, "b")
    c = cluster.create_wf(ns, "c")

    w2 = r.start()
    w2.wait_log("resuming: 2 known objects")
    r.wait(lambda ev: len(ev) >= 5, "the three changes made while down")
    assert w2.stop() == 0
    ev = r.events()
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in ev[2:]] == [
        ("MODIFIED", "a"), ("DELETED", "b"), ("ADDED", "c")]
    assert ids(ev)[2] == f'{a2["metadata"]["uid"]}/{a2["metadata"]["resourceVersion"]}'
    assert ids(ev)[4] == f'{c["metadata"]["uid"]}/{c["metadata"]["resourceVersion"]}'
    assert not any(e.get("recovered") for e in ev)
    assert len(set(ids(ev))) == 5, "nothing was published twice"
    assert header(r.ck)["objects"] == 2


def test_initial_state_skip_records_without_publishing(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    a = cluster.create_wf(ns, "old")
    w = r.start("--initial-state", "skip")
    w.wait_ready()
    cluster.create_wf(ns, "new")
    r.wait(lambda ev: len(ev) >= 1, "the object created after the start")
    assert [e["object"]["metadata"]["name"] for e in r.events()] == ["new"]
    assert w.stop() == 0
    assert header(r.ck)["objects"] == 2  # "old" was recorded
    # skip applies to a first start only: a change of "old" is published later.
    a["status"] = {"phase": "Succeeded"}
    cluster.update_wf(a)
    w2 = r.start("--initial-state", "skip")
    r.wait(lambda ev: len(ev) >= 2, "the change of the skipped object")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in r.events()] == [("ADDED", "new"), ("MODIFIED", "old")]
    assert w2.stop() == 0


def test_unusable_checkpoints_are_refused(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    cluster.create_wf(ns, "a")
    os.makedirs(os.path.dirname(r.ck))
    with open(r.ck, "w") as f:
        f.write("hello\n")
    w = r.start()
    assert w.proc.wait(timeout=15) == 2
    assert "refusing the checkpoint" in w.log_text() and "not a workflow-watcher checkpoint" in w.log_text()
    assert r.events() == []

    w = r.start("--reset-checkpoint")
    r.wait(lambda ev: len(ev) == 1, "ADDED after --reset-checkpoint")
    assert "starting afresh (--reset-checkpoint)" in w.log_text()
    assert w.stop() == 0

    # damaged: one byte of the object lines changed
    data = bytearray(open(r.ck, "rb").read())
    data[-3] ^= 0x01
    open(r.ck, "wb").write(bytes(data))
    w = r.start()
    assert w.proc.wait(timeout=15) == 2
    assert "damaged" in w.log_text()

    # foreign: written for another selector
    w = r.start("--reset-checkpoint")
    damaged = bytes(data)
    wait_until(lambda: open(r.ck, "rb").read() != damaged, what="a new checkpoint saved")
    assert w.stop() == 0
    w = r.start("--selector", "team=other")
    assert w.proc.wait(timeout=15) == 2
    assert "belongs to another watch" in w.log_text() and "team=other" in w.log_text()


def test_sink_outage_blocks_then_delivers_and_checkpoint_waits_for_acks(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    w = r.start()
    w.wait_ready()
    cluster.create_wf(ns, "before")
    r.wait(lambda ev: len(ev) == 1, "first event")
    wait_until(lambda: os.path.exists(r.ck) and header(r.ck)["objects"] == 1, what="checkpoint with the first object")
    r.break_sink()
    made = [cluster.create_wf(ns, f"during-{i}") for i in range(5)]
    w.wait_log("will retry")
    w.wait_log("the sink did not take")
    # Crash during the outage: nothing of it may have been checkpointed.
    w.proc.kill()
    w.proc.wait()
    assert header(r.ck)["objects"] == 1
    r.heal_sink()
    w2 = r.start()
    r.wait(lambda ev: len(ev) >= 6, "the five objects made during the outage")
    assert w2.stop() == 0
    got = ids(r.events())
    for m in made:
        assert f'{m["metadata"]["uid"]}/{m["metadata"]["resourceVersion"]}' in got


def test_outage_heals_while_running(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    w = r.start("--queue-bytes", "65536")
    w.wait_ready()
    r.break_sink()
    made = [cluster.create_wf(ns, f"wf-{i}") for i in range(20)]
    w.wait_log("the sink did not take")
    r.heal_sink()
    r.wait(lambda ev: len(ev) >= 20, "all twenty after the outage")
    w.wait_log("the sink took the batch after")
    assert sorted(ids(r.events())) == sorted(f'{m["metadata"]["uid"]}/{m["metadata"]["resourceVersion"]}' for m in made)
    assert w.stop() == 0


def big_status():
    return {"phase": "Failed", "message": "x" * 6000}


def test_rejected_message_goes_to_dead_letter(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    w = r.start("--dead-letter", r.dl, sink_query="?max-message-bytes=4000")
    w.wait_ready()
    cluster.create_wf(ns, "small-1")
    big = cluster.create_wf(ns, "big", status=big_status())
    cluster.create_wf(ns, "small-2")
    r.wait(lambda ev: len(ev) >= 2, "the two small objects")
    assert [e["object"]["metadata"]["name"] for e in r.events()] == ["small-1", "small-2"]
    dead = [json.loads(l) for l in open(r.dl)]
    assert len(dead) == 1
    assert dead[0]["id"] == f'{big["metadata"]["uid"]}/{big["metadata"]["resourceVersion"]}'
    assert dead[0]["key"] == big["metadata"]["uid"]
    assert "max-message-bytes" in dead[0]["reason"]
    assert json.loads(dead[0]["message"])["object"]["metadata"]["name"] == "big"
    assert "written to the dead-letter file" in w.log_text()
    assert w.stop() == 0


def test_rejected_message_stops_and_is_offered_again(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    w = r.start("--on-reject", "stop", sink_query="?max-message-bytes=4000")
    w.wait_ready()
    cluster.create_wf(ns, "small")
    big = cluster.create_wf(ns, "big", status=big_status())
    assert w.proc.wait(timeout=30) == 1
    assert "rejected message" in w.log_text() and "stopping" in w.log_text()
    assert [e["object"]["metadata"]["name"] for e in r.events()] == ["small"]
    # Not acknowledged, so not checkpointed: a start without the limit delivers it.
    w2 = r.start()
    r.wait(lambda ev: len(ev) >= 2, "the rejected object, offered again")
    assert ids(r.events())[1] == f'{big["metadata"]["uid"]}/{big["metadata"]["resourceVersion"]}'
    assert w2.stop() == 0


def test_sigterm_during_outage_ends_after_grace_period(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    w = r.start("--grace-period", "2")
    w.wait_ready()
    r.break_sink()
    wf = cluster.create_wf(ns, "stuck")
    w.wait_log("the sink did not take")
    t0 = time.monotonic()
    assert w.stop(sig=signal.SIGTERM, timeout=20) == 0
    assert time.monotonic() - t0 < 10
    assert "grace period (2 s) ended with 1 changes not acknowledged" in w.log_text()
    r.heal_sink()
    w2 = r.start()
    r.wait(lambda ev: len(ev) >= 1, "the object after the restart")
    assert ids(r.events()) == [f'{wf["metadata"]["uid"]}/{wf["metadata"]["resourceVersion"]}']
    assert w2.stop() == 0


def test_gap_recovery_from_the_stored_checkpoint(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    a = cluster.create_wf(ns, "changes")
    b = cluster.create_wf(ns, "vanishes")
    cluster.create_wf(ns, "stays")
    w = r.start()
    r.wait(lambda ev: len(ev) == 3, "three ADDED")
    assert w.stop() == 0
    changed, created = gap(cluster, ns, a, "Succeeded", "vanishes", "appears")
    w2 = r.start()
    r.wait(lambda ev: len(ev) >= 6, "three recovered changes", timeout=60)
    assert w2.stop() == 0
    rec = {e["object"]["metadata"]["name"]: e for e in r.events()[3:]}
    assert set(rec) == {"changes", "vanishes", "appears"}
    assert all(e.get("recovered") is True for e in rec.values())
    assert rec["changes"]["type"] == "MODIFIED"
    assert rec["changes"]["id"] == f'{a["metadata"]["uid"]}/{changed["metadata"]["resourceVersion"]}'
    assert rec["vanishes"]["type"] == "DELETED"
    assert rec["vanishes"]["id"] == f'{b["metadata"]["uid"]}/deleted'
    assert rec["appears"]["id"] == f'{created["metadata"]["uid"]}/{created["metadata"]["resourceVersion"]}'
    assert header(r.ck)["objects"] == 3


def test_resource_version_flag_over_a_checkpoint_is_refused_unless_reset(cluster, watcher_factory, tmp_path):
    """Watching from another resourceVersion than the checkpoint's would never
    publish the deletion of a known object deleted in between: refused, with
    the way out named; with --reset-checkpoint the checkpoint is forgotten."""
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    cluster.create_wf(ns, "known")
    w = r.start()
    r.wait(lambda ev: len(ev) >= 1, "the known object")
    assert w.stop() == 0
    cluster.create_wf(ns, "skipped")
    rv = cluster.list_wf(ns)["metadata"]["resourceVersion"]
    w2 = r.start("-resourceVersion", rv)
    assert w2.proc.wait(timeout=15) == 2
    log = w2.log_text()
    assert "both say where to start" in log and "--reset-checkpoint" in log
    w3 = r.start("-resourceVersion", rv, "--reset-checkpoint")
    w3.wait_log("watching from -resourceVersion")
    assert "forgetting the checkpoint" in w3.log_text()
    later = cluster.create_wf(ns, "seen")
    r.wait(lambda ev: len(ev) >= 2, "the object made after the given resourceVersion")
    assert ids(r.events())[1:] == [f'{later["metadata"]["uid"]}/{later["metadata"]["resourceVersion"]}']
    assert w3.stop() == 0


def test_torn_last_line_from_a_crash_is_cut_off(cluster, watcher_factory, tmp_path):
    """kill -9 in the middle of a write leaves part of a line; it was never
    acknowledged, so the sink cuts it off and the message comes again whole."""
    ns = cluster.namespace()
    r = Run(cluster, watcher_factory, tmp_path, ns)
    wf = cluster.create_wf(ns, "a")
    with open(r.sink, "wb") as f:
        f.write(b'{"type":"ADDED","object":{"metadata":{"name":"earlier"}},"id":"x/1"}\n{"type":"ADDED","obj')
    w = r.start()
    r.wait(lambda ev: len(ev) >= 2, "the object after the cut")
    assert "cut a torn last line of 20 bytes" in w.log_text()
    ev = r.events()  # every line parses
    assert [e["id"] for e in ev] == ["x/1", f'{wf["metadata"]["uid"]}/{wf["metadata"]["resourceVersion"]}']
    assert w.stop() == 0
