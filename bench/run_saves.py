#!/usr/bin/env python3
"""run_saves.py CLUSTER_DIR [--stores file,configmap,redis] [--expect N]
[--rate R] [--duration S] [--windows W] [--label TEXT]: bytes written per
second by checkpoint saves, per store, with N Workflows in the index and R
changes per second.

CLUSTER_DIR is a test/cluster that already holds N Workflows made by
load_cluster.py (see bench/README.md; loading 100 000 takes 15-30 minutes, so
this script never loads, and can be run again on the same cluster, e.g.
before and after a change of the checkpoint format). For each store:

1. starts a fresh watcher (empty store):
     workflow-watcher --kubeconfig CLUSTER_DIR/admin.kubeconfig --sink stdout \\
       --checkpoint URL --log-level debug          (stdout to /dev/null)
   plus --watcher-args (default --watch-timeout-min 3600 --watch-timeout-max
   3660: the streaming list of 100 000 Workflows from etcd took longer than
   the default 300-600 s here, the server ended it at that timeout and the
   watcher listed again with paged LIST), all other flags at their defaults
   (a save every --checkpoint-interval 5 s while changes are acknowledged, or
   every 1000 changes, at most once a second); its log goes to a tmpfs file.
   URL is
     file   file://OUT/file/checkpoint          OUT on the disk of CLUSTER_DIR
     configmap  configmap://bench/ww-saves-<time>
     redis  redis://127.0.0.1:PORT/ww-saves of a redis-server started here
            (no persistence: --save '' --appendonly no)
2. waits for the initial list: every object published and a save that holds
   N objects (the watcher's debug line "checkpoint saved: N objects");
3. W windows, one after the other, each: `load_cluster.py update --count
   R*S --rate R --duration S --start U` (full-object PUTs, paced at R/s for S
   seconds: each one a MODIFIED of a known object; what the API server does
   not take in time is left out, and the rate it did take is reported) and
   reads the counters at the window's start and end (after the last PUT was
   answered and 1 s more):
     file       write_bytes of the watcher's /proc/PID/io (bytes it caused to be
                written to storage: its only files on a disk are the checkpoint,
                PATH.tmp and PATH.journal; stdout is /dev/null, the log on tmpfs)
     redis      total_net_input_bytes of redis-server's INFO stats (everything
                the server received: SET of the blob, the version token,
                WATCH/MULTI/EXEC, the journal commands; and our INFO calls)
     configmap  the API server's apiserver_request_body_size_bytes_sum for
                resource configmaps, verbs create/update/patch (request bodies:
                the parts, the main ConfigMap and the journal ConfigMap; not
                HTTP headers or TLS), with apiserver_request_total for the count
                of requests; only the watcher writes ConfigMaps in that cluster
   and counts the saves in the window from the debug log. Per window: saves/s,
   bytes/save, bytes/s, changes per save, and the rate the API server
   answered the PUTs at (before incremental saves a save writes the whole
   index whatever the rate; after, bytes/save should follow changes/save).
4. SIGTERM. Prints a table (median and range over the windows) and writes
   OUT/result.json (OUT defaults to bench/.data/saves-<label>).
Needs the Python venv of the integration tests (.venv, for load_cluster.py)
and redis-server (scripts/install-deps).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib  # noqa: E402


def die(msg):
    print(f"run_saves.py: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def log_time(j):
    return datetime.strptime(j["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class Log:
    """The watcher's JSON log, read as it grows."""

    def __init__(self, path):
        self.path, self.f, self.lines = path, None, []

    def poll(self):
        if self.f is None:
            self.f = open(self.path)
        while True:
            pos = self.f.tell()
            line = self.f.readline()
            if not line or not line.endswith("\n"):
                self.f.seek(pos)
                return
            try:
                self.lines.append(json.loads(line))
            except ValueError:
                die(f"a log line is not JSON: {line!r}")

    def saves(self, t0=0, t1=float("inf")):
        """(time, objects) of each 'checkpoint saved' line in [t0, t1)."""
        out = []
        for j in self.lines:
            if j.get("msg", "").startswith("checkpoint saved: "):
                t = log_time(j)
                if t0 <= t < t1:
                    out.append((t, int(j["msg"].split()[2])))
        return out

    def store_lines(self, prefix, t0=0, t1=float("inf")):
        return [j["msg"] for j in self.lines if j.get("component") == "store" and prefix in j.get("msg", "")
                and t0 <= log_time(j) < t1]

    def problems(self):
        return [j["msg"] for j in self.lines if j.get("level") in ("warn", "error")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """Admin requests to the test cluster (metrics, ConfigMap cleanup)."""

    def __init__(self, cluster):
        import load_cluster
        self.host, self.pm = load_cluster.client(cluster)

    def get(self, path):
        r = self.pm.request("GET", self.host + path)
        if r.status != 200:
            die(f"GET {path}: HTTP {r.status}")
        return r.data.decode()

    def configmap_writes(self):
        """(body bytes, requests) of ConfigMap writes so far."""
        body = reqs = 0
        for line in self.get("/metrics").splitlines():
            if 'resource="configmaps"' not in line or line.startswith("#"):
                continue
            verb = line.split('verb="', 1)[1].split('"', 1)[0] if 'verb="' in line else ""
            if verb not in ("create", "update", "patch", "POST", "PUT", "PATCH"):
                continue
            if line.startswith("apiserver_request_body_size_bytes_sum{"):
                body += float(line.rsplit(" ", 1)[1])
            elif line.startswith("apiserver_request_total{") and 'group=""' in line:
                reqs += float(line.rsplit(" ", 1)[1])
        return body, reqs

    def delete_configmaps(self, ns, name):
        import urllib.parse
        sel = urllib.parse.quote(f"workflow-watcher.io/checkpoint={name}")
        self.pm.request("DELETE", f"{self.host}/api/v1/namespaces/{ns}/configmaps?labelSelector={sel}")
        self.pm.request("DELETE", f"{self.host}/api/v1/namespaces/{ns}/configmaps/{name}")

    def count_workflows(self):
        j = json.loads(self.get("/apis/argoproj.io/v1alpha1/namespaces/bench/workflows?limit=1"))
        return len(j["items"]) + j["metadata"].get("remainingItemCount", 0)


class Redis:
    def __init__(self, tmp):
        self.port = free_port()
        self.p = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                   "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
        for _ in range(100):
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.1)
        die("redis-server did not start")

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port)] + list(args), capture_output=True, text=True)
        return r.stdout

    def input_bytes(self):
        for line in self.cli("INFO", "stats").splitlines():
            if line.startswith("total_net_input_bytes:"):
                return int(line.split(":")[1])
        die("redis INFO stats has no total_net_input_bytes")

    def stop(self):
        self.p.terminate()
        self.p.wait()


