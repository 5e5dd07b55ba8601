#!/usr/bin/env python3
"""run_reflector.py [--stream FILE ...] [--bytes B] [--runs N] [--dir D]: the
whole path's throughput beside curl's, on the same served stream.

Each recorded stream (record_stream.sh: N creates + N merge patches, 2N watch
lines) is repeated R times (R = enough for --bytes, default 1 GB) into a
replay file in which every event is a real change: repetition k gets new
uids (the first 8 hex digits of each uid become k) and every event a new,
strictly increasing resourceVersion, so no repetition is a replay of an
earlier one. serve_stream.py serves it on loopback (plain HTTP/1.1,
Content-Length, sendfile) to the first watch and holds later watches open.

Per stream, N runs of each client, the two alternating (curl first in even
runs, the watcher first in odd ones) so that load on the shared machine hits
both alike:
  curl  `curl -s -o D/curl.out URL`
  ww    `workflow-watcher --kubeconfig K --namespace bench --resource-version 1
         --checkpoint none --sink file://D/sink.ndjson --log-level info`,
        in a fresh empty working folder (so no default checkpoint is read or
        written): reflector, queue, tracker, raw encoder and the file sink
        (write + fsync per batch).
D is a tmpfs (/dev/shm) by default; --dir puts both outputs on a disk.
Time runs from the server's receipt of the watch request to the last write
into the output file (its mtime; the watcher is stopped with SIGTERM once
its sink has stopped growing after its second watch request, which it sends
only after it has read the whole stream). CPU and peak RSS are GNU time's
(/usr/bin/time, Debian package "time") for that one process. MB = 10^6 bytes
of the served stream (the same input for both). Every run is checked: curl's
file has exactly the stream's bytes; the watcher's sink has exactly one line
per event, its log says it delivered that many with 0 replays not
republished and no warning or error; otherwise the benchmark stops with an
error.

The watcher is build-bench/workflow-watcher (meson buildtype debugoptimized:
-O2 -g), rebuilt with ninja if needed and copied aside for the runs
(--watcher BIN runs another binary). --profile runs one more watcher pass of
each stream under `perf record -e cpu-clock -g` and prints the top symbols
(self time, user and kernel); --callgrind runs one repetition of each stream
under valgrind's callgrind and prints instructions by function, inclusive
(who calls the JSON skipper). --runs 0 runs only these.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench", ".data")
TIME = "/usr/bin/time"
STREAMS = [os.path.join(DATA, "stream-23k.ndjson"), os.path.join(DATA, "stream-100k.ndjson")]
RV0 = 1_000_000  # first resourceVersion of a replay file


def die(msg):
    print(f"run_reflector.py: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def replay(stream, repeat):
    """The replay file: stream x repeat with new uids and resourceVersions."""
    out = os.path.join(DATA, f"{os.path.basename(stream)}.replay-x{repeat}")
    stamp = out + ".ok"
    src_mtime = str(os.stat(stream).st_mtime_ns)
    if os.path.exists(out) and os.path.exists(stamp) and open(stamp).read() == src_mtime:
        return out
    lines = open(stream, "rb").read().split(b"\n")
    if lines[-1]:
        die(f"{stream} does not end with a newline")
    lines = lines[:-1]
    parsed = []
    for l in lines:
        md = json.loads(l)["object"]["metadata"]
        rv, uid = md["resourceVersion"].encode(), md["uid"].encode()
        krv, kuid = b'"resourceVersion":"' + rv + b'"', b'"uid":"' + uid + b'"'
        if l.count(krv) != 1 or l.count(kuid) != 1 or l.count(uid) != 1 or len(uid) != 36:
            die(f"{stream}: an event whose uid or resourceVersion is not unique in its line")
        parsed.append((l, krv, kuid, uid))
    rv = RV0
    with open(out + ".tmp", "wb") as f:
        for k in range(repeat):
            for l, krv, kuid, uid in parsed:
                rv += 1
                nuid = f"{k:08x}".encode() + uid[8:]
                f.write(l.replace(krv, b'"resourceVersion":"%d"' % rv).replace(kuid, b'"uid":"' + nuid + b'"'))
                f.write(b"\n")
    os.replace(out + ".tmp", out)
    open(stamp, "w").write(src_mtime)
    return out


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            n += chunk.count(b"\n")
    return n


def timed(cmd, tmp, **kw):
    """Starts cmd under GNU time (a small parent, so that peak RSS is cmd's own)."""
    out = os.path.join(tmp, f"time.{time.monotonic_ns()}")
    return subprocess.Popen([TIME, "-f", "%e %U %S %M", "-o", out] + cmd, **kw), out


def child_of(p):
    for _ in range(500):
        with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.01)
    die("the command did not start under /usr/bin/time")


