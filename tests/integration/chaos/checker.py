"""The at-least-once checker: holds what a sink received against what the
load generator recorded.

Inputs
  records  uid -> {"ns", "name", "rvs": [int, ...] (every resourceVersion the
           API server returned for the object, in order; rvs[0] is the
           create), "deleted": bool}
  messages parsed sink lines in delivery order (read_sink)
  start_rv the highest resourceVersion written before the watcher's first
           start: an object's states older than its last one at or below
           start_rv were never watched (its initial ADDED carries that last
           one), so they are not expected
  windows  ns -> [(lo, hi)]: the watcher's gaps as its logs tell them (a
           relist after resourceVersion lo came back at hi). Only used to
           excuse objects that were created and deleted inside a gap and so
           could never be seen at all.

Message ids: "<uid>/<rv>" for every state of an object, observed or found by
diffing a relist ("recovered":true); "<uid>/deleted" for every DELETED,
observed or synthesised by a relist (which carries the last known rv), so a
deletion delivered twice is a duplicate, not a second change.
An observed DELETED carries the deletion's resourceVersion (which the
DELETE's answer does not tell the generator: it must be above every recorded
one); a recovered DELETED carries the last known one (which must be a
recorded one).

What is proved, per object:
  * no invented message: the uid is one the generator made, every non-DELETED
    rv is one it recorded, ids agree with the objects they carry;
  * final state: a live object's last recorded rv was delivered; a deleted
    object's deletion was delivered (observed or recovered);
  * every recorded rv R was delivered, unless it is "in a gap": R was not
    delivered and the first delivery of the object after R (by rv; a DELETED
    of either kind counts as last) is a recovered message. Those are counted
    apart (gap_lost). An object with no message at all is allowed only if it
    was deleted and its whole life lies inside one gap window (invisible).
    Anything else missing is a failure;
  * order: the first-time-seen ids of the object, in delivery order, have
    strictly increasing rv (DELETED last). The same change seen first
    observed and then again recovered (or the other way round), at the same
    rv under two ids, happens when a crash loses the checkpoint of an
    observed change that a later relist then finds; it is counted apart
    (same_change_other_id), not a failure;
  * duplicates (an id seen again) are counted; a duplicate must carry the
    same type and rv as its original.
"""
import glob
import json
import os
import re
from collections import Counter

INF = float("inf")
RECOVERED_KINDS = {"recovered-added": "ADDED", "recovered-modified": "MODIFIED", "recovered-deleted": "DELETED"}
MAX_LISTED = 30   # failures listed in full; the count is always exact


class Msg:
    __slots__ = ("pos", "where", "type", "uid", "rv", "kind", "id", "ns", "name")

    def __init__(self, pos, where, type_, uid, rv, kind, id_, ns, name):
        self.pos, self.where, self.type, self.uid, self.rv = pos, where, type_, uid, rv
        self.kind, self.id, self.ns, self.name = kind, id_, ns, name

    @property
    def recovered(self):
        return self.kind != "observed"

    @property
    def is_delete(self):
        return self.type == "DELETED"

    @property
    def key(self):
        """Position in the object's history: its rv; any DELETED is last."""
        return INF if self.is_delete else self.rv

    def __repr__(self):
        return f"{self.where}: {self.type} {self.ns}/{self.name} id={self.id}"


def sink_files(path):
    """PATH.part1, PATH.part2, ... (renamed away during sink outages, in that
    order), then PATH."""
    parts = []
    for p in glob.glob(glob.escape(path) + ".part*"):
        m = re.fullmatch(re.escape(path) + r"\.part(\d+)", p)
        if m and os.path.isfile(p):
            parts.append((int(m.group(1)), p))
    files = [p for _, p in sorted(parts)]
    if os.path.isfile(path):
        files.append(path)
    return files


def read_sink(path, final=True):
    """Parses every line of every part. Returns (messages, problems, n_lines).
    With final=False an unterminated last line of the last file is being
    written and is ignored; otherwise it is a problem (a torn line)."""
    msgs, problems, n = [], [], 0
    files = sink_files(path)
    for fi, f in enumerate(files):
        with open(f, "rb") as fh:
            data = fh.read()
        lines = data.split(b"\n")
        tail = lines.pop()            # b"" when the file ends with a newline
        if tail:
            if final or fi != len(files) - 1:
                problems.append(f"{os.path.basename(f)}: unterminated last line ({len(tail)} bytes): {tail[:120]!r}")
        for ln, raw in enumerate(lines, 1):
            n += 1
            where = f"{os.path.basename(f)}:{ln}"
            try:
                ev = json.loads(raw)
                msgs.append(parse_message(ev, len(msgs), where))
            except (ValueError, KeyError, TypeError) as e:
                problems.append(f"{where}: not a valid message ({e}): {raw[:160]!r}")
    return msgs, problems, n


