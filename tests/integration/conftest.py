"""Fixtures for integration tests: a real kube-apiserver + etcd (test/cluster),
the official Kubernetes Python client, and a running workflow-watcher whose
stdout and stderr are collected line by line.

Set WW_CLUSTER_DIR to reuse a running cluster (started with test/cluster/up);
otherwise one is started for the session and stopped at the end.
"""
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
from kubernetes import client, config

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("WW_BINARY", os.path.join(ROOT, "build", "workflow-watcher"))
GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "workflows"


def read_env(d):
    env = {}
    with open(os.path.join(d, "env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v.strip("'")
    return env


class Cluster:
    def __init__(self, d):
        self.dir = d
        self.env = read_env(d)
        self.kubeconfig = os.path.join(d, "admin.kubeconfig")
        self.nobody_kubeconfig = os.path.join(d, "nobody.kubeconfig")
        self.url = self.env["APISERVER_URL"]
        self.api_client = config.new_client_from_config(config_file=self.kubeconfig)
        self.custom = client.CustomObjectsApi(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.rbac = client.RbacAuthorizationV1Api(self.api_client)

    def ctl(self, *args):
        out = subprocess.run([os.path.join(ROOT, "test", "cluster", "ctl"), self.dir, *args],
                             check=True, capture_output=True, text=True, timeout=120)
        self.env = read_env(self.dir)
        return out.stdout.strip()

    def namespace(self, prefix="t"):
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace({"metadata": {"name": name}})
        return name

    # Workflow helpers: each returns the object the API server returned.
    def create_wf(self, ns, name, status=None, labels=None, spec=None):
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Workflow",
                "metadata": {"name": name, "labels": labels or {}},
                "spec": spec or {"entrypoint": "main", "templates": [{"name": "main", "container": {"image": "alpine"}}]}}
        if status is not None:
            body["status"] = status
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)

    def update_wf(self, obj):
        """Full-object update, as the Argo controller writes."""
        m = obj["metadata"]
        return self.custom.replace_namespaced_custom_object(GROUP, VERSION, m["namespace"], PLURAL, m["name"], obj)

    def patch_wf(self, ns, name, patch):
        return self.custom.patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, patch)

    def delete_wf(self, ns, name):
        return self.custom.delete_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)

    def list_wf(self, ns=None):
        if ns:
            return self.custom.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL)
        return self.custom.list_cluster_custom_object(GROUP, VERSION, PLURAL)


@pytest.fixture(scope="session")
def cluster():
    d = os.environ.get("WW_CLUSTER_DIR")
    if d:
        yield Cluster(d)
        return
    d = tempfile.mkdtemp(prefix="ww-cluster-")
    subprocess.run([os.path.join(ROOT, "test", "cluster", "up"), d], check=True, timeout=1800)
    try:
        yield Cluster(d)
    finally:
        subprocess.run([os.path.join(ROOT, "test", "cluster", "down"), d], check=False, timeout=120)


def wait_until(pred, timeout=30.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Watcher:
    """A workflow-watcher process; stdout lines parsed as JSON events."""

    def __init__(self, args, env=None, cwd=None):
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("WORKFLOW_WATCHER_") or k == "KUBECONFIG":
                del e[k]
        e.update(env or {})
        # Each watcher keeps its default checkpoint in a folder of its own,
        # unless the test says where (restart tests pass the same one).
        if "XDG_STATE_HOME" not in (env or {}) and not any(a.startswith(("--checkpoint", "-checkpoint"))
                                                          for a in args):
            e["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="ww-state-")
        self.args = [BINARY, *args]
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e, cwd=cwd)
        self.lines, self.logs = [], []
        self._lock = threading.Lock()
        self._t_out = threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True)
        self._t_err = threading.Thread(target=self._read, args=(self.proc.stderr, self.logs), daemon=True)
        self._t_out.start()
        self._t_err.start()

    def _read(self, stream, sink):
        for raw in iter(stream.readline, b""):
            with self._lock:
                sink.append(raw)

    def _drained(self):
        """Once the process has exited, waits for the readers to take what it
        wrote (they run behind it)."""
        if self.proc.poll() is not None:
            self._t_out.join(timeout=10)
            self._t_err.join(timeout=10)

    def events(self):
        self._drained()
        with self._lock:
            return [json.loads(l) for l in self.lines]

    def raw_lines(self):
        with self._lock:
            return list(self.lines)

    def log_text(self):
        self._drained()
        with self._lock:
            return b"".join(self.logs).decode(errors="replace")

    def log_records(self):
        out = []
        for l in self.log_text().splitlines():
            try:
                out.append(json.loads(l))
            except ValueError:
                pass
        return out

    def events_for(self, ns=None, name=None):
        return [e for e in self.events()
                if (ns is None or e["object"]["metadata"].get("namespace") == ns)
                and (name is None or e["object"]["metadata"]["name"] == name)]

    def wait_events(self, pred, timeout=30.0, what="events"):
        return wait_until(lambda: pred(self.events()), timeout=timeout, what=what + "\n--- log:\n" + self.log_text()[-3000:])

    def wait_log(self, text, timeout=30.0):
        return wait_until(lambda: text in self.log_text(), timeout=timeout, what=f"log line containing {text!r}")

    def wait_ready(self, timeout=30.0):
        """Waits for the initial list or streaming list to complete."""
        return wait_until(lambda: ("streaming list complete" in self.log_text() or " listed " in self.log_text()),
                          timeout=timeout, what="initial list\n" + self.log_text()[-2000:])

    def stop(self, sig=15, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        self._t_out.join(5)
        self._t_err.join(5)
        return rc


@pytest.fixture
def watcher_factory():
    ws = []

    def make(args, env=None, cwd=None):
        w = Watcher(args, env=env, cwd=cwd)
        ws.append(w)
        return w

    yield make
    for w in ws:
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()