def write_bytes(pid):
    for line in open(f"/proc/{pid}/io"):
        if line.startswith("write_bytes:"):
            return int(line.split()[1])


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def run_store(a, store, api, ww, out, tmp):
    sdir = os.path.join(out, store)
    shutil.rmtree(sdir, ignore_errors=True)
    os.makedirs(sdir)
    redis, cm_name = None, None
    if store == "file":
        url = "file://" + os.path.join(sdir, "checkpoint")
    elif store == "redis":
        redis = Redis(tmp)
        url = f"redis://127.0.0.1:{redis.port}/ww-saves"
    else:
        cm_name = f"ww-saves-{int(time.time())}"
        url = f"configmap://bench/{cm_name}"
    logpath = os.path.join(tmp, f"watcher-{store}.log")
    cmd = [ww, "--kubeconfig", os.path.join(a.cluster, "admin.kubeconfig"), "--sink", "stdout", "--checkpoint", url,
           "--log-level", "debug"] + a.watcher_args.split()
    print(f"\n[{store}] {' '.join(cmd)}", flush=True)
    res = {"store": store, "url": url, "cmd": cmd, "load_before": os.getloadavg(), "windows": []}
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(logpath, "w"), cwd=sdir)
    log = Log(logpath)
    try:
        t_start = time.time()
        while True:
            log.poll()
            s = log.saves()
            if s and s[-1][1] >= a.expect and any("list complete" in j.get("msg", "") or "listed " in j.get("msg", "")
                                                   for j in log.lines):
                break
            if p.poll() is not None:
                die(f"[{store}] the watcher exited ({p.returncode}) during the initial list; log {logpath}")
            if time.time() - t_start > a.list_timeout:
                die(f"[{store}] no save of {a.expect} objects after {a.list_timeout} s; log {logpath}")
            time.sleep(0.2)
        res["initial_list_s"] = round(time.time() - t_start, 1)
        res["saves_during_list"] = len(log.saves())
        print(f"[{store}] initial list and a save of {s[-1][1]} objects after {res['initial_list_s']} s "
              f"({res['saves_during_list']} saves so far)", flush=True)
        time.sleep(2)
        n = int(a.rate * a.duration)
        for w in range(a.windows):
            times = os.path.join(tmp, f"times-{store}-{w}")
            due = time.time() + a.lead  # the updater builds its object pool and its processes meanwhile
            upd = subprocess.Popen([a.python, os.path.join(HERE, "load_cluster.py"), "update", a.cluster,
                                    "--count", str(n), "--start", str(a.update_start), "--rate", str(a.rate),
                                    "--rate-start", str(due), "--duration", str(a.duration), "--times", times],
                                   stdout=subprocess.PIPE)
            while time.time() < due - 0.05:
                time.sleep(0.01)
            t0, cpu0, ticks0 = time.time(), cpu_s(p.pid), benchlib.cpu_ticks()
            c0 = write_bytes(p.pid) if store == "file" else redis.input_bytes() if redis else api.configmap_writes()
            summary = json.loads(upd.communicate()[0])
            if upd.returncode or summary["errors"] or not summary["count"]:
                die(f"[{store}] the updater failed: {summary}")
            time.sleep(1)
            t1, cpu1 = time.time(), cpu_s(p.pid)
            c1 = write_bytes(p.pid) if store == "file" else redis.input_bytes() if redis else api.configmap_writes()
            if p.poll() is not None:
                die(f"[{store}] the watcher exited ({p.returncode}); log {logpath}")
            time.sleep(0.3)
            log.poll()
            saves = log.saves(t0, t1)
            span = t1 - t0
            if store == "configmap":
                nbytes, reqs = c1[0] - c0[0], c1[1] - c0[1]
            else:
                nbytes, reqs = c1 - c0, None
            win = {"t0": t0, "t1": t1, "seconds": round(span, 2), "updates": summary["count"],
                   "updates_per_s": round(summary["count"] / span, 1),
                   "api_answer_after_due_s_median": summary.get("answer_after_due_s_median"),
                   "api_answer_after_due_s_max": summary.get("answer_after_due_s_max"),
                   "updates_left_out": summary.get("left_out"),
                   "saves": len(saves), "saves_per_s": round(len(saves) / span, 3),
                   "changes_per_save": round(summary["count"] / len(saves), 1) if saves else None,
                   "objects_at_saves": sorted({o for _, o in saves}),
                   "bytes": int(nbytes), "bytes_per_s": round(nbytes / span),
                   "bytes_per_save": round(nbytes / len(saves)) if saves else None,
                   "watcher_cpu_s": round(cpu1 - cpu0, 2), "load": os.getloadavg(),
                   "steal": round(benchlib.steal_since(ticks0), 3)}
            if reqs is not None:
                win["configmap_write_requests"] = int(reqs)
            if store == "file":
                win["checkpoint_file_bytes"] = os.path.getsize(os.path.join(sdir, "checkpoint"))
                win["journal_bytes"] = os.path.getsize(os.path.join(sdir, "checkpoint.journal")) \
                    if os.path.exists(os.path.join(sdir, "checkpoint.journal")) else 0
            if store == "redis":
                sizes = [int(m.split(": saved ")[1].split()[0]) for m in log.store_lines(": saved ", t0, t1)]
                win["blob_bytes_logged"] = sorted(set(sizes))
            if store == "configmap":
                comp = [m.split("(")[1].split(",")[0:2] for m in log.store_lines(": saved ", t0, t1)]
                win["compressed_and_parts_logged"] = sorted({f"{c.strip()}, {q.strip()}" for c, q in comp})
            res["windows"].append(win)
            print(f"[{store}] window {w + 1}: {win['seconds']} s, {win['updates_per_s']} updates/s, "
                  f"{win['saves']} saves ({win['saves_per_s']}/s), {win['bytes']:,} bytes "
                  f"({win['bytes_per_save'] or 0:,}/save, {win['bytes_per_s']:,}/s); load {win['load'][0]:.1f}, "
                  f"steal {win['steal']:.0%}", flush=True)
        problems = log.problems()
        if problems:
            print(f"[{store}] note: the watcher logged {len(problems)} warnings/errors, e.g. {problems[:2]}",
                  flush=True)
        res["problems"] = problems[:20]
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait()
        log.poll()
        res["final_log"] = [j["msg"] for j in log.lines if j.get("msg", "").startswith("delivered ")]
        shutil.copy(logpath, os.path.join(sdir, "watcher.log"))
        if redis:
            redis.stop()
        if cm_name:
            api.delete_configmaps("bench", cm_name)
    res["load_after"] = os.getloadavg()
    return res