def parse_message(ev, pos, where):
    if not isinstance(ev, dict) or set(ev) - {"type", "object", "id", "recovered"}:
        raise ValueError(f"unexpected keys {sorted(ev) if isinstance(ev, dict) else type(ev)}")
    t, obj, id_ = ev["type"], ev["object"], ev["id"]
    if t not in ("ADDED", "MODIFIED", "DELETED"):
        raise ValueError(f"type {t!r}")
    parts = id_.split("/")
    recovered = ev.get("recovered")
    if "recovered" in ev and recovered is not True:
        raise ValueError(f"\"recovered\" is {recovered!r}")
    if len(parts) != 2 or (t == "DELETED") != (parts[1] == "deleted"):
        raise ValueError(f"malformed id {id_!r} for a{' recovered' if recovered else 'n observed'} {t}")
    kind = ("recovered-" + t.lower()) if recovered else "observed"   # one id per state, observed or recovered
    md = obj["metadata"]
    uid, rv = parts[0], int(md["resourceVersion"]) if t == "DELETED" else int(parts[1])
    if md.get("uid") != uid:
        raise ValueError(f"id {id_!r} but object uid {md.get('uid')!r}")
    if int(md["resourceVersion"]) != rv:
        raise ValueError(f"id {id_!r} but object resourceVersion {md['resourceVersion']!r}")
    if obj.get("kind") != "Workflow" or obj.get("apiVersion") != "argoproj.io/v1alpha1":
        raise ValueError(f"not a Workflow: {obj.get('apiVersion')} {obj.get('kind')}")
    return Msg(pos, where, t, uid, rv, kind, id_, md.get("namespace"), md.get("name"))


TOO_OLD = re.compile(r"too old resource version: (\d+)|the relist after resourceVersion (\d+) did not complete")
POSITION = re.compile(r"(?:listed \d+ \S+ at|streaming list complete at|resuming the watch from) resourceVersion (\d+)")


def gap_windows(log_texts, namespaces):
    """Per namespace, the (lo, hi) resourceVersion spans the watcher relisted
    over: a 410 ("too old resource version: lo") or another relist, answered
    by a list at hi. Without a 410 number the last position the log names
    (a resume or an earlier list) is taken as lo, which is wider than the
    real gap. A retried first list of a start without a checkpoint is not
    a gap. Log lines are prefixed with the reflector's name, the namespace."""
    windows = {ns: [] for ns in namespaces}
    for text in log_texts:
        pending, last = {}, {}
        for line in text.splitlines():
            try:
                msg = json.loads(line).get("msg", "")
            except ValueError:
                continue
            ns, _, rest = msg.partition(": ")
            if ns not in windows:
                continue
            if "relisting" in rest or "listing again" in rest:
                m = TOO_OLD.search(rest)
                if m:
                    pending[ns] = int(m.group(1) or m.group(2))
                elif ns in last:
                    pending.setdefault(ns, last[ns])
                # else: the first list of a start without a checkpoint failed
                # and is retried: not a gap
                continue
            m = POSITION.search(rest)
            if m:
                rv = int(m.group(1))
                if ns in pending and not rest.startswith("resuming"):
                    windows[ns].append((pending.pop(ns), rv))
                last[ns] = rv
    return windows


class Report:
    def __init__(self):
        self.failures = {}     # category -> [details]
        self.figures = {}

    def fail(self, category, detail):
        self.failures.setdefault(category, []).append(detail)

    @property
    def ok(self):
        return not self.failures

    def failure_text(self):
        out = []
        for cat, items in sorted(self.failures.items()):
            out.append(f"{cat}: {len(items)}")
            out += [f"    {d}" for d in items[:MAX_LISTED]]
            if len(items) > MAX_LISTED:
                out.append(f"    ... {len(items) - MAX_LISTED} more")
        return "\n".join(out)