def rusage(out):
    """user s, sys s, peak RSS KB from GNU time's output file."""
    with open(out) as f:
        _, user, sys_, rss = f.read().split()[-4:]
    return float(user), float(sys_), int(rss)


def mtime_mono(path):
    """The file's mtime on the monotonic clock (the server logs that one)."""
    return os.stat(path).st_mtime_ns / 1e9 - (time.time() - time.monotonic())


class Server:
    def __init__(self, stream, tmp):
        self.log = os.path.join(tmp, f"requests.{time.monotonic_ns()}")
        open(self.log, "w").close()
        self.p = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "serve_stream.py"), stream, self.log],
                                  stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline())
        self.url = f"http://127.0.0.1:{self.port}"

    def watches(self):
        with open(self.log) as f:
            return [float(l.split()[0]) for l in f if l.split()[1] != "0"]

    def stop(self):
        self.p.terminate()
        self.p.wait()


def run_curl(stream, size, tmp, outdir):
    srv = Server(stream, tmp)
    dst = os.path.join(outdir, "curl.out")
    try:
        p, out = timed(["curl", "-s", "-o", dst, f"{srv.url}/apis/argoproj.io/v1alpha1/namespaces/bench/"
                        "workflows?watch=true&resourceVersion=1"], tmp)
        if p.wait():
            die(f"curl exited {p.returncode}")
        got = os.path.getsize(dst)
        if got != size:
            die(f"curl wrote {got} bytes, the stream has {size}")
        t = mtime_mono(dst) - srv.watches()[0]
        return {"s": t, "out_bytes": got, **dict(zip(("user", "sys", "rss_kb"), rusage(out)))}
    finally:
        srv.stop()
        if os.path.exists(dst):
            os.unlink(dst)


def wait_still(path, quiet=0.3, limit=120):
    """Waits until path has not grown for `quiet` seconds."""
    last, since, end = -1, time.monotonic(), time.monotonic() + limit
    while time.monotonic() < end:
        n = os.path.getsize(path) if os.path.exists(path) else -1
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.01)
    die(f"{path} still grows after {limit} s")


def delivered(log):
    """The watcher's final stats from its JSON log: (delivered, replays), and the warnings."""
    n = stale = None
    bad = []
    for line in open(log):
        try:
            j = json.loads(line)
        except ValueError:
            bad.append(line.strip())
            continue
        if j.get("level") in ("warn", "error"):
            bad.append(j["msg"])
        m = j.get("msg", "")
        if m.startswith("delivered "):
            w = m.split()
            n = int(w[1])
            stale = int(m.split(" recovered, ")[1].split()[0])
    return n, stale, bad


def kubeconfig(path, url):
    with open(path, "w") as f:
        f.write(f"apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: {url}\n"
                "users:\n- name: u\n  user: {}\ncontexts:\n- name: b\n  context:\n    cluster: b\n    user: u\n"
                "current-context: b\n")


def watcher_cmd(ww, kc, sink):
    return [ww, "--kubeconfig", kc, "--namespace", "bench", "--resource-version", "1", "--checkpoint", "none",
            "--sink", "file://" + sink, "--log-level", "info"]