def med_range(xs, fmt):
    xs = sorted(xs)
    return f"{fmt(statistics.median(xs))} ({fmt(xs[0])}-{fmt(xs[-1])})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cluster")
    ap.add_argument("--stores", default="file,configmap,redis")
    ap.add_argument("--expect", type=int, default=100_000, help="Workflows in the cluster (default 100000)")
    ap.add_argument("--rate", type=float, default=100, help="changes per second (default 100)")
    ap.add_argument("--duration", type=float, default=60, help="seconds of changes per window (default 60)")
    ap.add_argument("--windows", type=int, default=3, help="windows per store (default 3)")
    ap.add_argument("--update-start", type=int, default=0, help="first Workflow index to update")
    ap.add_argument("--lead", type=float, default=15,
                    help="seconds between starting the updater and its first PUT (it builds 500 objects first)")
    ap.add_argument("--list-timeout", type=float, default=1800)
    ap.add_argument("--label", default="now", help="names the output folder and the result (e.g. before, after)")
    ap.add_argument("--out", help="default bench/.data/saves-LABEL (on the disk of the repository)")
    ap.add_argument("--watcher", help="binary (default: build-bench/workflow-watcher, -O2, copied aside)")
    ap.add_argument("--watcher-args", default="--watch-timeout-min 3600 --watch-timeout-max 3660",
                    help="more watcher flags (default: a watch timeout longer than the streaming list of 100 000 "
                         "Workflows from etcd takes here; the default 300-600 s ends it early, and the watcher falls "
                         "back to a paged LIST from the start)")
    ap.add_argument("--python", default=os.path.join(ROOT, ".venv", "bin", "python"))
    a = ap.parse_args()
    a.cluster = os.path.abspath(a.cluster)
    out = os.path.abspath(a.out or os.path.join(ROOT, "bench", ".data", f"saves-{a.label}"))
    os.makedirs(out, exist_ok=True)
    if not os.path.exists(a.python):
        die(f"{a.python} is missing: make the venv (scripts/run-tests does) or pass --python")
    stores = a.stores.split(",")
    if "redis" in stores and not shutil.which("redis-server"):
        die("redis-server is missing: scripts/install-deps installs it")
    api = Api(a.cluster)
    have = api.count_workflows()
    if have != a.expect:
        die(f"the cluster holds {have} Workflows in namespace bench, not {a.expect} (load them with load_cluster.py)")
    rev, dirty = benchlib.commit()
    with tempfile.TemporaryDirectory(prefix="wwsaves.", dir="/dev/shm") as tmp:
        ww, ww_build = benchlib.pinned_watcher(tmp, a.watcher)
        print(f"watcher {ww_build}, commit {rev}{' (src/ modified)' if dirty else ''}; {have} Workflows; "
              f"{a.rate:g} changes/s for {a.duration:g} s x {a.windows} windows per store; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
        results = [run_store(a, s, api, ww, out, tmp) for s in stores]
    doc = {"label": a.label, "commit": rev, "src_modified": dirty, "watcher": ww_build, "objects": have,
           "rate": a.rate, "duration": a.duration, "results": results}
    json.dump(doc, open(os.path.join(out, "result.json"), "w"), indent=1)
    print(f"\ncommit {rev}, {have} Workflows in the index, {a.rate:g} changes/s requested; median (min-max) of "
          f"{a.windows} windows of {a.duration:g} s\n")
    print("| store | updates/s answered | saves/s | changes/save | bytes/save | bytes/s | what is counted |")
    print("|---|---|---|---|---|---|---|")
    what = {"file": "write_bytes of the watcher (/proc/PID/io)", "redis": "redis total_net_input_bytes",
            "configmap": "API server request bodies, ConfigMap create/update"}
    for r in results:
        ws = r["windows"]
        print(f"| {r['store']} | {med_range([w['updates_per_s'] for w in ws], lambda x: f'{x:.1f}')} | "
              f"{med_range([w['saves_per_s'] for w in ws], lambda x: f'{x:.3f}')} | "
              f"{med_range([w['changes_per_save'] or 0 for w in ws], lambda x: f'{x:.0f}')} | "
              f"{med_range([w['bytes_per_save'] or 0 for w in ws], lambda x: f'{x:,.0f}')} | "
              f"{med_range([w['bytes_per_s'] for w in ws], lambda x: f'{x:,.0f}')} | {what[r['store']]} |")
    print(f"\n(all figures: {os.path.join(out, 'result.json')})")


if __name__ == "__main__":
    main()
