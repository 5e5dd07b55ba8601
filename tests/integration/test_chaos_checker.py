"""The chaos test's checker on hand-made sink files (no cluster): what must
pass and what must fail."""
import json
import os

import pytest

from chaos.checker import check, gap_windows, read_sink, sink_files

NS = "ns-a"


def obj(uid, rv, name="wf", ns=NS, minimal=False):
    md = {"name": name, "namespace": ns, "uid": uid, "resourceVersion": str(rv)}
    o = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": md}
    if not minimal:
        o["spec"] = {"entrypoint": "main"}
        o["status"] = {"phase": "Running"}
    return o


def msg(type_, uid, rv, recovered=None, name="wf", ns=NS):
    """One sink line. recovered: None (observed) or 'added'|'modified'|'deleted'."""
    m = {"type": type_, "object": obj(uid, rv, name, ns, minimal=recovered == "deleted")}
    if recovered:
        m["recovered"] = True
        m["id"] = f"{uid}/deleted" if recovered == "deleted" else f"{uid}/{rv}"
    else:
        m["id"] = f"{uid}/deleted" if type_ == "DELETED" else f"{uid}/{rv}"
    return m


def write(path, msgs, tail=b""):
    with open(path, "wb") as f:
        for m in msgs:
            f.write(json.dumps(m).encode() + b"\n")
        f.write(tail)


def rec(rvs, deleted=False, name="wf", ns=NS):
    return {"ns": ns, "name": name, "rvs": rvs, "deleted": deleted}


def run(tmp_path, records, msgs, tail=b"", start_rv=0, windows=None, final=True):
    p = str(tmp_path / "events.jsonl")
    write(p, msgs, tail)
    messages, problems, _ = read_sink(p, final=final)
    return check(records, messages, start_rv=start_rv, windows=windows, problems=problems)


def cats(rep):
    return set(rep.failures)


def test_complete_delivery_passes(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12, 15]), "u2": rec([11, 13], deleted=True, name="b")},
            [msg("ADDED", "u1", 10), msg("ADDED", "u2", 11, name="b"), msg("MODIFIED", "u1", 12),
             msg("MODIFIED", "u2", 13, name="b"), msg("MODIFIED", "u1", 15), msg("DELETED", "u2", 16, name="b")])
    assert r.ok, r.failure_text()
    f = r.figures
    assert (f["objects"], f["changes_recorded"], f["messages_delivered"], f["duplicate_copies"]) == (2, 6, 6, 0)
    assert f["gap_lost_intermediates"] == 0 and f["recovered_messages"] == 0


def test_missing_intermediate_fails(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12, 15])}, [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 15)])
    assert cats(r) == {"change not delivered"}
    assert "rv 12" in r.failure_text()


def test_missing_intermediate_before_a_recovered_message_is_a_gap(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12, 13, 15])},
            [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 15, recovered="modified")])
    assert r.ok, r.failure_text()
    assert r.figures["gap_lost_intermediates"] == 2
    assert r.figures["recovered_by_kind"] == {"recovered-modified": 1}


def test_missing_before_observed_even_if_a_recovered_one_follows_later_fails(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12, 14, 16])},
            [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 14), msg("MODIFIED", "u1", 16, recovered="modified")])
    assert cats(r) == {"change not delivered"}


def test_final_state_missing_fails(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12])}, [msg("ADDED", "u1", 10)])
    assert "final state not delivered" in cats(r)


def test_deletion_must_be_delivered(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12], deleted=True)}, [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 12)])
    assert cats(r) == {"deletion not delivered"}


def test_recovered_deletion_counts_and_covers_the_gap(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12, 14], deleted=True)},
            [msg("ADDED", "u1", 10), msg("DELETED", "u1", 10, recovered="deleted")])
    assert r.ok, r.failure_text()
    assert r.figures["gap_lost_intermediates"] == 2


def test_observed_deletion_must_come_after_the_last_recorded_rv(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12], deleted=True)},
            [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 12), msg("DELETED", "u1", 11)])
    assert "DELETED at an rv not after the last recorded one" in cats(r)


