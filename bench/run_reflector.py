#!/usr/bin/env python3
"""run_reflector.py [--stream FILE] [--repeat R] [--runs N]: reflector throughput.

Serves FILE (a recorded watch stream, see record_stream.sh) repeated R times
from serve_stream.py on loopback and measures, N times each (median shown):
  curl        `curl -s URL > /dev/null`, the upper limit
  ww>null     build/workflow-watcher, stdout to /dev/null
  ww|wc       build/workflow-watcher, stdout into `wc -l` (the count is checked)
Time runs from the server's receipt of the watch request to curl's exit, or
to the watcher's second watch request, which it sends only after it has read,
parsed and written the whole stream (the server holds that one open). CPU
time and peak RSS are GNU time's (/usr/bin/time, Debian package "time").
MB = 10^6 bytes.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench", ".data")
WW = os.path.join(ROOT, "build", "workflow-watcher")
TIME = "/usr/bin/time"


def repeated(stream, r):
    out = os.path.join(DATA, f"{os.path.basename(stream)}.x{r}")
    if not os.path.exists(out) or os.path.getsize(out) != r * os.path.getsize(stream):
        with open(out + ".tmp", "wb") as f:
            for _ in range(r):
                with open(stream, "rb") as src:
                    shutil.copyfileobj(src, f)
        os.replace(out + ".tmp", out)
    return out


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
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
    sys.exit("the command did not start under /usr/bin/time")


def rusage(out):
    """user s, sys s, peak RSS KB from GNU time's output file."""
    with open(out) as f:
        _, user, sys_, rss = f.read().split()[-4:]
    return float(user), float(sys_), int(rss)


class Server:
    def __init__(self, stream, tmp):
        self.log = os.path.join(tmp, f"requests.{time.monotonic_ns()}")
        open(self.log, "w").close()
        self.p = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "serve_stream.py"), stream, self.log],
                                  stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline())

    def watches(self):
        with open(self.log) as f:
            return [float(l.split()[0]) for l in f if l.split()[1] != "0"]

    def stop(self):
        self.p.terminate()
        self.p.wait()


def run_curl(stream, tmp):
    srv = Server(stream, tmp)
    try:
        p, out = timed(["curl", "-s", f"http://127.0.0.1:{srv.port}/apis/argoproj.io/v1alpha1/namespaces/bench/"
                        "workflows?watch=true&resourceVersion=1"], tmp, stdout=subprocess.DEVNULL)
        p.wait()
        return (time.monotonic() - srv.watches()[0],) + rusage(out)
    finally:
        srv.stop()


def run_watcher(stream, tmp, lines, count):
    srv = Server(stream, tmp)
    kc = os.path.join(tmp, "kubeconfig")
    with open(kc, "w") as f:
        f.write(f"apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: http://127.0.0.1:{srv.port}\n"
                "users:\n- name: u\n  user: {}\ncontexts:\n- name: b\n  context:\n    cluster: b\n    user: u\n"
                "current-context: b\n")
    cmd = [WW, "--kubeconfig", kc, "--namespace", "bench", "--resource-version", "1", "--log-level", "warn"]
    err = open(os.path.join(tmp, "watcher.stderr"), "w+")
    try:
        if count:
            p, out = timed(cmd, tmp, stdout=subprocess.PIPE, stderr=err)
            wc = subprocess.Popen(["wc", "-l"], stdin=p.stdout, stdout=subprocess.PIPE, text=True)
            p.stdout.close()
        else:
            p, out = timed(cmd, tmp, stdout=subprocess.DEVNULL, stderr=err)
        ww = child_of(p)
        while len(srv.watches()) < 2 and p.poll() is None:
            time.sleep(0.01)
        w = srv.watches()
        if p.poll() is None:
            os.kill(ww, signal.SIGTERM)
        p.wait()
        user, sys_, rss = rusage(out)
        if len(w) < 2:
            sys.exit(f"the watcher exited ({p.returncode}) before re-watching; see {err.name}")
        if count:
            got = int(wc.communicate()[0])
            if got != lines:
                sys.exit(f"the watcher printed {got} lines, expected {lines}")
        err.seek(0)
        if err.read().strip():
            print(f"  note: the watcher logged warnings ({err.name})", file=sys.stderr)
        return w[1] - w[0], user, sys_, rss
    finally:
        srv.stop()


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    curl_v = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    with open(os.path.join(ROOT, "build", "meson-info", "intro-buildoptions.json")) as f:
        bt = next(o["value"] for o in json.load(f) if o["name"] == "buildtype")
    return (f"{os.cpu_count()} CPUs, {model}; Linux {platform.release()}; {curl_v.split(' (')[0]} "
            f"({curl_v.split()[3]}); build/ is {bt}; load average {os.getloadavg()[0]:.2f} before the runs")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stream", default=os.path.join(DATA, "stream.ndjson"))
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if not os.access(TIME, os.X_OK):
        sys.exit(f"{TIME} is missing: install GNU time (apt-get install -y time)")
    if not os.path.exists(a.stream):
        sys.exit(f"{a.stream} is missing: record it with bench/record_stream.sh (see bench/README.md)")
    if not os.path.exists(os.path.join(ROOT, "build", "build.ninja")):
        subprocess.run(["meson", "setup", os.path.join(ROOT, "build")], cwd=ROOT, check=True)
    subprocess.run(["ninja", "-C", os.path.join(ROOT, "build")], check=True, stdout=subprocess.DEVNULL)
    stream = repeated(a.stream, a.repeat)
    size = os.path.getsize(stream)
    lines = a.repeat * count_lines(a.stream)
    mb = size / 1e6
    print(f"machine: {machine()}")
    print(f"stream: {a.stream} x{a.repeat} = {lines} events, {mb:.1f} MB ({size / lines / 1e3:.1f} KB/event)")
    print(f"median of {a.runs} runs\n")
    print("| client | s | events/s | MB/s | MB/s min-max | CPU s/MB (user+sys) | user s | sys s | peak RSS KB |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="wwbench.") as tmp:
        for name, fn in [("`curl -s URL > /dev/null`", lambda: run_curl(stream, tmp)),
                         ("workflow-watcher > /dev/null", lambda: run_watcher(stream, tmp, lines, False)),
                         ("workflow-watcher \\| wc -l", lambda: run_watcher(stream, tmp, lines, True))]:
            runs = [fn() for _ in range(a.runs)]
            e, u, s, rss = (statistics.median(x) for x in zip(*runs))
            cpu = statistics.median(r[1] + r[2] for r in runs)
            rates = sorted(mb / r[0] for r in runs)
            print(f"| {name} | {e:.2f} | {lines / e:,.0f} | {mb / e:,.0f} | {rates[0]:,.0f}-{rates[-1]:,.0f} | "
                  f"{cpu / mb:.5f} | {u:.2f} | {s:.2f} | {rss:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
