"""benchlib.py: what the benchmarks share: the watcher binary they run (and what it was built from), and the
CPU time the hypervisor took from this VM while they ran (steal).

Benchmarks are measured at -O2: build-bench/ is configured with meson's
debugoptimized buildtype (-O2 -g), whatever build/ is, and the binary is
copied aside so that a rebuild cannot change it in the middle of a run.
"""
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build-bench")


def pinned_watcher(tmp, binary=None):
    """(path of the binary to run, description): binary as given, else
    build-bench/workflow-watcher, (re)built with ninja and copied into tmp."""
    if binary:
        return os.path.abspath(binary), binary
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        subprocess.run(["meson", "setup", BUILD, "--buildtype=debugoptimized"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", BUILD], check=True, stdout=subprocess.DEVNULL)
    ww = os.path.join(tmp, "workflow-watcher")
    shutil.copy2(os.path.join(BUILD, "workflow-watcher"), ww)
    return ww, "build-bench/ (meson debugoptimized, -O2 -g)"


def commit():
    """(short commit, whether src/ or meson.build have uncommitted changes)."""
    rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "meson.build"],
                           capture_output=True, text=True).stdout.strip()
    return rev, bool(dirty)


def cpu_ticks():
    """(steal, total) jiffies of all CPUs so far, from /proc/stat."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return f[7], sum(f[:8])


def steal_since(t0):
    """Share of CPU time stolen by the hypervisor since cpu_ticks() returned t0."""
    s1, n1 = cpu_ticks()
    return (s1 - t0[0]) / max(1, n1 - t0[1])