def test_deleted_for_a_live_object_fails(tmp_path):
    r = run(tmp_path, {"u1": rec([10])}, [msg("ADDED", "u1", 10), msg("DELETED", "u1", 11)])
    assert "DELETED for an object never deleted" in cats(r)


def test_unknown_rv_and_unknown_uid_fail(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12])},
            [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 11), msg("MODIFIED", "u1", 12),
             msg("ADDED", "zz", 13, name="other")])
    assert cats(r) == {"unknown resourceVersion (invented change)", "invented object (unknown uid)"}


def test_out_of_order_fails(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12, 14])},
            [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 14), msg("MODIFIED", "u1", 12)])
    assert cats(r) == {"out of order"}


def test_message_after_the_deletion_is_out_of_order(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12], deleted=True)},
            [msg("ADDED", "u1", 10), msg("DELETED", "u1", 13), msg("MODIFIED", "u1", 12)])
    assert "out of order" in cats(r)


def test_duplicates_are_counted_not_failed(tmp_path):
    m = [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 12)]
    r = run(tmp_path, {"u1": rec([10, 12, 14])}, m + m + [msg("MODIFIED", "u1", 14)] + m[1:])
    assert r.ok, r.failure_text()
    assert r.figures["duplicate_copies"] == 3 and r.figures["duplicated_ids"] == 2
    assert r.figures["distinct_ids"] == 3


def test_duplicate_with_another_type_fails(tmp_path):
    a = msg("ADDED", "u1", 10)
    b = dict(a, type="MODIFIED")
    r = run(tmp_path, {"u1": rec([10])}, [a, b])
    assert "duplicate differs from its original" in cats(r)


def test_same_change_observed_then_recovered_is_a_duplicate(tmp_path):
    r = run(tmp_path, {"u1": rec([10, 12])},
            [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 12), msg("MODIFIED", "u1", 12, recovered="modified")])
    assert r.ok, r.failure_text()
    assert r.figures["duplicate_copies"] == 1 and r.figures["same_change_other_id"] == 0


def test_parts_are_read_in_rename_order(tmp_path):
    p = str(tmp_path / "events.jsonl")
    write(p + ".part10", [msg("MODIFIED", "u1", 14)])
    write(p + ".part2", [msg("MODIFIED", "u1", 12)])
    write(p + ".part1", [msg("ADDED", "u1", 10)])
    write(p, [msg("MODIFIED", "u1", 16)])
    os.mkdir(p + ".partx")   # not a part
    assert [os.path.basename(f) for f in sink_files(p)] == \
        ["events.jsonl.part1", "events.jsonl.part2", "events.jsonl.part10", "events.jsonl"]
    messages, problems, n = read_sink(p)
    assert not problems and n == 4
    r = check({"u1": rec([10, 12, 14, 16])}, messages)
    assert r.ok, r.failure_text()


def test_torn_or_glued_lines_fail(tmp_path):
    good = [msg("ADDED", "u1", 10)]
    r = run(tmp_path, {"u1": rec([10])}, good, tail=b'{"type":"MODIF')
    assert "invalid sink line" in cats(r)
    # while the watcher runs, an unterminated last line is being written
    r = run(tmp_path, {"u1": rec([10])}, good, tail=b'{"type":"MODIF', final=False)
    assert r.ok
    p = str(tmp_path / "events.jsonl")
    with open(p, "wb") as f:
        f.write(b'{"type":"MODIF' + json.dumps(msg("ADDED", "u1", 10)).encode() + b"\n")
    messages, problems, _ = read_sink(p)
    assert problems and not messages


def test_message_inconsistent_with_its_id_is_invalid(tmp_path):
    m = msg("MODIFIED", "u1", 12)
    m["object"]["metadata"]["resourceVersion"] = "13"
    r = run(tmp_path, {"u1": rec([10, 12])}, [msg("ADDED", "u1", 10), m])
    assert "invalid sink line" in cats(r)
    m = msg("DELETED", "u1", 10, recovered="deleted")
    m["id"] = "u1/10"                                   # a synthesised DELETED without its suffix
    r = run(tmp_path, {"u1": rec([10])}, [msg("ADDED", "u1", 10), m])
    assert "invalid sink line" in cats(r)
    m = msg("MODIFIED", "u1", 12, recovered="modified")
    m["id"] = "u1/12/recovered-modified"                # only a DELETED takes a suffix
    r = run(tmp_path, {"u1": rec([10, 12])}, [msg("ADDED", "u1", 10), m])
    assert "invalid sink line" in cats(r)


