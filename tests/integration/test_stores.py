"""Checkpoint stores through the real binary: configmap:// (read back with the
official Kubernetes client) and redis:// (a real redis-server, read back with
the redis client)."""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import uuid
import zlib

import pytest
import redis as redislib
from kubernetes.client.rest import ApiException

from conftest import wait_until
from fault_injector import FaultInjector
from test_auth import admin_user, cluster_entry, write_kubeconfig

MANAGED_BY = "app.kubernetes.io/managed-by"
PART_LABEL = "workflow-watcher.io/checkpoint"
ROLE_LABEL = "workflow-watcher.io/role"
SAVE_FAST = ["--checkpoint-interval", "1"]
SAVE_NEVER = ["--checkpoint-interval", "3600"]  # no timed save: only the shutdown's


def parse_blob(blob):
    """The lead's checkpoint format: a JSON header line, then one line per object."""
    text = blob.decode()
    head, _, rest = text.partition("\n")
    header = json.loads(head)
    rows = [l.split("\t") for l in rest.split("\n") if l]
    assert header["format"] == "workflow-watcher-checkpoint"
    assert header["objects"] == len(rows)
    return header, rows


def stream_rv(header):
    return int(header["streams"][0]["resourceVersion"])


def messages(w):
    """The log messages, unescaped (the log is JSON lines)."""
    return "\n".join(r.get("msg", "") for r in w.log_records())


def exit_code(w, timeout=60):
    """Waits for the watcher to exit by itself; its output is then complete."""
    w.proc.wait(timeout=timeout)
    return w.stop()  # joins the output readers


def event_names(w):
    return [(e["type"], e["object"]["metadata"]["name"]) for e in w.events()]


