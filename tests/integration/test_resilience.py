"""The watch never loses its place: faults the real API server produces
(restart, compaction) and faults only a fault injector can produce (torn
lines, garbage, stalls, oversized lines) each end in a reconnect from the last
good resourceVersion, with no event skipped or repeated."""
import json
import os

import pytest

from conftest import wait_until
from fault_injector import FaultInjector


def ids(events):
    return [(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"]) for e in events]


def gap(cluster, ns, changed, phase, vanished, appeared):
    """What happens while a watcher cannot watch: one object changes, one is
    deleted, one is created; then etcd is compacted and the API server
    restarted, so the history is gone. Returns (changed, created) as the API
    server returned them."""
    upd = dict(changed)
    upd["status"] = {"phase": phase}
    changed = cluster.update_wf(upd)
    cluster.delete_wf(ns, vanished)
    created = cluster.create_wf(ns, appeared)
    cluster.ctl("compact")
    cluster.ctl("restart-apiserver")
    return changed, created


@pytest.fixture
def injector(cluster):
    inj = FaultInjector(cluster).start()
    yield inj
    inj.close()


def start_via_injector(cluster, injector, watcher_factory, tmp_path, ns, extra=()):
    start_rv = cluster.list_wf(ns)["metadata"]["resourceVersion"]
    kc = injector.kubeconfig(str(tmp_path / "inj.kubeconfig"))
    w = watcher_factory(["--kubeconfig", kc, "--namespace", ns, "--resource-version", start_rv, *extra])
    wait_until(lambda: len(injector.watches) >= 1, what="the first watch request")
    return w


@pytest.mark.parametrize("kind,reason", [
    ("torn", "ended inside an event"),
    ("reset", "watch:"),
    ("garbage", "not valid JSON"),
    ("oversize", "larger than --max-event-bytes"),
])
def test_fault_reconnects_from_last_good_rv(cluster, injector, watcher_factory, tmp_path, kind, reason):
    ns = cluster.namespace()
    injector.plan(kind, after=2, size=100_000)
    w = start_via_injector(cluster, injector, watcher_factory, tmp_path, ns, ["--max-event-bytes", "65536"])
    made = [cluster.create_wf(ns, "wf-1"), cluster.create_wf(ns, "wf-2")]
    w.wait_events(lambda ev: len(ev) >= 2, what="two events before the fault")
    made.append(cluster.create_wf(ns, "wf-3"))           # this one meets the fault
    wait_until(lambda: kind in injector.applied, what="the fault")
    made.append(cluster.create_wf(ns, "wf-4"))
    w.wait_events(lambda ev: len(ev) >= 4, what="all four events")
    expected = [("ADDED", m["metadata"]["name"], m["metadata"]["resourceVersion"]) for m in made]
    assert ids(w.events()) == expected
    assert reason in w.log_text()
    # the reconnect resumed from the last event delivered before the fault
    resumed = [q.get("resourceVersion") for q in injector.watches[1:]]
    assert resumed and resumed[0] == made[1]["metadata"]["resourceVersion"]
    assert w.proc.poll() is None
    assert w.stop() == 0


def test_stalled_connection_is_detected(cluster, injector, watcher_factory, tmp_path):
    ns = cluster.namespace()
    injector.plan("stall", after=1)
    w = start_via_injector(cluster, injector, watcher_factory, tmp_path, ns,
                           ["--watch-timeout-min", "3", "--watch-timeout-max", "4"])
    a = cluster.create_wf(ns, "before-stall")
    w.wait_events(lambda ev: len(ev) >= 1, what="first event")
    b = cluster.create_wf(ns, "during-stall")
    wait_until(lambda: "stall" in injector.applied, what="the stall")
    w.wait_events(lambda ev: len(ev) >= 2, timeout=30, what="the event after the stall")
    assert ids(w.events()) == [("ADDED", "before-stall", a["metadata"]["resourceVersion"]),
                               ("ADDED", "during-stall", b["metadata"]["resourceVersion"])]
    assert injector.watches[1]["resourceVersion"] == a["metadata"]["resourceVersion"]
    assert "Timeout" in w.log_text() or "timed out" in w.log_text()


def test_three_mib_event_passes(cluster, injector, watcher_factory, tmp_path):
    ns = cluster.namespace()
    injector.plan("inflate", after=0, size=3 * 1024 * 1024)
    w = start_via_injector(cluster, injector, watcher_factory, tmp_path, ns)
    wf = cluster.create_wf(ns, "huge")
    w.wait_events(lambda ev: len(ev) >= 1, what="the 3 MiB event")
    line = w.raw_lines()[0]
    assert len(line) > 3 * 1024 * 1024
    ev = json.loads(line)
    assert ev["object"]["metadata"]["resourceVersion"] == wf["metadata"]["resourceVersion"]
    assert len(ev["object"]["status"]["padding"]) == 3 * 1024 * 1024


def test_429_honours_retry_after(cluster, injector, watcher_factory, tmp_path):
    ns = cluster.namespace()
    injector.plan("429", size=2)
    w = start_via_injector(cluster, injector, watcher_factory, tmp_path, ns)
    w.wait_log("HTTP 429")
    wait_until(lambda: len(injector.watches) >= 2, what="the retried watch")
    rec = [r for r in w.log_records() if r["component"] == "watch" and "HTTP 429" in r["msg"]][0]
    # Retry-After: 2 wins over the first backoff step (0.8-1.6 s)
    assert rec["msg"].endswith("reconnecting from the last resourceVersion in 2.0 s"), rec
    assert injector.watches[1]["resourceVersion"] == injector.watches[0]["resourceVersion"]
    wf = cluster.create_wf(ns, "after-429")
    w.wait_events(lambda ev: len(ev) >= 1, what="event after 429")
    assert ids(w.events()) == [("ADDED", "after-429", wf["metadata"]["resourceVersion"])]


def test_apiserver_restart_mid_watch(cluster, watcher_factory):
    ns = cluster.namespace()
    w = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--namespace", ns])
    w.wait_ready()
    made = [cluster.create_wf(ns, f"r-{i}") for i in range(3)]
    w.wait_events(lambda ev: len(ev) >= 3, what="events before the restart")
    cluster.ctl("restart-apiserver")
    upd = dict(made[0])
    upd["status"] = {"phase": "Running"}
    made.append(cluster.update_wf(upd))
    made += [cluster.create_wf(ns, f"r-{i}") for i in range(3, 5)]
    w.wait_events(lambda ev: len(ev) >= 6, timeout=60, what="events after the restart")
    expected = [(t, m["metadata"]["name"], m["metadata"]["resourceVersion"])
                for t, m in zip(["ADDED"] * 3 + ["MODIFIED"] + ["ADDED"] * 2, made)]
    got = ids(w.events())
    # An event written while the watcher was reconnecting and found by a
    # relist is the same change, carried as a recovered event.
    assert [g[1:] for g in got] == [e[1:] for e in expected]
    assert len(w.events()) == 6
    assert w.proc.poll() is None


def test_compaction_while_down_relists_with_a_reason(cluster, watcher_factory):
    ns = cluster.namespace()
    a = cluster.create_wf(ns, "keep")
    cluster.create_wf(ns, "gone")
    w1 = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--namespace", ns])
    w1.wait_events(lambda ev: len(ev) >= 2, what="initial objects")
    last_rv = max(int(e["object"]["metadata"]["resourceVersion"]) for e in w1.events())
    assert w1.stop() == 0
    a2, c = gap(cluster, ns, a, "Succeeded", "gone", "new")   # while the watcher is down
    w2 = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--namespace", ns, "-resourceVersion", str(last_rv)])
    w2.wait_log("relisting", timeout=60)
    w2.wait_events(lambda ev: len(ev) >= 2, what="the relisted objects")
    log = w2.log_text()
    assert "410" in log
    got = {(e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"]) for e in w2.events()}
    assert got == {("keep", a2["metadata"]["resourceVersion"]), ("new", c["metadata"]["resourceVersion"])}
    assert w2.stop() == 0


def test_gap_is_recovered_by_diffing_the_relist(cluster, injector, watcher_factory, tmp_path):
    """While the watcher cannot watch, objects change, vanish and appear, and
    history is compacted away; the relist is diffed against what it knew."""
    ns = cluster.namespace()
    a, b, c = (cluster.create_wf(ns, n) for n in ("changed", "vanished", "same"))
    kc = injector.kubeconfig(str(tmp_path / "inj.kubeconfig"))
    w = watcher_factory(["--kubeconfig", kc, "--namespace", ns, "--watch-timeout-min", "2", "--watch-timeout-max", "3"])
    w.wait_events(lambda ev: len(ev) >= 3, what="initial objects")
    injector.hold = True
    n_watches = len(injector.watches)
    w.wait_log("held by the fault injector")
    a2, d = gap(cluster, ns, a, "Failed", "vanished", "appeared")
    injector.hold = False
    w.wait_log("relisting", timeout=60)
    w.wait_events(lambda ev: len(ev) >= 6, timeout=60, what="recovered changes")
    ev = w.events()
    assert len(injector.watches) > n_watches
    assert [e.get("recovered", False) for e in ev[:3]] == [False] * 3
    rec = {(e["type"], e["object"]["metadata"]["name"], e["object"]["metadata"]["resourceVersion"]) for e in ev[3:]}
    assert rec == {("MODIFIED", "changed", a2["metadata"]["resourceVersion"]),
                   ("DELETED", "vanished", b["metadata"]["resourceVersion"]),
                   ("ADDED", "appeared", d["metadata"]["resourceVersion"])}
    assert all(e["recovered"] is True for e in ev[3:])
    gone = [e for e in ev[3:] if e["type"] == "DELETED"][0]["object"]
    assert gone["metadata"]["uid"] == b["metadata"]["uid"] and gone["metadata"]["namespace"] == ns
    assert gone["kind"] == "Workflow" and gone["apiVersion"] == "argoproj.io/v1alpha1"
    assert "vanished while not watching" in w.log_text()
    assert len(ev) == 6, "the unchanged object must not be published again"
    assert c["metadata"]["name"] not in [e["object"]["metadata"]["name"] for e in ev[3:]]


def test_streaming_list_refused_falls_back_to_paged_list(cluster, injector, watcher_factory, tmp_path):
    ns = cluster.namespace()
    a = cluster.create_wf(ns, "existing")
    injector.refuse_stream = True
    kc = injector.kubeconfig(str(tmp_path / "inj.kubeconfig"))
    w = watcher_factory(["--kubeconfig", kc, "--namespace", ns])   # --list-mode auto
    w.wait_log("streaming list not available")
    w.wait_ready()
    b = cluster.create_wf(ns, "later")
    w.wait_events(lambda ev: len(ev) >= 2, what="listed and watched events")
    assert ids(w.events()) == [("ADDED", "existing", a["metadata"]["resourceVersion"]),
                               ("ADDED", "later", b["metadata"]["resourceVersion"])]
    # one refused streaming list, then plain watches from the LIST's resourceVersion
    assert injector.watches[0].get("sendInitialEvents") == "true"
    assert all("sendInitialEvents" not in q for q in injector.watches[1:])
    assert injector.watches[1]["resourceVersion"]