def test_object_never_seen_is_allowed_only_inside_a_gap_window(tmp_path):
    records = {"u1": rec([10]), "u2": rec([20, 22], deleted=True, name="b")}
    msgs = [msg("ADDED", "u1", 10)]
    r = run(tmp_path, records, msgs, windows={NS: [(15, 30)]})
    assert r.ok, r.failure_text()
    assert r.figures["invisible_objects"] == 1 and r.figures["gap_lost_intermediates"] == 2
    r = run(tmp_path, records, msgs, windows={NS: [(21, 30)]})
    assert "deletion not delivered" in cats(r)
    r = run(tmp_path, records, msgs, windows={"other": [(15, 30)]})
    assert "deletion not delivered" in cats(r)


def test_initial_list_shows_only_the_state_at_start(tmp_path):
    records = {"u1": rec([10, 11, 12, 20])}
    r = run(tmp_path, records, [msg("ADDED", "u1", 12), msg("MODIFIED", "u1", 20)], start_rv=15)
    assert r.ok, r.failure_text()
    assert r.figures["pre_start_states"] == 2
    r = run(tmp_path, records, [msg("ADDED", "u1", 20)], start_rv=15)
    assert "observed ADDED that is neither the create nor the initial list" in cats(r)


def test_recovered_deletion_must_name_a_real_state_of_a_deleted_object(tmp_path):
    # a journaled state whose delivery was never confirmed is a real state
    r = run(tmp_path, {"u1": rec([10, 12], deleted=True)},
            [msg("ADDED", "u1", 10), msg("DELETED", "u1", 12, recovered="deleted")])
    assert r.ok, r.failure_text()
    r = run(tmp_path, {"u1": rec([10, 12], deleted=True)},
            [msg("ADDED", "u1", 10), msg("DELETED", "u1", 11, recovered="deleted")])
    assert "recovered DELETED of an object not deleted, or at a state it never had" in cats(r)
    r = run(tmp_path, {"u1": rec([10, 12])},
            [msg("ADDED", "u1", 10), msg("MODIFIED", "u1", 12), msg("DELETED", "u1", 12, recovered="deleted")])
    assert "recovered DELETED of an object not deleted, or at a state it never had" in cats(r)


def test_gap_windows_from_the_logs():
    def line(m):
        return json.dumps({"level": "info", "component": "watch", "msg": m})
    log = "\n".join([
        line("ns-a: resuming the watch from resourceVersion 100"),
        line("ns-b: resuming the watch from resourceVersion 90"),
        line("ns-a: 410 Expired: too old resource version: 100 (150); relisting in 1.2 s"),
        line("ns-a: listed 5 workflows at resourceVersion 170"),
        line("ns-b: watch workflows: HTTP 500 Internal Server Error: x; relisting in 0.9 s"),
        line("ns-b: streaming list complete at resourceVersion 175"),
        line("ns-c: 410 Expired: too old resource version: 1 (2); relisting in 1 s"),
        "not json",
    ])
    assert gap_windows([log], ["ns-a", "ns-b"]) == {"ns-a": [(100, 170)], "ns-b": [(90, 175)]}
    first_start = "\n".join([
        line("ns-a: HTTP 429 TooManyRequests: storage is (re)initializing; listing again in 1.4 s"),
        line("ns-a: streaming list complete at resourceVersion 50"),
        line("ns-a: HTTP 500 Internal Server Error: x; relisting in 0.9 s"),
        line("ns-a: listed 3 workflows at resourceVersion 60"),
    ])
    assert gap_windows([first_start, log], ["ns-a"]) == {"ns-a": [(50, 60), (100, 170)]}


@pytest.mark.parametrize("final", [True, False])
def test_empty_or_absent_sink(tmp_path, final):
    messages, problems, n = read_sink(str(tmp_path / "absent"), final=final)
    assert (messages, problems, n) == ([], [], 0)
