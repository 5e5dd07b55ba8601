#!/usr/bin/env python3
"""load_cluster.py: creates or updates many realistic Workflows on a
test/cluster API server, concurrently, and says how fast the server took them.

  load_cluster.py create CLUSTER_DIR --count N [--start S]
      creates Workflows S .. S+N-1 in namespace bench; writes
      CLUSTER_DIR/bench-rv/<pid>.tsv lines "index TAB resourceVersion" (the
      resourceVersion the create returned, used by update).
  load_cluster.py update CLUSTER_DIR --count N [--start S] [--times FILE] [--rate R]
      replaces Workflows S .. S+N-1 with a full-object PUT that marks them
      Succeeded (status.phase, finishedAt, every node's phase and finishedAt,
      labels), as the Argo controller's Update does; FILE gets one line per
      accepted request, "seconds-since-epoch" of the response. With --rate,
      requests are paced: the k-th (of all processes) is sent no earlier than
      START + k/R, START being --rate-start (seconds since the epoch) or 3 s
      after the command starts (time for the processes to come up); with
      --duration D as well, requests not yet sent D seconds after START are
      left out (a fixed time, whatever rate the server sustains). It resumes
      from the newest resourceVersion recorded, so it can be run again on the
      same objects; a PUT refused with 409 (a stale recorded resourceVersion)
      is sent again with the object's current one.

Objects: a pool of --pool distinct objects from bench/gen_workflows.py (fixed
seed, stored size --min-bytes..--max-bytes, default 12-25 KB: 6-12 status
nodes), object i is pool[i % pool] renamed to "<template>-<i:06d>-<suffix>"
(the name is replaced everywhere, node ids included). Requests go through the
official kubernetes client's configured connection pool (TLS client cert
from CLUSTER_DIR/admin.kubeconfig) with the body pre-serialised, from --procs
processes of --threads threads each. Prints one JSON line of figures.
"""
import argparse
import concurrent.futures as cf
import glob
import json
import multiprocessing as mp
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_workflows  # noqa: E402

NS = "bench"
POOL = None


def make_pool(n, lo, hi, seed=7):
    rng = random.Random(seed)
    pool = []
    for j in range(n):
        w = gen_workflows.workflow(rng, j, rng.randrange(lo, hi + 1))
        pool.append((w["metadata"]["name"], w["metadata"]["generateName"], w))
    return pool


def obj(i, done=False):
    """Workflow i as a dict (fresh copy)."""
    old, prefix, w = POOL[i % len(POOL)]
    new = f"{prefix}{i:06d}-{old[-5:]}"
    s = json.dumps(w, separators=(",", ":")).replace(old, new)
    w = json.loads(s)
    if done:
        st = w["status"]
        st["phase"] = "Succeeded"
        st["finishedAt"] = "2025-11-06T23:59:59Z"
        st["conditions"] = [{"type": "PodRunning", "status": "False"}, {"type": "Completed", "status": "True"}]
        for n in st["nodes"].values():
            n["phase"] = "Succeeded"
            n["finishedAt"] = n.get("finishedAt") or "2025-11-06T23:59:00Z"
        w["metadata"]["labels"]["workflows.argoproj.io/phase"] = "Succeeded"
        w["metadata"]["labels"]["workflows.argoproj.io/completed"] = "true"
        # A PUT that changes nothing is a no-op without a watch event: make each one differ.
        w["metadata"]["annotations"]["bench.workflow-watcher/updated"] = str(time.time_ns())
    return new, w


def client(cluster):
    from kubernetes import client as kc, config as kcfg
    cfg = kc.Configuration()
    kcfg.load_kube_config(config_file=os.path.join(cluster, "admin.kubeconfig"), client_configuration=cfg)
    cfg.connection_pool_maxsize = 64
    api = kc.ApiClient(cfg)
    return cfg.host, api.rest_client.pool_manager


def worker(args):
    """Runs in a child process: a share of the indices, with threads."""
    mode, cluster, idx, threads, rv, due, until = args
    host, pm = client(cluster)
    base = f"{host}/apis/argoproj.io/v1alpha1/namespaces/{NS}/workflows"
    hdr = {"Content-Type": "application/json", "Accept": "application/json",
           "User-Agent": "workflow-controller/v3.6.4 bench"}
    out, lock = [], threading.Lock()
    errors, refetched = [0], [0]

    def one(i):
        if due:
            wait = due[i] - time.time()
            if wait > 0:
                time.sleep(wait)
            if until and time.time() >= until:
                return
        name, w = obj(i, done=(mode == "update"))
        if mode == "update":
            w["metadata"]["resourceVersion"] = rv[i]
        body = json.dumps(w, separators=(",", ":")).encode()
        for attempt in range(20):
            if mode == "create":
                r = pm.request("POST", base + "?fieldManager=workflow-controller", body=body, headers=hdr)
            else:
                r = pm.request("PUT", f"{base}/{name}?fieldManager=workflow-controller", body=body, headers=hdr)
            if r.status in (200, 201):
                got = json.loads(r.data)["metadata"]["resourceVersion"]
                with lock:
                    out.append((i, got, time.time(), len(body)))
                return
            if r.status == 409 and mode == "create":  # a retry after a lost response
                return
            if r.status == 409 and attempt < 3:
                # The recorded resourceVersion is stale (an update run that was
                # stopped before it wrote its file): take the current one.
                g = pm.request("GET", f"{base}/{name}", headers=hdr)
                if g.status == 200:
                    w["metadata"]["resourceVersion"] = json.loads(g.data)["metadata"]["resourceVersion"]
                    body = json.dumps(w, separators=(",", ":")).encode()
                    with lock:
                        refetched[0] += 1
                    continue
            if r.status in (429, 500, 503, 504):
                time.sleep(0.2 * (attempt + 1))
                continue
            with lock:
                errors[0] += 1
            print(f"{mode} {name}: HTTP {r.status} {r.data[:300]!r}", file=sys.stderr)
            return

    with cf.ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, idx))
    return out, errors[0], refetched[0]


