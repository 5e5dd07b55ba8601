"""The first vertical slice: list + watch Workflows on a real API server and
print each event as the API server's watch event, byte for byte."""
import json
import subprocess

import pytest

from conftest import BINARY, GROUP, PLURAL, VERSION, wait_until


def kinds_and_rvs(events):
    return [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in events]


@pytest.mark.parametrize("list_mode", ["stream", "list"])
def test_create_update_patch_delete_exact_events(cluster, watcher_factory, list_mode):
    ns = cluster.namespace()
    w = watcher_factory(["-kubeconfig", cluster.kubeconfig, "--namespace", ns, "--list-mode", list_mode])
    w.wait_ready()
    created = cluster.create_wf(ns, "wf-a")
    obj = dict(created)
    obj["status"] = {"phase": "Running", "nodes": {"wf-a": {"id": "wf-a", "phase": "Running", "type": "Pod"}}}
    updated = cluster.update_wf(obj)
    patched = cluster.patch_wf(ns, "wf-a", {"metadata": {"labels": {"workflows.argoproj.io/phase": "Running"}}})
    cluster.delete_wf(ns, "wf-a")
    w.wait_events(lambda ev: any(e["type"] == "DELETED" for e in ev), what="DELETED event")
    ev = w.events()
    expected = [("ADDED", created["metadata"]["resourceVersion"]),
                ("MODIFIED", updated["metadata"]["resourceVersion"]),
                ("MODIFIED", patched["metadata"]["resourceVersion"])]
    assert kinds_and_rvs(ev)[:3] == expected
    assert len(ev) == 4 and ev[3]["type"] == "DELETED"
    assert int(ev[3]["object"]["metadata"]["resourceVersion"]) > int(patched["metadata"]["resourceVersion"])
    assert ev[1]["object"]["status"]["phase"] == "Running"
    assert all(e["object"]["metadata"]["uid"] == created["metadata"]["uid"] for e in ev)
    assert w.stop() == 0


def test_lines_are_the_api_servers_bytes(cluster, watcher_factory):
    """Each line equals, byte for byte, what a raw watch with the official
    client receives from the same resourceVersion, plus the stable id as the
    event's last field."""
    ns = cluster.namespace()
    start_rv = cluster.list_wf(ns)["metadata"]["resourceVersion"]
    w = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--namespace", ns, "-resourceVersion", start_rv])
    w.wait_log("resuming the watch")
    wf = cluster.create_wf(ns, "bytes", status={"phase": "Pending", "estimatedDuration": 9007199254740993,
                                                "message": "caf\u00e9 \u2603 \"quoted\" <tag> & \\"})
    cluster.patch_wf(ns, "bytes", {"status": {"phase": "Succeeded", "progress": "1/1"}})
    cluster.delete_wf(ns, "bytes")
    w.wait_events(lambda ev: len(ev) >= 3, what="3 events")
    resp = cluster.custom.list_namespaced_custom_object(
        GROUP, VERSION, ns, PLURAL, watch=True, resource_version=start_rv, timeout_seconds=2,
        _preload_content=False)
    theirs = [l for l in resp.data.split(b"\n") if l]
    ours = [l.rstrip(b"\n") for l in w.raw_lines()]
    assert len(theirs) == 3
    ids = []
    for line in theirs:
        m = json.loads(line)["object"]["metadata"]
        ids.append(f'{m["uid"]}/deleted' if json.loads(line)["type"] == "DELETED" else f'{m["uid"]}/{m["resourceVersion"]}')
    assert ours == [t[:-1] + b',"id":"' + i.encode() + b'"}' for t, i in zip(theirs, ids)]
    # int64 beyond double precision survived untouched
    assert b"9007199254740993" in ours[0]
    assert wf["metadata"]["uid"].encode() in ours[2]


def test_existing_object_appears_as_added(cluster, watcher_factory):
    ns = cluster.namespace()
    a = cluster.create_wf(ns, "before-1", status={"phase": "Succeeded"})
    b = cluster.create_wf(ns, "before-2")
    w = watcher_factory(["-kubeconfig", cluster.kubeconfig, "--namespace", ns])
    w.wait_ready()
    w.wait_events(lambda ev: len(ev) >= 2, what="2 ADDED events")
    ev = sorted(w.events(), key=lambda e: e["object"]["metadata"]["name"])
    assert kinds_and_rvs(ev) == [("ADDED", a["metadata"]["resourceVersion"]), ("ADDED", b["metadata"]["resourceVersion"])]
    assert ev[0]["object"]["status"]["phase"] == "Succeeded"
    c = cluster.create_wf(ns, "after")
    w.wait_events(lambda ev: len(ev) >= 3, what="third event")
    assert kinds_and_rvs(w.events())[2] == ("ADDED", c["metadata"]["resourceVersion"])
    assert len(w.events()) == 3