def run_watcher(ww, stream, lines, tmp, outdir, prefix=None):
    """One pass of the watcher over the served stream. prefix: a command to run it under (perf)."""
    srv = Server(stream, tmp)
    work = tempfile.mkdtemp(prefix="ww.", dir=tmp)  # fresh working folder: no default checkpoint anywhere
    kc = os.path.join(work, "kubeconfig")
    kubeconfig(kc, srv.url)
    sink = os.path.join(outdir, "sink.ndjson")
    log = os.path.join(work, "watcher.log")
    err = open(log, "w")
    cmd = (prefix or []) + watcher_cmd(ww, kc, sink)
    try:
        p, out = timed(cmd, tmp, stdout=subprocess.DEVNULL, stderr=err, cwd=work)
        ww_pid = child_of(p)
        if prefix:  # perf's child is the watcher
            for _ in range(500):
                kids = open(f"/proc/{ww_pid}/task/{ww_pid}/children").read().split()
                if kids:
                    ww_pid = int(kids[0])
                    break
                time.sleep(0.01)
        while len(srv.watches()) < 2 and p.poll() is None:
            time.sleep(0.01)
        w = srv.watches()
        if len(w) < 2:
            die(f"the watcher exited ({p.returncode}) before re-watching; see {log}")
        wait_still(sink)
        os.kill(ww_pid, signal.SIGTERM)
        if p.wait():
            die(f"the watcher exited {p.returncode}; see {log}")
        t = mtime_mono(sink) - w[0]
        got = count_lines(sink)
        n, stale, bad = delivered(log)
        if got != lines or n != lines or stale != 0 or bad:
            shutil.copy(log, os.path.join(DATA, "reflector-failed.log"))
            log = os.path.join(DATA, "reflector-failed.log")
        if got != lines:
            die(f"the watcher printed {got} lines, expected {lines} (log {log})")
        if n != lines or stale != 0:
            die(f"the watcher says it delivered {n} messages ({stale} replays not republished), expected {lines} "
                f"(log {log})")
        if bad:
            die(f"the watcher logged warnings or errors: {bad[:3]} (log {log})")
        if sorted(os.listdir(work)) != ["kubeconfig", "watcher.log"]:
            die(f"the watcher left files in its working folder: {os.listdir(work)}")
        res = {"s": t, "out_bytes": os.path.getsize(sink), "reader_s": w[1] - w[0],
               **dict(zip(("user", "sys", "rss_kb"), rusage(out)))}
        return res
    finally:
        srv.stop()
        if os.path.exists(sink):
            os.unlink(sink)
        shutil.rmtree(work, ignore_errors=True)


def profile(ww, stream, lines, tmp, outdir, name):
    data = os.path.join(DATA, f"perf-{name}.data")
    run_watcher(ww, stream, lines, tmp, outdir, ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-g",
                                                  "-o", data, "--"])
    for args in (["--no-children", "--sort", "symbol"], ["--no-children", "--sort", "dso"]):
        r = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", "--percent-limit", "0.7"] + args,
                           capture_output=True, text=True)
        print("\n".join(l for l in r.stdout.splitlines() if l.strip() and not l.startswith("#")))
    print(f"(perf data: {data}; callers: perf report -i {data} --no-children -g caller)")