def ts_last(done):
    return max(x[2] for x in done)


def main():
    global POOL
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["create", "update"])
    ap.add_argument("cluster")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--procs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--pool", type=int, default=500)
    ap.add_argument("--min-bytes", type=int, default=12_000)
    ap.add_argument("--max-bytes", type=int, default=25_000)
    ap.add_argument("--times", help="update: write response times here")
    ap.add_argument("--rate", type=float, help="at most this many requests per second, paced (all processes)")
    ap.add_argument("--rate-start", type=float, help="with --rate: when the first request is due (epoch seconds)")
    ap.add_argument("--duration", type=float,
                    help="with --rate: send nothing later than this many seconds after the start")
    a = ap.parse_args()
    cluster = os.path.abspath(a.cluster)
    POOL = make_pool(a.pool, a.min_bytes, a.max_bytes)  # before fork: children inherit it
    rvdir = os.path.join(cluster, "bench-rv")
    os.makedirs(rvdir, exist_ok=True)
    if a.mode == "create":
        host, pm = client(cluster)
        r = pm.request("POST", f"{host}/api/v1/namespaces", headers={"Content-Type": "application/json"},
                       body=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}))
        if r.status not in (201, 409):
            sys.exit(f"creating namespace {NS}: HTTP {r.status}")
    rv = {}
    if a.mode == "update":
        for f in sorted(glob.glob(os.path.join(rvdir, "*.tsv")), key=os.path.getmtime):  # newest last
            for line in open(f):
                i, v = line.split()
                rv[int(i)] = v
        missing = [i for i in range(a.start, a.start + a.count) if i not in rv]
        if missing:
            sys.exit(f"no resourceVersion recorded for {len(missing)} objects (first {missing[0]}): create them first")
    idx = list(range(a.start, a.start + a.count))
    shares = [idx[k::a.procs] for k in range(a.procs)]
    due, until = {}, None
    if a.rate:
        start = a.rate_start or time.time() + 3
        due = {i: start + k / a.rate for k, i in enumerate(idx)}
        if a.duration:
            until = start + a.duration
    t0 = time.time()
    with mp.get_context("fork").Pool(a.procs) as pool:
        res = pool.map(worker, [(a.mode, cluster, s, a.threads, {i: rv[i] for i in s} if rv else None,
                                 {i: due[i] for i in s} if due else None, until) for s in shares])
    t1 = time.time()
    done = [x for r, _, _ in res for x in r]
    errors = sum(e for _, e, _ in res)
    refetched = sum(f for _, _, f in res)
    with open(os.path.join(rvdir, f"{a.mode}-{os.getpid()}.tsv"), "w") as f:
        for i, v, _, _ in done:
            f.write(f"{i}\t{v}\n")
    if a.times:
        with open(a.times, "w") as f:
            for _, _, t, _ in sorted(done, key=lambda x: x[2]):
                f.write(f"{t:.6f}\n")
    body = sum(x[3] for x in done)
    ts = sorted(x[2] for x in done)
    paced = {}
    if due:
        late = sorted(t - due[i] for i, _, t, _ in done)
        first_due = min(due.values())
        paced = {"rate": a.rate, "first_due": first_due, "left_out": len(idx) - len(done) - errors,
                 "per_s_since_first_due": round(len(done) / (ts_last(done) - first_due), 1) if done else None,
                 "answer_after_due_s_median": round(late[len(late) // 2], 3) if late else None,
                 "answer_after_due_s_max": round(late[-1], 3) if late else None}
    print(json.dumps({"mode": a.mode, "count": len(done), "errors": errors, "stale_rv_refetched": refetched,
                      "seconds": round(t1 - t0, 2),
                      "per_s": round(len(done) / (t1 - t0), 1), **paced,
                      "first_response": ts[0] if ts else None, "last_response": ts[-1] if ts else None,
                      "start": t0, "request_body_mb": round(body / 1e6, 1),
                      "procs": a.procs, "threads": a.threads}))


if __name__ == "__main__":
    main()