def test_paged_list_returns_every_object(cluster, watcher_factory):
    ns = cluster.namespace()
    made = {cluster.create_wf(ns, f"p-{i}")["metadata"]["name"] for i in range(7)}
    w = watcher_factory(["-kubeconfig", cluster.kubeconfig, "--namespace", ns, "--list-mode", "list",
                         "--page-size", "2"])
    w.wait_ready()
    w.wait_events(lambda ev: len(ev) >= 7, what="7 ADDED events")
    assert {e["object"]["metadata"]["name"] for e in w.events()} == made
    assert all(e["type"] == "ADDED" for e in w.events())
    assert "listed 7 workflows" in w.log_text()


def test_two_namespaces_and_all_namespaces(cluster, watcher_factory):
    n1, n2, other = cluster.namespace("a"), cluster.namespace("b"), cluster.namespace("c")
    two = watcher_factory(["-kubeconfig", cluster.kubeconfig, "--namespace", n1, "--namespace", n2])
    every = watcher_factory(["-kubeconfig", cluster.kubeconfig])
    wait_until(lambda: two.log_text().count("streaming list complete") + two.log_text().count(" listed ") >= 2,
               what="both namespace lists")
    every.wait_ready()
    x = cluster.create_wf(n1, "x")
    y = cluster.create_wf(n2, "y")
    z = cluster.create_wf(other, "z")
    every.wait_events(lambda ev: {e["object"]["metadata"]["uid"] for e in ev} >= {x["metadata"]["uid"], y["metadata"]["uid"], z["metadata"]["uid"]},
                      what="all three in the all-namespaces watcher")
    two.wait_events(lambda ev: len(ev) >= 2, what="two events")
    got = {(e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"]) for e in two.events()}
    assert got == {(n1, "x"), (n2, "y")}
    assert len(two.events()) == 2


def test_object_of_about_one_megabyte(cluster, watcher_factory):
    ns = cluster.namespace()
    w = watcher_factory(["-kubeconfig", cluster.kubeconfig, "--namespace", ns])
    w.wait_ready()
    nodes = {f"big-{i}": {"id": f"big-{i}", "name": f"big[{i}]", "phase": "Succeeded", "type": "Pod",
                          "message": "x" * 900} for i in range(1000)}
    wf = cluster.create_wf(ns, "big", status={"phase": "Running", "nodes": nodes})
    w.wait_events(lambda ev: len(ev) >= 1, timeout=60, what="the big event")
    line = w.raw_lines()[0]
    assert len(line) > 1_000_000
    ev = json.loads(line)
    assert ev["object"]["metadata"]["resourceVersion"] == wf["metadata"]["resourceVersion"]
    assert ev["object"]["status"]["nodes"] == nodes


@pytest.mark.parametrize("list_mode,verb", [("stream", "watch"), ("list", "list")])
def test_forbidden_user_gets_a_clear_error(cluster, watcher_factory, list_mode, verb):
    w = watcher_factory(["-kubeconfig", cluster.nobody_kubeconfig, "--list-mode", list_mode])
    rc = w.proc.wait(timeout=60)
    assert rc == 1
    errors = [r["msg"] for r in w.log_records() if r["level"] == "error"]
    assert len(errors) == 2, w.log_text()
    assert "403 Forbidden" in errors[0] and 'User "nobody"' in errors[0] and f"cannot {verb}" in errors[0]
    assert errors[1].startswith('the API server refused user "nobody" of kubeconfig ') and 'context "nobody"' in errors[1]
    assert w.events() == []


def test_signals_exit_zero(cluster, watcher_factory):
    for sig in (2, 15):
        w = watcher_factory(["-kubeconfig", cluster.kubeconfig])
        w.wait_ready()
        assert w.stop(sig) == 0


def test_cli_help_version_and_usage_errors():
    out = subprocess.run([BINARY, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--kubeconfig" in out.stdout and "-resourceVersion" in out.stdout
    out = subprocess.run([BINARY, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("workflow-watcher ")
    out = subprocess.run([BINARY, "--no-such-flag"], capture_output=True, text=True)
    assert out.returncode == 2 and "no-such-flag" in out.stderr
    out = subprocess.run([BINARY, "--page-size", "zero"], capture_output=True, text=True)
    assert out.returncode == 2 and "--page-size" in out.stderr
    out = subprocess.run([BINARY, "-kubeconfig", "/nonexistent/kubeconfig"], capture_output=True, text=True)
    assert out.returncode == 2 and "/nonexistent/kubeconfig" in out.stderr