def sink_lines(path):
    """The complete lines of a file sink, parsed."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    return [json.loads(l) for l in data.split(b"\n")[:-1]]


def sink_names(path):
    return [e["object"]["metadata"]["name"] for e in sink_lines(path)]


def parse_journal(text):
    """Journal records: {uid: (namespace, name, rv)}; every line complete,
    with the crc32 of its fields last (open-snapshot markers are skipped)."""
    assert text is not None, "no journal"
    assert text == "" or text.endswith("\n"), repr(text)
    out = {}
    for line in text.split("\n")[:-1]:
        body, _, crc = line.rpartition("\t")
        assert crc == "%08x" % zlib.crc32(body.encode()), repr(line)
        f = body.split("\t")
        if f[0] in ("#relist", "#kind"):
            continue
        assert len(f) == 4, repr(line)
        out[f[0]] = tuple(f[1:])
    return out


def expected_records(ns, objs):
    return {o["metadata"]["uid"]: (ns, o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in objs}


def journal_scenario(cluster, watcher_factory, tmp_path, ns, url, read_journal, read_checkpoint):
    """Objects published after the last save are in the journal (no save
    happens: long interval), survive kill -9, and a save (at SIGTERM) empties
    the journal and lists them. read_journal() -> records text or None;
    read_checkpoint() -> rows of the saved checkpoint or None."""
    args = ["--kubeconfig", cluster.kubeconfig, "--namespace", ns, "--checkpoint", url, *SAVE_NEVER]
    # a checkpoint in the store: one object, saved at shutdown
    base = cluster.create_wf(ns, "base")
    w0 = watcher_factory([*args, "--sink", "file://" + str(tmp_path / "out0.jsonl")])
    wait_until(lambda: sink_names(str(tmp_path / "out0.jsonl")) == ["base"], what="base in the sink")
    assert w0.stop() == 0
    assert [r[2] for r in read_checkpoint()] == ["base"]
    assert not read_journal(), read_journal()  # the save emptied it (or it was never written)

    out1 = str(tmp_path / "out1.jsonl")
    w1 = watcher_factory([*args, "--sink", "file://" + out1])
    w1.wait_log("resuming: 1 known objects")
    objs = [cluster.create_wf(ns, n) for n in ("a", "b", "c")]
    wait_until(lambda: sorted(sink_names(out1)) == ["a", "b", "c"], what="a, b, c in the sink")
    records = parse_journal(read_journal())
    assert records == expected_records(ns, objs)
    assert [r[2] for r in read_checkpoint()] == ["base"]  # no save since
    w1.proc.kill()  # kill -9: no shutdown save
    w1.proc.wait(timeout=30)
    assert parse_journal(read_journal()) == records

    # the restart reads the journal; its shutdown save lists a, b, c and
    # empties the journal
    out2 = str(tmp_path / "out2.jsonl")
    w2 = watcher_factory([*args, "--sink", "file://" + out2])
    w2.wait_log("resuming: 1 known objects")
    w2.wait_log("the journal names 3 objects")
    d = cluster.create_wf(ns, "d")  # after the journaled ones in the watch: the watcher got past them
    wait_until(lambda: "d" in sink_names(out2), what="d in the sink")
    assert w2.stop() == 0
    assert not read_journal(), read_journal()
    saved = {r[0]: (r[1], r[2], r[3]) for r in read_checkpoint()}  # uid: (namespace, name, rv)
    assert saved == {**expected_records(ns, [base, d]), **records}
    return w1, w2


# ---- configmap:// ----

def read_cm(cluster, ns, name):
    try:
        return cluster.core.read_namespaced_config_map(name, ns)
    except ApiException as e:
        if e.status == 404:
            return None
        raise


def part_names(cluster, ns, name):
    items = cluster.core.list_namespaced_config_map(
        ns, label_selector=f"{PART_LABEL}={name},{ROLE_LABEL}!=journal").items
    return sorted(i.metadata.name for i in items)


def cm_checkpoint(cluster, ns, name):
    """(ConfigMap, header, rows) as a reader outside the watcher sees them, or
    None while there is no complete checkpoint. Checks the crc32 and sizes."""
    for _ in range(5):
        cm = read_cm(cluster, ns, name)
        if cm is None:
            return None
        data = cm.data
        if not data.get("parts"):
            comp = base64.b64decode(cm.binary_data["checkpoint"])
            break
        parts = [read_cm(cluster, ns, p) for p in data["parts"].split(",")]
        if None not in parts:
            comp = b"".join(base64.b64decode(p.binary_data["part"]) for p in parts)
            break
        # a newer generation was committed (and ours deleted) as we read
        again = read_cm(cluster, ns, name)
        assert again.metadata.resource_version != cm.metadata.resource_version, \
            f"a part listed by {name} is missing: {data['parts']}"
    else:
        raise AssertionError(f"{name} kept changing while it was read")
    assert int(data["compressed-bytes"]) == len(comp)
    assert data["crc32"] == "%08x" % zlib.crc32(comp)
    blob = zlib.decompress(comp)
    assert int(data["bytes"]) == len(blob)
    header, rows = parse_blob(blob)
    return cm, header, rows


def cm_args(cluster, ns, url, *extra):
    return ["--kubeconfig", cluster.kubeconfig, "--namespace", ns, "--checkpoint", url, *SAVE_FAST, *extra]


def test_configmap_created_and_advances(cluster, watcher_factory):
    ns = cluster.namespace("cm")
    w = watcher_factory(cm_args(cluster, ns, f"configmap://{ns}/ww-ckpt"))
    w.wait_ready()
    a = cluster.create_wf(ns, "a")
    w.wait_events(lambda ev: len(ev) == 1, what="ADDED a")
    first = wait_until(lambda: (c := cm_checkpoint(cluster, ns, "ww-ckpt")) and c[1]["objects"] == 1 and c,
                       what="a checkpoint with one object")
    cm, header, rows = first
    assert cm.metadata.labels[MANAGED_BY] == "workflow-watcher"
    assert cm.data["format"] == "workflow-watcher checkpoint, zlib-compressed in binaryData"
    assert "parts" not in cm.data and list(cm.binary_data) == ["checkpoint"]
    assert header["streams"][0]["namespace"] == ns
    assert rows[0][0] == a["metadata"]["uid"] and rows[0][2] == "a"
    assert rows[0][3] == a["metadata"]["resourceVersion"]
    rv1 = stream_rv(header)

    b = cluster.create_wf(ns, "b")
    patched = cluster.patch_wf(ns, "a", {"status": {"phase": "Running"}})
    w.wait_events(lambda ev: len(ev) == 3, what="ADDED b, MODIFIED a")

    def advanced():
        c = cm_checkpoint(cluster, ns, "ww-ckpt")
        if not c or c[1]["objects"] != 2:
            return None
        rvs = {r[2]: r[3] for r in c[2]}
        want = {"a": patched["metadata"]["resourceVersion"], "b": b["metadata"]["resourceVersion"]}
        return c if rvs == want else None

    cm2, header2, _ = wait_until(advanced, what="the checkpoint to follow b and the new a")
    assert stream_rv(header2) > rv1
    assert stream_rv(header2) >= int(patched["metadata"]["resourceVersion"])
    assert int(cm2.metadata.resource_version) > int(cm.metadata.resource_version)
    assert w.stop() == 0


def test_configmap_restart_resumes_without_republishing(cluster, watcher_factory):
    ns = cluster.namespace("cm")
    url = f"configmap://{ns}/resume"
    for n in ("a", "b", "c"):
        cluster.create_wf(ns, n)
    w1 = watcher_factory(cm_args(cluster, ns, url))
    w1.wait_events(lambda ev: len(ev) == 3, what="3 ADDED")
    wait_until(lambda: (c := cm_checkpoint(cluster, ns, "resume")) and c[1]["objects"] == 3,
               what="a checkpoint with 3 objects")
    assert w1.stop() == 0
    assert sorted(event_names(w1)) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]

    # while no watcher runs: one change, one new object
    cluster.patch_wf(ns, "a", {"status": {"phase": "Succeeded"}})
    cluster.create_wf(ns, "d")
    w2 = watcher_factory(cm_args(cluster, ns, url))
    w2.wait_log("resuming: 3 known objects")
    w2.wait_events(lambda ev: len(ev) >= 2, what="the changes made while stopped")
    cluster.create_wf(ns, "e")
    w2.wait_events(lambda ev: any(e["object"]["metadata"]["name"] == "e" for e in ev), what="ADDED e")
    # b and c were published by the first run and did not change: not again
    assert sorted(event_names(w2)) == [("ADDED", "d"), ("ADDED", "e"), ("MODIFIED", "a")]
    assert w2.stop() == 0


def test_configmap_external_edit_stops_the_watcher(cluster, watcher_factory):
    ns = cluster.namespace("cm")
    w = watcher_factory(cm_args(cluster, ns, f"configmap://{ns}/edited"))
    w.wait_ready()
    cluster.create_wf(ns, "a")
    wait_until(lambda: (c := cm_checkpoint(cluster, ns, "edited")) and c[1]["objects"] == 1, what="the checkpoint")
    expected_rv = read_cm(cluster, ns, "edited").metadata.resource_version
    # someone else writes the ConfigMap (as a second watcher would)
    cluster.core.patch_namespaced_config_map("edited", ns, {"data": {"note": "edited by hand"}})
    cluster.create_wf(ns, "b")
    assert exit_code(w) == 1
    text = w.log_text()
    err = [r for r in w.log_records() if r.get("level") == "error"]
    assert err, text
    msg = err[0]["msg"]
    assert f"configmap {ns}/edited was changed by another writer" in msg
    assert f"resourceVersion {expected_rv} expected" in msg
    assert "second workflow-watcher" in msg
    # the edit was not overwritten
    assert read_cm(cluster, ns, "edited").data["note"] == "edited by hand"


def test_configmap_split_into_parts(cluster, watcher_factory):
    ns = cluster.namespace("cm")
    url = f"configmap://{ns}/big?part-bytes=2000"
    # random names, so that the checkpoint does not compress below 3 parts
    names = [f"wf-{i:02d}-{uuid.uuid4().hex}{uuid.uuid4().hex}{uuid.uuid4().hex}" for i in range(60)]
    for n in names:
        cluster.create_wf(ns, n, labels={"batch": "one"})
    w1 = watcher_factory(cm_args(cluster, ns, url))
    w1.wait_events(lambda ev: len(ev) == 60, what="60 ADDED")

    def settled():
        c = cm_checkpoint(cluster, ns, "big")
        if not c or c[1]["objects"] != 60:
            return None
        listed = sorted(c[0].data["parts"].split(","))
        return c if part_names(cluster, ns, "big") == listed else None

    cm, header, _ = wait_until(settled, what="a split checkpoint of 60 objects, old parts removed")
    parts1 = cm.data["parts"].split(",")
    gen1 = int(cm.data["generation"])
    assert len(parts1) >= 3, cm.data
    assert int(cm.data["compressed-bytes"]) > 2 * 2000
    assert cm.data["format"].startswith("workflow-watcher checkpoint, zlib-compressed, split")
    assert not cm.binary_data
    for i, p in enumerate(parts1):
        assert p == f"big-{gen1}-{i}"
        part = read_cm(cluster, ns, p)
        assert part.metadata.labels[PART_LABEL] == "big"
        assert part.metadata.labels[MANAGED_BY] == "workflow-watcher"
        assert len(base64.b64decode(part.binary_data["part"])) <= 2000

    # changes: a new generation of parts is committed, the old one deleted
    patched = {n: cluster.patch_wf(ns, n, {"status": {"phase": "Succeeded"}})["metadata"]["resourceVersion"]
               for n in names[:10]}
    w1.wait_events(lambda ev: len(ev) == 70, what="10 MODIFIED")

    def next_generation():
        c = settled()
        if not c or int(c[0].data["generation"]) <= gen1:
            return None
        rvs = {r[2]: r[3] for r in c[2]}
        return c if all(rvs[n] == patched[n] for n in names[:10]) else None

    cm2, header2, _ = wait_until(next_generation, what="a newer generation with the 10 changes")
    parts2 = cm2.data["parts"].split(",")
    assert not set(parts1) & set(parts2)
    assert part_names(cluster, ns, "big") == sorted(parts2)
    assert stream_rv(header2) > stream_rv(header)
    assert w1.stop() == 0

    # a restart loads the parts: nothing is published again
    cluster.create_wf(ns, "late")
    w2 = watcher_factory(cm_args(cluster, ns, url))
    w2.wait_log("resuming: 60 known objects")
    w2.wait_events(lambda ev: len(ev) >= 1, what="ADDED late")
    cluster.create_wf(ns, "later")
    w2.wait_events(lambda ev: len(ev) >= 2, what="ADDED later")
    assert event_names(w2) == [("ADDED", "late"), ("ADDED", "later")]
    assert w2.stop() == 0

    # a part deleted by hand: the start fails and says which one
    final = read_cm(cluster, ns, "big").data["parts"].split(",")
    cluster.core.delete_namespaced_config_map(final[1], ns)
    w3 = watcher_factory(cm_args(cluster, ns, url))
    assert exit_code(w3) == 1
    assert f"configmap {ns}/big lists the part {ns}/{final[1]}, which does not exist" in w3.log_text()
    assert w3.events() == []


def test_configmap_taken_part_name_uses_the_next_generation(cluster, watcher_factory):
    """A part name that is taken (a part left by an interrupted save, or
    anyone's ConfigMap) is not overwritten: the save moves on to the next
    generation, and the cleanup leaves a ConfigMap without our labels alone."""
    ns = cluster.namespace("cm")
    cluster.core.create_namespaced_config_map(ns, {"metadata": {"name": "taken-1-0"}, "data": {"x": "1"}})
    for i in range(20):
        cluster.create_wf(ns, f"wf-{i:02d}-{uuid.uuid4().hex}{uuid.uuid4().hex}{uuid.uuid4().hex}")
    w = watcher_factory(cm_args(cluster, ns, f"configmap://{ns}/taken?part-bytes=1024"))
    w.wait_events(lambda ev: len(ev) == 20, what="20 ADDED")
    cm, _, _ = wait_until(lambda: (c := cm_checkpoint(cluster, ns, "taken")) and c[1]["objects"] == 20 and c,
                          what="a split checkpoint of 20 objects")
    assert int(cm.data["generation"]) >= 2 and "taken-1-0" not in cm.data["parts"].split(","), cm.data
    w.wait_log(f"configmap {ns}/taken-1-0 exists already (left by an interrupted save?); using the next generation")
    assert w.stop() == 0
    assert read_cm(cluster, ns, "taken-1-0").data == {"x": "1"}


def relay_writes(inj):
    """Teaches the fault injector (a GET relay) PUT, POST and DELETE, and to
    forward the next inj.drops PUTs whose path holds inj.drop_answer but drop
    their answers (the connection closes without a reply)."""
    inj.drop_answer, inj.drops, inj.dropped = None, 0, []

    def relay(h):
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else None
        conn = inj._upstream()
        conn.request(h.command, h.path, body=body,
                     headers={"Accept": "application/json", "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if h.command == "PUT" and inj.drops and h.path.split("?")[0].endswith(inj.drop_answer):
            inj.drops -= 1
            inj.dropped.append((h.path, resp.status))
            h.close_connection = True
            h.connection.shutdown(socket.SHUT_RDWR)
            return
        h.send_response(resp.status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    cls = inj.server.RequestHandlerClass
    cls.do_PUT = cls.do_POST = cls.do_DELETE = relay
    return inj


@pytest.mark.parametrize("drops", [1, 2])
def test_configmap_lost_answer_is_not_a_conflict(cluster, watcher_factory, tmp_path, drops):
    """An update that landed but whose answer was lost is not taken for
    another writer's. One drop: libcurl resends the PUT on a fresh
    connection and gets 409 for our own write. Two drops (the resent one
    too): the save fails, and the next one finds our write in place."""
    inj = relay_writes(FaultInjector(cluster).start())
    try:
        ns = cluster.namespace("cm")
        kc = inj.kubeconfig(str(tmp_path / "relay.kubeconfig"))
        w = watcher_factory(["--kubeconfig", kc, "--namespace", ns, "--checkpoint", f"configmap://{ns}/lost",
                             *SAVE_FAST])
        w.wait_ready()
        cluster.create_wf(ns, "a")
        wait_until(lambda: (c := cm_checkpoint(cluster, ns, "lost")) and c[1]["objects"] == 1, what="the checkpoint")
        inj.drop_answer, inj.drops = f"/namespaces/{ns}/configmaps/lost", drops
        cluster.create_wf(ns, "b")
        wait_until(lambda: len(inj.dropped) == drops, what="updates whose answers are dropped")
        assert inj.dropped[0][1] == 200  # the API server did the update
        if drops == 2:
            assert inj.dropped[1][1] == 409  # libcurl's resend
            w.wait_log("cannot save the checkpoint")
        cluster.create_wf(ns, "c")
        wait_until(lambda: (c := cm_checkpoint(cluster, ns, "lost")) and c[1]["objects"] == 3,
                   what="the checkpoint saved again")
        if drops == 1:
            assert "our save landed though its answer was lost" in w.log_text()
        else:
            assert "our previous save landed though its answer was lost" in w.log_text()
        assert "another writer" not in w.log_text()
        assert w.proc.poll() is None
        assert w.stop() == 0
    finally:
        inj.close()


def random_name(n):
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % 36] for b in os.urandom(n))


def test_configmap_large_checkpoint_in_one_configmap(cluster, watcher_factory):
    """A checkpoint of about 90 KiB compressed, under the default part-bytes:
    one ConfigMap, whose API answers are that large too."""
    ns = cluster.namespace("cm")
    url = f"configmap://{ns}/large"
    names = [f"w{i:03d}-" + random_name(240) for i in range(600)]
    for n in names:
        cluster.create_wf(ns, n)
    w1 = watcher_factory(cm_args(cluster, ns, url))
    w1.wait_events(lambda ev: len(ev) == 600, timeout=60, what="600 ADDED")
    cm, header, rows = wait_until(lambda: (c := cm_checkpoint(cluster, ns, "large")) and c[1]["objects"] == 600 and c,
                                  what="a checkpoint of 600 objects")
    assert int(cm.data["compressed-bytes"]) > 80 * 1024
    assert "parts" not in cm.data
    rv0 = cluster.patch_wf(ns, names[0], {"status": {"phase": "Running"}})["metadata"]["resourceVersion"]
    wait_until(lambda: {r[2]: r[3] for r in cm_checkpoint(cluster, ns, "large")[2]}[names[0]] == rv0,
               what="an update of the large ConfigMap")
    assert w1.stop() == 0
    assert "cannot save" not in w1.log_text()
    w2 = watcher_factory(cm_args(cluster, ns, url))
    w2.wait_log("resuming: 600 known objects")
    cluster.create_wf(ns, "after")
    w2.wait_events(lambda ev: len(ev) >= 1, what="ADDED after")
    assert event_names(w2) == [("ADDED", "after")]
    assert w2.stop() == 0


def test_configmap_damaged_checkpoint_refused(cluster, watcher_factory):
    ns = cluster.namespace("cm")
    url = f"configmap://{ns}/damaged"
    cluster.create_wf(ns, "a")
    w1 = watcher_factory(cm_args(cluster, ns, url))
    w1.wait_events(lambda ev: len(ev) == 1, what="ADDED a")
    wait_until(lambda: (c := cm_checkpoint(cluster, ns, "damaged")) and c[1]["objects"] == 1, what="the checkpoint")
    assert w1.stop() == 0
    good = read_cm(cluster, ns, "damaged").data["crc32"]
    cluster.core.patch_namespaced_config_map("damaged", ns, {"data": {"crc32": "00000000"}})
    w2 = watcher_factory(cm_args(cluster, ns, url))
    assert exit_code(w2) == 1
    assert f"the checkpoint in configmap {ns}/damaged fails its checksum (crc32 {good}" in w2.log_text()
    assert w2.events() == []

    # a ConfigMap of someone else's under that name is not taken over
    cluster.core.create_namespaced_config_map(ns, {"metadata": {"name": "theirs"}, "data": {"x": "1"}})
    w3 = watcher_factory(cm_args(cluster, ns, f"configmap://{ns}/theirs"))
    assert exit_code(w3) == 1
    assert f"configmap {ns}/theirs exists but holds no workflow-watcher checkpoint" in w3.log_text()
    assert read_cm(cluster, ns, "theirs").data == {"x": "1"}


def put_inline_checkpoint(cluster, ns, name, comp, size):
    """A ConfigMap as the watcher writes an unsplit checkpoint, holding the
    compressed bytes comp (with their right crc32) and data["bytes"] = size
    (None: left out)."""
    data = {"format": "workflow-watcher checkpoint, zlib-compressed in binaryData",
            "compressed-bytes": str(len(comp)), "crc32": "%08x" % zlib.crc32(comp),
            "generation": "0", "writer": "a test", "save": "1"}
    if size is not None:
        data["bytes"] = str(size)
    cluster.core.create_namespaced_config_map(ns, {
        "metadata": {"name": name, "labels": {MANAGED_BY: "workflow-watcher"}},
        "data": data, "binaryData": {"checkpoint": base64.b64encode(comp).decode()}})


def test_configmap_recorded_size_caps_the_inflate(cluster, watcher_factory):
    """data["bytes"] is checked before the blob is inflated, and caps it: a
    blob that inflates to more (64 MiB of zeros in 64 KiB) is refused as soon
    as it passes the recorded size; a recorded size that no checkpoint can
    have, or none, is refused before inflating."""
    ns = cluster.namespace("cm")
    small = zlib.compress(b"x" * 100)
    cases = [
        ("bomb", zlib.compress(bytes(64 << 20), 9), 1000,
         f'the checkpoint in configmap {ns}/bomb inflates to more than the 1000 bytes data["bytes"] says: it is '
         'damaged'),
        ("huge", small, 10 ** 12,
         f'configmap {ns}/huge: data["bytes"] says the checkpoint is 1000000000000 bytes, more than a checkpoint '
         'may be (4294967296 bytes): it is damaged'),
        ("absurd", small, 10 ** 8,
         f'configmap {ns}/absurd: data["bytes"] says the checkpoint is 100000000 bytes, more than its compressed '
         f'bytes can hold ({len(small) * 1032 + 1024} bytes)'),
        ("nosize", small, None, f'configmap {ns}/nosize has no valid data["bytes"]'),
    ]
    for name, comp, size, want in cases:
        put_inline_checkpoint(cluster, ns, name, comp, size)
        w = watcher_factory(cm_args(cluster, ns, f"configmap://{ns}/{name}"))
        assert exit_code(w) != 0
        assert want in messages(w), messages(w)
        assert w.events() == []


def test_configmap_forbidden_names_verb_and_rbac(cluster, watcher_factory):
    """A user without rights on configmaps: the error names the verb, the
    ConfigMap and what the watcher's identity needs."""
    ns = cluster.namespace("cm")
    w = watcher_factory(["--kubeconfig", cluster.nobody_kubeconfig, "--namespace", ns,
                         "--checkpoint", f"configmap://{ns}/ckpt", *SAVE_FAST])
    assert exit_code(w) == 1
    text = messages(w)
    assert f"cannot get configmap {ns}/ckpt: HTTP 403 Forbidden" in text
    assert 'User "nobody" cannot get resource "configmaps"' in text
    assert f"needs get, create, update, list and delete on configmaps in namespace {ns}" in text
    assert w.events() == []


def test_configmap_cleanup_without_rights_is_a_warning(cluster, watcher_factory, tmp_path):
    """A user who may get, create and update configmaps but not list or
    delete them: split checkpoints are still saved and loaded; the old parts
    stay, with one warning naming what is missing."""
    ns = cluster.namespace("cm")
    user = f"limited-{ns}"
    cluster.rbac.create_namespaced_role(ns, {
        "metadata": {"name": "limited"},
        "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["list", "watch"]},
                  {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update"]}]})
    cluster.rbac.create_namespaced_role_binding(ns, {
        "metadata": {"name": "limited"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "limited"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
    kc = write_kubeconfig(tmp_path / "limited.kubeconfig", cluster_entry(cluster), admin_user(cluster, **{"as": user}))
    names = [f"wf-{i:02d}-{uuid.uuid4().hex}{uuid.uuid4().hex}{uuid.uuid4().hex}" for i in range(60)]
    for n in names:
        cluster.create_wf(ns, n)
    url = f"configmap://{ns}/limited?part-bytes=2000"
    w = watcher_factory(["--kubeconfig", kc, "--namespace", ns, "--checkpoint", url, *SAVE_FAST])
    w.wait_events(lambda ev: len(ev) == 60, what="60 ADDED")
    cm, _, _ = wait_until(lambda: (c := cm_checkpoint(cluster, ns, "limited")) and c[1]["objects"] == 60 and c,
                          what="a split checkpoint")
    gen1 = int(cm.data["generation"])
    rv0 = cluster.patch_wf(ns, names[0], {"status": {"phase": "Failed"}})["metadata"]["resourceVersion"]
    cm2, _, rows = wait_until(lambda: (c := cm_checkpoint(cluster, ns, "limited"))
                              and int(c[0].data["generation"]) > gen1 and c, what="a newer generation")
    assert {r[2]: r[3] for r in rows}[names[0]] == rv0
    # the older generations' parts are still there: nobody could delete them
    existing = set(part_names(cluster, ns, "limited"))
    assert set(cm.data["parts"].split(",")) <= existing
    assert set(cm2.data["parts"].split(",")) <= existing
    assert w.proc.poll() is None
    assert w.stop() == 0
    warnings = [r["msg"] for r in w.log_records() if r.get("level") == "warn"]
    assert len(warnings) == 1, warnings
    assert f"cannot list the parts of configmap {ns}/limited: HTTP 403 Forbidden" in warnings[0]
    assert "needs get, create, update, list and delete on configmaps" in warnings[0]
    # and a restart with these rights loads the split checkpoint
    cluster.create_wf(ns, "new")
    w2 = watcher_factory(["--kubeconfig", kc, "--namespace", ns, "--checkpoint", url, *SAVE_FAST])
    w2.wait_log("resuming: 60 known objects")
    w2.wait_events(lambda ev: len(ev) >= 1, what="ADDED new")
    assert event_names(w2) == [("ADDED", "new")]
    assert w2.stop() == 0


def read_journal_cm(cluster, ns, name):
    cm = read_cm(cluster, ns, f"{name}-journal")
    return None if cm is None else (cm.data or {}).get("records", "")


def test_configmap_journal_written_and_emptied(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace("cm")
    url = f"configmap://{ns}/jr"
    seen = []

    def read_journal():
        cm = read_cm(cluster, ns, "jr-journal")
        if cm is not None:
            seen.append(cm)
        return None if cm is None else cm.data.get("records", "")

    def read_checkpoint():
        c = cm_checkpoint(cluster, ns, "jr")
        return c and c[2]

    journal_scenario(cluster, watcher_factory, tmp_path, ns, url, read_journal, read_checkpoint)
    cm = read_cm(cluster, ns, "jr-journal")
    assert cm.data["records"] == ""
    assert cm.metadata.labels == {MANAGED_BY: "workflow-watcher", PART_LABEL: "jr", ROLE_LABEL: "journal"}
    assert cm.data["format"].startswith("workflow-watcher journal")
    assert cm.data["checkpoint"] == f"{ns}/jr"
    assert cm.data["writer"] and int(cm.data["seq"]) >= 1
    # it was written with records at some point, by a writer of ours
    assert any(c.data.get("records") for c in seen)
    # the main ConfigMap is not labelled as a part, the journal is no part
    assert part_names(cluster, ns, "jr") == []


def test_configmap_journal_survives_part_cleanup(cluster, watcher_factory):
    """A split checkpoint whose old parts are deleted by label at each save:
    the journal, labelled with the same checkpoint, is never deleted."""
    ns = cluster.namespace("cm")
    url = f"configmap://{ns}/jsplit?part-bytes=2000"
    names = [f"wf-{i:02d}-{uuid.uuid4().hex}{uuid.uuid4().hex}{uuid.uuid4().hex}" for i in range(60)]
    for n in names:
        cluster.create_wf(ns, n)
    w = watcher_factory(cm_args(cluster, ns, url))
    w.wait_events(lambda ev: len(ev) == 60, what="60 ADDED")
    cm, _, _ = wait_until(lambda: (c := cm_checkpoint(cluster, ns, "jsplit")) and c[1]["objects"] == 60 and c,
                          what="a split checkpoint")
    gen1 = int(cm.data["generation"])
    # the journal was written before the first publication and emptied by the save
    wait_until(lambda: read_journal_cm(cluster, ns, "jsplit") == "", what="the journal emptied by the save")
    for n in names[:5]:
        cluster.patch_wf(ns, n, {"status": {"phase": "Running"}})
    cluster.create_wf(ns, "new-one")
    wait_until(lambda: (c := cm_checkpoint(cluster, ns, "jsplit")) and int(c[0].data["generation"]) > gen1
               and c[1]["objects"] == 61 and part_names(cluster, ns, "jsplit") == sorted(c[0].data["parts"].split(",")),
               what="a newer generation, old parts deleted")
    wait_until(lambda: read_journal_cm(cluster, ns, "jsplit") == "", what="the journal emptied again")
    assert w.stop() == 0
    assert read_journal_cm(cluster, ns, "jsplit") == ""
    assert "cannot empty the journal" not in w.log_text()


def test_configmap_foreign_journal_name_refused(cluster, watcher_factory):
    """A ConfigMap of someone else's under NAME-journal is not taken over."""
    ns = cluster.namespace("cm")
    cluster.core.create_namespaced_config_map(ns, {"metadata": {"name": "mine-journal"}, "data": {"x": "1"}})
    w = watcher_factory(cm_args(cluster, ns, f"configmap://{ns}/mine"))
    assert exit_code(w) == 1
    assert f"configmap {ns}/mine-journal exists but holds no workflow-watcher journal" in w.log_text()
    assert read_cm(cluster, ns, "mine-journal").data == {"x": "1"}
    assert w.events() == []


@pytest.mark.parametrize("drops", [1, 2])
def test_configmap_journal_lost_answer_is_not_a_conflict(cluster, watcher_factory, tmp_path, drops):
    """A journal update whose answer was lost (and, with two drops, libcurl's
    resend too) is recognised as ours: the object is published, no conflict."""
    inj = relay_writes(FaultInjector(cluster).start())
    try:
        ns = cluster.namespace("cm")
        kc = inj.kubeconfig(str(tmp_path / "relay.kubeconfig"))
        w = watcher_factory(["--kubeconfig", kc, "--namespace", ns, "--checkpoint", f"configmap://{ns}/jlost",
                             *SAVE_FAST])
        w.wait_ready()
        cluster.create_wf(ns, "a")
        wait_until(lambda: (c := cm_checkpoint(cluster, ns, "jlost")) and c[1]["objects"] == 1, what="the checkpoint")
        wait_until(lambda: read_journal_cm(cluster, ns, "jlost") == "", what="the journal emptied by the save")
        inj.drop_answer, inj.drops = f"/namespaces/{ns}/configmaps/jlost-journal", drops
        cluster.create_wf(ns, "b")
        wait_until(lambda: len(inj.dropped) == drops, what="journal updates whose answers are dropped")
        assert inj.dropped[0][1] == 200  # the API server did the update
        if drops == 2:
            assert inj.dropped[1][1] == 409  # libcurl's resend
            w.wait_log("cannot journal")
        w.wait_events(lambda ev: [e["object"]["metadata"]["name"] for e in ev] == ["a", "b"], what="ADDED b")
        assert "our journal write landed though its answer was lost" in w.log_text()
        wait_until(lambda: (c := cm_checkpoint(cluster, ns, "jlost")) and c[1]["objects"] == 2,
                   what="the checkpoint with b")
        assert "another writer" not in w.log_text()
        assert w.proc.poll() is None
        assert w.stop() == 0
        assert read_journal_cm(cluster, ns, "jlost") == ""
    finally:
        inj.close()


def test_configmap_journal_written_by_another_stops_the_watcher(cluster, watcher_factory):
    ns = cluster.namespace("cm")
    w = watcher_factory(cm_args(cluster, ns, f"configmap://{ns}/jother"))
    w.wait_ready()
    cluster.create_wf(ns, "a")
    wait_until(lambda: read_journal_cm(cluster, ns, "jother") is not None, what="the journal")
    w.wait_events(lambda ev: len(ev) == 1, what="ADDED a")
    # another watcher's journal write, as it would look
    cluster.core.patch_namespaced_config_map("jother-journal", ns,
                                             {"data": {"writer": "elsewhere pid 1 run 0000abcd", "seq": "9",
                                                       "records": "x\ty\tz\t1\n"}})
    cluster.create_wf(ns, "b")
    assert exit_code(w) == 1
    text = messages(w)
    assert f"configmap {ns}/jother-journal (the journal of the checkpoint in {ns}/jother) was changed by another " \
           "writer" in text
    assert "it was last written by elsewhere pid 1 run 0000abcd" in text
    assert "second workflow-watcher" in text
    # b was never published: its journal record could not be written
    assert event_names(w) == [("ADDED", "a")]


# ---- redis:// ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server of our own on a free port, no persistence."""

    def __init__(self, tmp, password=None, port=None):
        self.tmp, self.password = str(tmp), password
        self.port = port or free_port()
        self.start()

    def start(self):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.tmp, "--logfile", os.path.join(self.tmp, "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redislib.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)
        wait_until(self._ping, timeout=30, what=f"redis-server on port {self.port}")

    def _ping(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.proc.returncode}")
        try:
            return self.client.ping()
        except redislib.exceptions.ConnectionError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self.client.close()

    def checkpoint(self, key):
        blob = self.client.get(key)
        return parse_blob(blob) if blob is not None else None


@pytest.fixture
def redis_server(tmp_path):
    servers = []

    def make(password=None):
        d = tmp_path / f"redis-{len(servers)}"
        d.mkdir()
        s = RedisServer(d, password=password)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def rd_args(cluster, ns, *extra):
    return ["--kubeconfig", cluster.kubeconfig, "--namespace", ns, *SAVE_FAST, *extra]


def test_redis_checkpoint_saved_and_resumed(cluster, watcher_factory, redis_server):
    r = redis_server()
    ns = cluster.namespace("rd")
    url = f"redis://127.0.0.1:{r.port}/ww:{ns}"
    for n in ("a", "b"):
        cluster.create_wf(ns, n)
    w1 = watcher_factory(rd_args(cluster, ns, "--checkpoint", url))
    w1.wait_events(lambda ev: len(ev) == 2, what="2 ADDED")
    header, rows = wait_until(lambda: (c := r.checkpoint(f"ww:{ns}")) and c[0]["objects"] == 2 and c,
                              what="the checkpoint in redis")
    assert sorted(row[2] for row in rows) == ["a", "b"]
    assert header["streams"][0]["namespace"] == ns
    version = r.client.get(f"ww:{ns}:version").decode()
    assert version.startswith("host=") and f"pid={w1.proc.pid}" in version
    rv1 = stream_rv(header)
    c = cluster.create_wf(ns, "c")
    wait_until(lambda: (h := r.checkpoint(f"ww:{ns}")) and h[0]["objects"] == 3, what="3 objects in redis")
    assert stream_rv(r.checkpoint(f"ww:{ns}")[0]) >= int(c["metadata"]["resourceVersion"]) > rv1
    assert w1.stop() == 0

    cluster.create_wf(ns, "d")
    w2 = watcher_factory(rd_args(cluster, ns, "--checkpoint", url))
    w2.wait_log("resuming: 3 known objects")
    w2.wait_events(lambda ev: len(ev) >= 1, what="ADDED d")
    cluster.create_wf(ns, "e")
    w2.wait_events(lambda ev: len(ev) >= 2, what="ADDED e")
    assert event_names(w2) == [("ADDED", "d"), ("ADDED", "e")]
    wait_until(lambda: r.checkpoint(f"ww:{ns}")[0]["objects"] == 5, what="5 objects in redis")
    assert w2.stop() == 0


def test_redis_password_flags_never_printed(cluster, watcher_factory, redis_server):
    pw = "pw-" + uuid.uuid4().hex
    r = redis_server(password=pw)
    ns = cluster.namespace("rd")
    cluster.create_wf(ns, "a")
    w = watcher_factory(rd_args(cluster, ns, "-redis-address", f"127.0.0.1:{r.port}", "-redis-password", pw,
                                "--log-level", "debug"))
    w.wait_events(lambda ev: len(ev) == 1, what="ADDED a")
    header, rows = wait_until(lambda: (c := r.checkpoint("workflow-watcher")) and c[0]["objects"] == 1 and c,
                              what="the checkpoint under the default key")
    assert rows[0][2] == "a"
    assert w.stop() == 0
    out = b"".join(w.raw_lines()).decode()
    assert pw not in out and pw not in w.log_text()
    assert f"redis://127.0.0.1:{r.port}/workflow-watcher" in w.log_text()

    # the password in the URL works too, and is shown as ***
    w2 = watcher_factory(rd_args(cluster, ns, "--checkpoint", f"redis://:{pw}@127.0.0.1:{r.port}/other"))
    w2.wait_events(lambda ev: len(ev) == 1, what="ADDED a")
    wait_until(lambda: r.checkpoint("other"), what="the checkpoint under the key other")
    assert w2.stop() == 0
    assert pw not in w2.log_text() and pw not in b"".join(w2.raw_lines()).decode()
    assert f"redis://:***@127.0.0.1:{r.port}/other" in w2.log_text()


def test_redis_wrong_or_missing_password_fails_clearly(cluster, watcher_factory, redis_server):
    pw = "pw-" + uuid.uuid4().hex
    wrong = "wrong-" + uuid.uuid4().hex
    r = redis_server(password=pw)
    ns = cluster.namespace("rd")
    w = watcher_factory(rd_args(cluster, ns, "--redis-address", f"127.0.0.1:{r.port}", "--redis-password", wrong))
    assert exit_code(w) == 1
    text = w.log_text()
    assert f"redis key workflow-watcher at 127.0.0.1:{r.port}: the server refused the password" in text
    assert wrong not in text and pw not in text
    assert w.events() == []

    w2 = watcher_factory(rd_args(cluster, ns, "--checkpoint", f"redis://:{wrong}@127.0.0.1:{r.port}/k"))
    assert exit_code(w2) == 1
    assert "refused the password" in w2.log_text() and wrong not in w2.log_text()

    w3 = watcher_factory(rd_args(cluster, ns, "--redis-address", f"127.0.0.1:{r.port}"))
    assert exit_code(w3) == 1
    assert "the server requires a password" in w3.log_text()
    assert "--redis-password" in w3.log_text()
    assert r.client.keys("*") == []


def test_redis_unreachable_at_start_fails(cluster, watcher_factory):
    port = free_port()  # nothing listens there
    ns = cluster.namespace("rd")
    w = watcher_factory(rd_args(cluster, ns, "--redis-address", f"127.0.0.1:{port}"))
    assert exit_code(w) == 1
    assert f"redis key workflow-watcher at 127.0.0.1:{port}: cannot connect" in w.log_text()


def test_redis_second_writer_stops_the_watcher(cluster, watcher_factory, redis_server):
    r = redis_server()
    ns = cluster.namespace("rd")
    w = watcher_factory(rd_args(cluster, ns, "--redis-address", f"127.0.0.1:{r.port}"))
    w.wait_ready()
    cluster.create_wf(ns, "a")
    wait_until(lambda: r.checkpoint("workflow-watcher"), what="the checkpoint")
    ours = r.client.get("workflow-watcher:version").decode()
    # another watcher's save, as it would look
    other = "host=elsewhere pid=1 run=0000abcd seq=7"
    r.client.set("workflow-watcher", b"not ours")
    r.client.set("workflow-watcher:version", other)
    cluster.create_wf(ns, "b")
    assert exit_code(w) == 1
    text = messages(w)
    assert "redis key workflow-watcher at 127.0.0.1" in text
    assert f'was changed by another writer (version "{ours}" expected, found "{other}")' in text
    assert "second workflow-watcher" in text
    assert r.client.get("workflow-watcher") == b"not ours"


def test_redis_restart_reconnects(cluster, watcher_factory, redis_server):
    r = redis_server()
    ns = cluster.namespace("rd")
    w = watcher_factory(rd_args(cluster, ns, "--redis-address", f"127.0.0.1:{r.port}"))
    w.wait_ready()
    cluster.create_wf(ns, "a")
    wait_until(lambda: (c := r.checkpoint("workflow-watcher")) and c[0]["objects"] == 1, what="the checkpoint")
    r.stop()
    cluster.create_wf(ns, "b")
    # b is new: its journal record must be written before it is published
    w.wait_log("cannot journal")
    assert w.proc.poll() is None
    assert event_names(w) == [("ADDED", "a")]
    r.start()  # same port, empty (no persistence)
    cluster.create_wf(ns, "c")
    header, rows = wait_until(lambda: (c := r.checkpoint("workflow-watcher")) and c[0]["objects"] == 3 and c,
                              timeout=60, what="the checkpoint written again after the restart")
    assert sorted(row[2] for row in rows) == ["a", "b", "c"]
    assert "the checkpoint vanished from the server" in w.log_text()
    assert "connected again" in w.log_text()
    assert w.proc.poll() is None
    assert w.stop() == 0


def test_redis_journal_written_and_emptied(cluster, watcher_factory, redis_server, tmp_path):
    r = redis_server()
    ns = cluster.namespace("rd")
    key = f"ww:{ns}"
    url = f"redis://127.0.0.1:{r.port}/{key}"
    pushes = []

    def read_journal():
        assert r.client.type(f"{key}:journal") in (b"list", b"none")
        elems = r.client.lrange(f"{key}:journal", 0, -1)
        pushes.append(len(elems))
        return b"".join(elems).decode() if elems else None

    def read_checkpoint():
        c = r.checkpoint(key)
        return c and c[1]

    journal_scenario(cluster, watcher_factory, tmp_path, ns, url, read_journal, read_checkpoint)
    assert r.client.exists(f"{key}:journal") == 0
    assert 1 <= max(pushes) <= 3  # one element per append (a batch holds one or more records)


def test_redis_journal_of_another_type_refused(cluster, watcher_factory, redis_server):
    r = redis_server()
    ns = cluster.namespace("rd")
    r.client.set("k:journal", b"not a list")
    w = watcher_factory(rd_args(cluster, ns, "--checkpoint", f"redis://127.0.0.1:{r.port}/k"))
    assert exit_code(w) == 1
    assert "k:journal holds another type than a list" in w.log_text()
    assert r.client.get("k:journal") == b"not a list"


# ---- file:// ----

def test_file_checkpoint_second_watcher_refused(cluster, watcher_factory, tmp_path):
    """Two watchers on one file checkpoint would overwrite each other's saves:
    the second is refused at start (PATH.lock) and names the first."""
    ns = cluster.namespace("file")
    ckpt = tmp_path / "ckpt"
    args = ["--kubeconfig", cluster.kubeconfig, "--namespace", ns, "--checkpoint", f"file://{ckpt}", *SAVE_FAST]
    w1 = watcher_factory([*args, "--sink", f"file://{tmp_path / 'out1.jsonl'}"])
    w1.wait_ready()
    w2 = watcher_factory([*args, "--sink", f"file://{tmp_path / 'out2.jsonl'}"])
    assert exit_code(w2) == 2
    text = messages(w2)
    assert f"{ckpt}.lock is locked by pid {w1.proc.pid} on host {socket.gethostname()} since " in text, text
    assert "another workflow-watcher uses this checkpoint" in text
    assert sink_names(str(tmp_path / "out2.jsonl")) == []

    # the first one goes on; once it stopped, the checkpoint is free again
    cluster.create_wf(ns, "a")
    wait_until(lambda: sink_names(str(tmp_path / "out1.jsonl")) == ["a"], what="a in the sink")
    assert w1.stop() == 0
    w3 = watcher_factory([*args, "--sink", f"file://{tmp_path / 'out3.jsonl'}"])
    w3.wait_log("resuming: 1 known objects")
    assert w3.stop() == 0