def check(records, messages, start_rv=0, windows=None, problems=()):
    windows = windows or {}
    rep = Report()
    for p in problems:
        rep.fail("invalid sink line", p)

    by_uid = {}
    seen = {}                  # id -> first Msg
    dup_copies = 0
    deletion_rv = {}           # uid -> rv of the observed DELETED
    for m in messages:
        rec = records.get(m.uid)
        if rec is None:
            rep.fail("invented object (unknown uid)", repr(m))
            continue
        if m.ns != rec["ns"] or m.name != rec["name"]:
            rep.fail("object identity mismatch", f"{m!r}: generator made {rec['ns']}/{rec['name']}")
        if m.id in seen:
            dup_copies += 1
            o = seen[m.id]
            if o.type != m.type:
                rep.fail("duplicate differs from its original", f"{m!r} vs {o!r}")
            continue
        seen[m.id] = m
        by_uid.setdefault(m.uid, []).append(m)
        rvs = rec["rvs"]
        if m.is_delete and m.kind == "observed":
            if not rec["deleted"]:
                rep.fail("DELETED for an object never deleted", repr(m))
            elif m.rv <= rvs[-1]:
                rep.fail("DELETED at an rv not after the last recorded one",
                         f"{m!r}: last recorded {rvs[-1]}")
            elif m.uid in deletion_rv and deletion_rv[m.uid] != m.rv:
                rep.fail("two different observed deletions", f"{m!r} and rv {deletion_rv[m.uid]}")
            deletion_rv.setdefault(m.uid, m.rv)
            continue
        if m.rv not in rvs:
            rep.fail("unknown resourceVersion (invented change)", f"{m!r}: recorded {rvs}")
            continue
        if m.is_delete and not rec["deleted"]:
            rep.fail("DELETED for an object never deleted", repr(m))
        if m.kind == "observed" and m.type == "ADDED":
            pre = [r for r in rvs if r <= start_rv]
            if m.rv != rvs[0] and not (pre and m.rv == pre[-1]):
                rep.fail("observed ADDED that is neither the create nor the initial list",
                         f"{m!r}: recorded {rvs}, start_rv {start_rv}")
        if m.kind == "observed" and m.type == "MODIFIED" and m.rv == rvs[0]:
            rep.fail("observed MODIFIED at the create's rv", repr(m))

    same_change_other_id = 0
    gap_lost = pre_start = invisible = 0
    gap_lost_examples = []
    n_changes = 0
    for uid, rec in records.items():
        rvs = rec["rvs"]
        n_changes += len(rvs) + (1 if rec["deleted"] else 0)
        ms = by_uid.get(uid, [])
        # order among first deliveries
        prev = None
        for m in ms:
            if prev is not None and m.key <= prev.key:
                if m.key == prev.key and (m.recovered or prev.recovered):
                    same_change_other_id += 1
                else:
                    rep.fail("out of order", f"{m!r} after {prev!r}")
            if prev is None or m.key > prev.key:
                prev = m
        delivered = {m.rv for m in ms if not m.is_delete}
        deletions = [m for m in ms if m.is_delete]
        for m in ms:
            # A recovered DELETED names the last state the watcher's saved
            # index (or journal) knew: a real state of an object that was
            # really deleted, though maybe one whose delivery was never
            # confirmed (journaled, then a crash before the ack).
            if m.kind == "recovered-deleted" and (m.rv not in rvs or not rec["deleted"]):
                rep.fail("recovered DELETED of an object not deleted, or at a state it never had",
                         f"{m!r}: recorded {rvs}, deleted {rec['deleted']}")
        # final state
        if rec["deleted"]:
            if not deletions:
                if not ms and _inside_a_window(rvs, windows.get(rec["ns"], ())):
                    invisible += 1
                    gap_lost += len(rvs)
                    continue
                rep.fail("deletion not delivered",
                         f"{rec['ns']}/{rec['name']} uid {uid}: recorded {rvs}, delivered "
                         f"{[m.id.split('/', 1)[1] for m in ms]}")
        elif rvs[-1] not in delivered:
            rep.fail("final state not delivered",
                     f"{rec['ns']}/{rec['name']} uid {uid}: last rv {rvs[-1]}, delivered {sorted(delivered)}")
        # every intermediate change
        pre = [r for r in rvs if r <= start_rv]
        for r in rvs:
            if r in delivered:
                continue
            if pre and r < pre[-1]:
                pre_start += 1          # changed before the watcher ever started
                continue
            after = [m for m in ms if m.key > r]
            if after:
                k = min(m.key for m in after)
                if any(m.recovered for m in after if m.key == k):
                    gap_lost += 1
                    if len(gap_lost_examples) < 10:
                        gap_lost_examples.append(f"{uid}/{r}")
                    continue
            rep.fail("change not delivered",
                     f"{rec['ns']}/{rec['name']} uid {uid} rv {r}: recorded {rvs}, delivered "
                     f"{[m.id.split('/', 1)[1] for m in ms]}")

    recovered = {}
    for m in seen.values():
        if m.recovered:
            recovered[m.kind] = recovered.get(m.kind, 0) + 1
    rep.figures = {
        "objects": len(records),
        "objects_deleted": sum(1 for r in records.values() if r["deleted"]),
        "changes_recorded": n_changes,
        "messages_delivered": len(messages),
        "distinct_ids": len(seen),
        "duplicate_copies": dup_copies,
        "duplicated_ids": sum(1 for c in Counter(m.id for m in messages).values() if c > 1),
        "gap_lost_intermediates": gap_lost,
        "invisible_objects": invisible,
        "recovered_messages": sum(recovered.values()),
        "recovered_by_kind": recovered,
        "same_change_other_id": same_change_other_id,
        "pre_start_states": pre_start,
        "gap_lost_examples": gap_lost_examples,
    }
    return rep


def _inside_a_window(rvs, windows):
    return any(lo < rvs[0] and rvs[-1] <= hi for lo, hi in windows)
