#!/usr/bin/env python3
"""run_delivery.py CLUSTER_DIR OUTDIR --expect N [--updates U [--update-start S]]:
one end-to-end delivery run of build/workflow-watcher against a test/cluster
API server that holds N Workflows (made by load_cluster.py).

1. Starts, under GNU time -v, a fresh
     workflow-watcher --kubeconfig CLUSTER_DIR/admin.kubeconfig \\
       --sink file://OUTDIR/sink.ndjson --checkpoint file://OUTDIR/checkpoint [EXTRA...]
   (OUTDIR is emptied first) and polls the sink (newlines) and the
   checkpoint header ("objects") every 0.1 s until the sink holds N messages
   and the checkpoint N objects. Initial list time = first log line -> mtime
   of the sink after its N-th message (the file sink fsyncs every batch
   before acknowledging). VmHWM is read from /proc at that point.
2. With --updates U: runs `load_cluster.py update --count U --start S` (full-
   object PUTs, several processes) and keeps sampling the sink until it
   holds N+U messages; compares the rate the API server answered the PUTs
   with the rate messages landed in the sink, and the watcher's CPU.
3. SIGTERM, waits, reads GNU time's peak RSS. Writes OUTDIR/result.json.
Anything after -- is passed to the watcher.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class Tail:
    """Counts newlines of a growing file."""

    def __init__(self, path):
        self.path, self.lines, self.bytes, self.f = path, 0, 0, None

    def poll(self):
        if self.f is None:
            if not os.path.exists(self.path):
                return
            self.f = open(self.path, "rb")
        while True:
            b = self.f.read(1 << 24)
            if not b:
                return
            self.bytes += len(b)
            self.lines += b.count(b"\n")


def ckpt_objects(path):
    if path is None:
        return 1 << 62
    try:
        with open(path, "rb") as f:
            return json.loads(f.readline())["objects"]
    except (OSError, ValueError, KeyError):
        return -1


def proc_status(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def log_time(line):
    t = json.loads(line)["time"]
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=__import__("datetime").timezone.utc).timestamp()


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        k = argv.index("--")
        argv, extra = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cluster")
    ap.add_argument("outdir")
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--updates", type=int, default=0)
    ap.add_argument("--update-start", type=int, default=0)
    ap.add_argument("--update-procs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--watcher", default=os.path.join(ROOT, "build/workflow-watcher"),
                    help="binary to run (copy build/workflow-watcher aside so a rebuild cannot change it mid-run)")
    ap.add_argument("--checkpoint", default=None,
                    help="checkpoint URL (default file://OUTDIR/checkpoint); with none, wait for the sink only")
    a = ap.parse_args(argv)
    cluster, out = os.path.abspath(a.cluster), os.path.abspath(a.outdir)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    sink, ckpt = os.path.join(out, "sink.ndjson"), os.path.join(out, "checkpoint")
    cmd = ["/usr/bin/time", "-v", "-o", os.path.join(out, "time.txt"), a.watcher,
           "--kubeconfig", os.path.join(cluster, "admin.kubeconfig"), "--sink", "file://" + sink,
           "--checkpoint", a.checkpoint or "file://" + ckpt] + extra
    if a.checkpoint == "none":
        ckpt = None
    print("running:", " ".join(cmd), file=sys.stderr)
    logf = open(os.path.join(out, "watcher.log"), "w")
    t_start = time.time()
    tp = subprocess.Popen(cmd, stderr=logf, stdout=subprocess.DEVNULL)
    wpid = None
    for _ in range(100):
        try:
            kids = open(f"/proc/{tp.pid}/task/{tp.pid}/children").read().split()
        except OSError:
            kids = []
        if kids:
            wpid = int(kids[0])
            break
        time.sleep(0.01)
    res = {"expect": a.expect, "watcher_args": cmd[4:], "load_before": os.getloadavg()}
    tail = Tail(sink)
    deadline = time.time() + a.timeout
    while True:
        tail.poll()
        if tail.lines >= a.expect and ckpt_objects(ckpt) >= a.expect:
            break
        if tp.poll() is not None or time.time() > deadline:
            sys.exit(f"watcher exited or timed out: {tail.lines} messages, checkpoint {ckpt_objects(ckpt)}")
        time.sleep(0.1)
    t_seen = time.time()
    tail.poll()
    st = os.stat(sink)
    lines = open(os.path.join(out, "watcher.log")).read().splitlines()
    t_first = log_time(lines[0])
    t_listed = next((log_time(l) for l in lines if "list complete" in l or "listing complete" in l), None)
    t_end = st.st_mtime
    res["initial"] = {
        "messages": tail.lines, "sink_bytes": tail.bytes, "seconds": round(t_end - t_first, 3),
        "events_per_s": round(tail.lines / (t_end - t_first), 1),
        "mb_per_s": round(tail.bytes / 1e6 / (t_end - t_first), 2),
        "list_read_seconds": round(t_listed - t_first, 3) if t_listed else None,
        "process_start_to_first_log_s": round(t_first - t_start, 3),
        "seen_by_poller_after_s": round(t_seen - t_first, 3),
        "vmhwm_kb": proc_status(wpid, "VmHWM"), "vmrss_kb": proc_status(wpid, "VmRSS"),
        "cpu_s": cpu_s(wpid), "checkpoint_bytes": os.path.getsize(ckpt) if ckpt else 0,
        "checkpoint_objects": ckpt_objects(ckpt),
    }
    res["initial"]["checkpoint_bytes_per_object"] = round(res["initial"]["checkpoint_bytes"] / a.expect, 1)
    print(json.dumps(res["initial"]), file=sys.stderr)

    if a.updates:
        time.sleep(2)  # let the first checkpoint saves settle
        base, cpu0 = tail.lines, cpu_s(wpid)
        times = os.path.join(out, "update-times.txt")
        samples = []
        up = subprocess.Popen([sys.executable, os.path.join(HERE, "load_cluster.py"), "update", cluster,
                               "--count", str(a.updates), "--start", str(a.update_start),
                               "--procs", str(a.update_procs), "--times", times], stdout=subprocess.PIPE)
        want = base + a.updates
        while True:
            tail.poll()
            samples.append((time.time(), tail.lines - base, tail.bytes))
            if tail.lines >= want and up.poll() is not None:
                break
            if time.time() > deadline or tp.poll() is not None:
                sys.exit(f"updates: sink has {tail.lines - base} of {a.updates}")
            time.sleep(0.1)
        summary = json.loads(up.stdout.read())
        cpu1 = cpu_s(wpid)
        acc = [float(x) for x in open(times)]
        t0 = summary["start"]
        first_sink = next(t for t, n, _ in samples if n > 0)
        last_sink = next(t for t, n, _ in samples if n >= a.updates)
        b0 = samples[0][2]
        ubytes = samples[-1][2] - b0
        # Messages landed per second over the burst, and the largest backlog
        # (accepted by the API server but not yet in the sink) seen at a sample.
        backlog = 0
        j = 0
        for t, n, _ in samples:
            while j < len(acc) and acc[j] <= t:
                j += 1
            backlog = max(backlog, j - n)
        res["updates"] = {
            "count": a.updates, "errors": summary["errors"],
            "api_seconds": round(acc[-1] - t0, 3), "api_per_s": round(len(acc) / (acc[-1] - t0), 1),
            "sink_seconds": round(last_sink - t0, 3), "sink_per_s": round(a.updates / (last_sink - t0), 1),
            "sink_mb": round(ubytes / 1e6, 1), "sink_mb_per_s": round(ubytes / 1e6 / (last_sink - t0), 2),
            "first_in_sink_after_s": round(first_sink - t0, 3),
            "last_in_sink_after_last_accept_s": round(last_sink - acc[-1], 3),
            "max_backlog_messages": backlog, "watcher_cpu_s": round(cpu1 - cpu0, 2),
            "watcher_cpu_ms_per_msg": round((cpu1 - cpu0) * 1000 / a.updates, 3),
        }
        print(json.dumps(res["updates"]), file=sys.stderr)

    os.kill(wpid, signal.SIGTERM)
    tp.wait()
    tv = {}
    for line in open(os.path.join(out, "time.txt")):
        if ":" in line:
            k, v = line.rsplit(":", 1) if "Elapsed" not in line else line.split(": ", 1)
            tv[k.strip()] = v.strip()
    res["peak_rss_kb"] = int(tv["Maximum resident set size (kbytes)"])
    res["user_s"], res["sys_s"] = float(tv["User time (seconds)"]), float(tv["System time (seconds)"])
    res["exit"] = tv.get("Exit status")
    res["final_checkpoint_bytes"] = os.path.getsize(ckpt) if ckpt else 0
    res["final_checkpoint_objects"] = ckpt_objects(ckpt)
    res["stats_log"] = [l for l in open(os.path.join(out, "watcher.log")) if "delivered" in l or "events," in l]
    res["load_after"] = os.getloadavg()
    json.dump(res, open(os.path.join(out, "result.json"), "w"), indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