def callgrind(ww, stream, tmp, outdir, name):
    """One repetition of the stream under callgrind: inclusive instruction counts by function."""
    rp = replay(stream, 1)
    data = os.path.join(DATA, f"callgrind-{name}.out")
    run_watcher(ww, rp, count_lines(stream), tmp, outdir,
                ["valgrind", "-q", "--tool=callgrind", f"--callgrind-out-file={data}"])
    r = subprocess.run(["callgrind_annotate", "--inclusive=yes", data], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    head = next(i for i, l in enumerate(lines) if "file:function" in l)
    print("\n".join(l for l in lines[:head + 40] if l.strip() and not l.startswith("--")))
    print(f"(callgrind data: {data}; callers: callgrind_annotate --inclusive=yes --tree=caller {data})")


def machine(ww_build):
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    curl_v = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    rev, dirty = benchlib.commit()
    return (f"{os.cpu_count()} CPUs, {model}; Linux {platform.release()}; {curl_v.split(' (')[0]}; "
            f"watcher {ww_build} at commit {rev}{' (src/ modified)' if dirty else ''}")


def fmt_row(name, runs, mb, lines):
    s = statistics.median(r["s"] for r in runs)
    rates = sorted(mb / r["s"] for r in runs)
    cpu = statistics.median(r["user"] + r["sys"] for r in runs)
    return (f"| {name} | {s:.3f} | {lines / s:,.0f} | {mb / s:,.0f} | {rates[0]:,.0f}-{rates[-1]:,.0f} | "
            f"{cpu * 1000 / mb:.2f} | {statistics.median(r['user'] for r in runs):.2f} | "
            f"{statistics.median(r['sys'] for r in runs):.2f} | {statistics.median(r['rss_kb'] for r in runs):,.0f} |")


def measure(a, ww, stream, repeat, rp, lines, tmp, outdir, fstype):
    """a.runs runs of curl and of the watcher on the replay file rp, alternating; prints the table."""
    size = os.path.getsize(rp)
    mb = size / 1e6
    load0, ticks0 = os.getloadavg(), benchlib.cpu_ticks()
    print(f"\nstream: {os.path.basename(stream)} x{repeat} with new uids and resourceVersions = {lines} "
          f"events, {mb:.1f} MB ({size / lines / 1e3:.1f} KB/event); {a.runs} runs of each, alternating; "
          f"load average {load0[0]:.2f} before", flush=True)
    curl, ww_runs = [], []
    for i in range(a.runs):
        for which in ([0, 1] if i % 2 == 0 else [1, 0]):
            if which == 0:
                curl.append(run_curl(rp, size, tmp, outdir))
            else:
                ww_runs.append(run_watcher(ww, rp, lines, tmp, outdir))
        print(f"  run {i + 1}: curl {mb / curl[-1]['s']:,.0f} MB/s, watcher {mb / ww_runs[-1]['s']:,.0f} "
              f"MB/s ({curl[-1]['s'] / ww_runs[-1]['s']:.1%} of curl), {lines} lines checked; "
              f"load average {os.getloadavg()[0]:.2f}", flush=True)
    load1, steal = os.getloadavg(), benchlib.steal_since(ticks0)
    ratios = sorted(c["s"] / w["s"] for c, w in zip(curl, ww_runs))
    print(f"load average {load1[0]:.2f} after; CPU time stolen by the hypervisor meanwhile {steal:.0%}; "
          f"median of {a.runs}\n")
    print("| client | s | events/s | MB/s | MB/s min-max | CPU ms/MB (user+sys) | user s | sys s | peak RSS KB |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(fmt_row("`curl -s -o FILE URL`", curl, mb, lines))
    print(fmt_row("workflow-watcher `--sink file://FILE --checkpoint none`", ww_runs, mb, lines))
    med = statistics.median(ratios)
    print(f"\nwatcher / curl MB/s, per pair of runs: median {med:.1%}, range {ratios[0]:.1%}-{ratios[-1]:.1%}"
          f" (goal: at least 60 %: {'met' if med >= 0.6 else 'NOT met'})", flush=True)
    return {"stream": stream, "repeat": repeat, "bytes": size, "events": lines, "dir": outdir, "fstype": fstype,
            "load_before": load0, "load_after": load1, "steal": steal, "curl": curl, "watcher": ww_runs,
            "ratio_median": med, "ratios": ratios}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stream", action="append", help=f"recorded stream (repeatable; default {STREAMS})")
    ap.add_argument("--bytes", type=float, default=1e9, help="size of each replay file (default 1e9)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default="/dev/shm", help="where curl's file and the sink go (default /dev/shm, a tmpfs)")
    ap.add_argument("--watcher", help="binary to run (default: build-bench/workflow-watcher, -O2)")
    ap.add_argument("--profile", action="store_true", help="also one perf-recorded watcher pass per stream")
    ap.add_argument("--callgrind", action="store_true",
                    help="also one repetition of each stream under valgrind --tool=callgrind (who calls what)")
    ap.add_argument("--json", default=os.path.join(DATA, "reflector-results.json"))
    a = ap.parse_args()
    streams = a.stream or STREAMS
    if not os.access(TIME, os.X_OK):
        die(f"{TIME} is missing: install GNU time (apt-get install -y time)")
    for s in streams:
        if not os.path.exists(s):
            die(f"{s} is missing: record it with bench/record_stream.sh (see bench/README.md)")
    with tempfile.TemporaryDirectory(prefix="wwbench.") as tmp:
        ww, ww_build = benchlib.pinned_watcher(tmp, a.watcher)
        outdir = tempfile.mkdtemp(prefix="wwbench-out.", dir=os.path.abspath(a.dir))  # the watcher runs elsewhere
        fstype = subprocess.run(["stat", "-f", "-c", "%T", outdir], capture_output=True, text=True).stdout.strip()
        print(f"machine: {machine(ww_build)}")
        print(f"outputs (curl's file and the watcher's sink) in {outdir} ({fstype})")
        results = []
        try:
            plan = []
            for stream in streams:
                repeat = max(1, round(a.bytes / os.path.getsize(stream)))
                rp = replay(stream, repeat)
                plan.append((stream, repeat, rp, repeat * count_lines(stream)))
            for stream, repeat, rp, lines in plan if a.runs else []:
                results.append(measure(a, ww, stream, repeat, rp, lines, tmp, outdir, fstype))
            if a.profile:
                for stream, repeat, rp, lines in plan:
                    print(f"\nprofile, one watcher pass of {os.path.basename(stream)} x{repeat} "
                          f"(perf record -e cpu-clock -g, self time):")
                    profile(ww, rp, lines, tmp, outdir, os.path.basename(stream).split(".")[0])
            if a.callgrind:
                for stream in streams:
                    print(f"\ncallgrind, one watcher pass of {os.path.basename(stream)} x1 (instructions, inclusive):")
                    callgrind(ww, stream, tmp, outdir, os.path.basename(stream).split(".")[0])
        finally:
            shutil.rmtree(outdir, ignore_errors=True)
        with open(a.json, "w") as f:
            json.dump({"machine": machine(ww_build), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
