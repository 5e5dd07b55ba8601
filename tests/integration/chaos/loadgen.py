"""Load generator for the chaos test.

Creates, updates and deletes Argo Workflows the way the Argo controller
writes them (full-object PUTs carrying the resourceVersion read last) and
records, per object (uid), every resourceVersion the API server returned for
it, in order. The records are what the checker holds the sink against.

Every write is made exactly once as far as the records go, even though the
API server is restarted under it: a write whose outcome is unknown (a
connection error, a 5xx, a 409 after a lost response) is resolved by reading
the object back. Each write stamps the annotation chaos.ww/step with its
step number, and this generator is the only writer of its objects, so the
object read back tells whether the write happened and, if it did, its
resourceVersion. A DELETE returns a Status (no resourceVersion), so a
deletion is recorded as a flag; the checker treats it specially.
"""
import copy
import random
import threading
import time

from kubernetes import client, config
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "workflows"
STEP = "chaos.ww/step"
RETRYABLE_STATUS = {0, 429, 500, 502, 503, 504}
OP_DEADLINE = 120.0          # seconds one write may keep retrying (API server down)
TIMEOUT = (5, 15)            # connect, read timeout of every request


class LoadError(Exception):
    pass


def _ts(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t or time.time()))


class Record:
    """What the generator knows about one Workflow it made."""

    def __init__(self, ns, name):
        self.ns, self.name = ns, name
        self.uid = None
        self.rvs = []            # every resourceVersion returned, in order (ints)
        self.deleted = False
        self.delete_kind = None  # "mid" (deleted while running) or "end"
        self.obj = None          # last object returned (body for the next PUT)
        self.step = 0

    def as_dict(self):
        return {"ns": self.ns, "name": self.name, "rvs": list(self.rvs), "deleted": self.deleted,
                "delete_kind": self.delete_kind}


def plan_workflow(rng, mid_delete_p=0.1, end_delete_p=0.3, fail_p=0.2):
    """The steps of one workflow's life: create, Pending, Running with nodes
    growing one by one, Succeeded/Failed; some are deleted while running,
    some after they finished (the end deletions run last)."""
    n_nodes = rng.randint(1, 4)
    steps = ["create", "pending"] + [("node", i) for i in range(n_nodes)]
    if rng.random() < mid_delete_p:
        cut = rng.randint(2, len(steps))       # after Pending or after some node
        return steps[:cut] + ["delete-mid"], False
    steps.append(("final", "Failed" if rng.random() < fail_p else "Succeeded"))
    return steps, rng.random() < end_delete_p


class LoadGen:
    def __init__(self, kubeconfig, namespaces, n_workflows=300, duration=80.0, seed=0, workers=6,
                 inflight=3, log=print):
        self.kubeconfig = kubeconfig
        self.namespaces = list(namespaces)
        self.n_workflows = n_workflows
        self.duration = duration
        self.seed = seed
        self.n_workers = workers
        self.inflight = inflight
        self.log = log
        self.records = {}                 # (ns, name) -> Record
        self._lock = threading.Lock()
        self.stop_event = threading.Event()
        self.errors = []
        self.threads = []
        self.writes = 0                   # successful writes (create, update, delete)
        self.conflicts = 0                # 409 answers resolved by reading back
        self.ambiguous = 0                # writes with unknown outcome resolved by reading back
        self.failed_attempts = 0          # attempts that failed and were retried
        self.started = self.finished = None

    # --- API access with retries -------------------------------------------------

    def _api(self):
        cfg = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, client_configuration=cfg)
        cfg.retries = False      # no hidden urllib3 retries: every failure goes through the loops here
        return client.CustomObjectsApi(client.ApiClient(cfg))

    def _count(self, attr):
        with self._lock:
            setattr(self, attr, getattr(self, attr) + 1)

    @staticmethod
    def _retryable(e):
        if isinstance(e, ApiException):
            return e.status in RETRYABLE_STATUS
        return True   # urllib3/ssl/socket errors: connection refused, reset, timeouts

    def _pause(self, deadline, what, err):
        if time.monotonic() > deadline:
            raise LoadError(f"{what}: still failing after {OP_DEADLINE:.0f} s: {err!r}")
        if self.stop_event.is_set():
            raise LoadError(f"{what}: stopped")
        self._count("failed_attempts")
        time.sleep(0.2)   # retry pacing while the API server is down, not synchronisation

    def _get(self, api, rec, deadline):
        """The object as stored now (consistent read), or None if it does not exist."""
        while True:
            try:
                return api.get_namespaced_custom_object(GROUP, VERSION, rec.ns, PLURAL, rec.name,
                                                        _request_timeout=TIMEOUT)
            except ApiException as e:
                if e.status == 404:
                    return None
                if not self._retryable(e):
                    raise
                err = e
            except Exception as e:   # noqa: BLE001 - any transport error
                err = e
            self._pause(deadline, f"GET {rec.ns}/{rec.name}", err)

    def _record(self, rec, obj):
        rv = int(obj["metadata"]["resourceVersion"])
        uid = obj["metadata"]["uid"]
        with self._lock:
            if rec.uid is None:
                rec.uid = uid
            elif rec.uid != uid:
                raise LoadError(f"{rec.ns}/{rec.name}: uid changed {rec.uid} -> {uid}")
            if rec.rvs and rv <= rec.rvs[-1]:
                raise LoadError(f"{rec.ns}/{rec.name}: resourceVersion went back {rec.rvs[-1]} -> {rv}")
            rec.rvs.append(rv)
            rec.obj = obj
            self.writes += 1

    def create(self, api, rec, status=None):
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Workflow",
                "metadata": {"name": rec.name, "labels": {"app": "chaos", "workflows.argoproj.io/completed": "false"},
                             "annotations": {STEP: "0"}},
                "spec": {"entrypoint": "main", "arguments": {"parameters": [{"name": "seed", "value": str(self.seed)}]},
                         "templates": [{"name": "main", "steps": [[{"name": "s", "template": "work"}]]},
                                       {"name": "work", "container": {"image": "alpine:3", "command": ["true"]}}]}}
        if status is not None:
            body["status"] = status
        deadline = time.monotonic() + OP_DEADLINE
        while True:
            try:
                obj = api.create_namespaced_custom_object(GROUP, VERSION, rec.ns, PLURAL, body,
                                                          _request_timeout=TIMEOUT)
                self._record(rec, obj)
                return
            except ApiException as e:
                if e.status == 409:
                    self._count("conflicts")
                elif self._retryable(e):
                    self._count("ambiguous")
                else:
                    raise
                err = e
            except Exception as e:   # noqa: BLE001
                self._count("ambiguous")
                err = e
            cur = self._get(api, rec, deadline)
            if cur is not None:
                if cur["metadata"].get("annotations", {}).get(STEP) != "0":
                    raise LoadError(f"create {rec.ns}/{rec.name}: found a foreign object")
                self._record(rec, cur)   # the lost-answer create did happen
                return
            self._pause(deadline, f"create {rec.ns}/{rec.name}", err)

    def update(self, api, rec, mutate):
        """Full-object update (PUT with the last resourceVersion), as Argo writes."""
        rec.step += 1
        step = str(rec.step)
        body = copy.deepcopy(rec.obj)
        mutate(body)
        body["metadata"].setdefault("annotations", {})[STEP] = step
        deadline = time.monotonic() + OP_DEADLINE
        while True:
            try:
                obj = api.replace_namespaced_custom_object(GROUP, VERSION, rec.ns, PLURAL, rec.name, body,
                                                           _request_timeout=TIMEOUT)
                self._record(rec, obj)
                return
            except ApiException as e:
                if e.status == 409:
                    self._count("conflicts")
                elif self._retryable(e):
                    self._count("ambiguous")
                else:
                    raise
                err = e
            except Exception as e:   # noqa: BLE001
                self._count("ambiguous")
                err = e
            cur = self._get(api, rec, deadline)
            if cur is None:
                raise LoadError(f"update {rec.ns}/{rec.name}: the object vanished")
            cur_step = cur["metadata"].get("annotations", {}).get(STEP)
            if cur_step == step:
                self._record(rec, cur)   # our write happened; its answer was lost
                return
            if cur_step != str(rec.step - 1) or int(cur["metadata"]["resourceVersion"]) != rec.rvs[-1]:
                raise LoadError(f"update {rec.ns}/{rec.name}: unexpected state step={cur_step} "
                                f"rv={cur['metadata']['resourceVersion']} (ours: step {rec.step - 1} rv {rec.rvs[-1]})")
            body["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            self._pause(deadline, f"update {rec.ns}/{rec.name}", err)

    def delete(self, api, rec, kind):
        deadline = time.monotonic() + OP_DEADLINE
        tried = False
        while True:
            try:
                api.delete_namespaced_custom_object(GROUP, VERSION, rec.ns, PLURAL, rec.name,
                                                    body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=rec.uid)),
                                                    _request_timeout=TIMEOUT)
                break
            except ApiException as e:
                if e.status == 404 and tried:
                    break   # an earlier attempt whose answer was lost did delete it
                if e.status == 409:
                    self._count("conflicts")
                elif self._retryable(e):
                    self._count("ambiguous")
                else:
                    raise
                err = e
            except Exception as e:   # noqa: BLE001
                self._count("ambiguous")
                err = e
            tried = True
            if self._get(api, rec, deadline) is None:
                break
            self._pause(deadline, f"delete {rec.ns}/{rec.name}", err)
        with self._lock:
            rec.deleted = True
            rec.delete_kind = kind
            self.writes += 1

    # --- Argo-like status changes --------------------------------------------------

    @staticmethod
    def _node(wf, i, phase):
        nid = f"{wf}-{1000000000 + i * 7919}"
        n = {"id": nid, "name": f"{wf}[0].s-{i}", "displayName": f"s-{i}", "type": "Pod",
             "templateName": "work", "phase": phase, "boundaryID": wf, "startedAt": _ts(),
             "hostNodeName": "node-1", "progress": "0/1"}
        if phase in ("Succeeded", "Failed"):
            n["finishedAt"] = _ts()
            n["progress"] = "1/1"
        if phase == "Failed":
            n["message"] = "Error (exit code 1)"
        return nid, n

    def step(self, api, rec, step, n_nodes):
        wf = rec.name
        if step == "create":
            self.create(api, rec)
        elif step == "pending":
            def m(o):
                o["status"] = {"phase": "Pending", "startedAt": _ts(), "progress": f"0/{n_nodes}",
                               "nodes": {}, "estimatedDuration": 10}
            self.update(api, rec, m)
        elif step[0] == "node":
            i = step[1]

            def m(o):
                st = o.setdefault("status", {})
                st["phase"] = "Running"
                nodes = st.setdefault("nodes", {})
                if i > 0:                                    # the previous pod finished
                    pid, pn = self._node(wf, i - 1, "Succeeded")
                    nodes[pid] = pn
                nid, n = self._node(wf, i, "Running")
                nodes[nid] = n
                st["progress"] = f"{i}/{n_nodes}"
            self.update(api, rec, m)
        elif step[0] == "final":
            phase = step[1]

            def m(o):
                st = o.setdefault("status", {})
                nodes = st.setdefault("nodes", {})
                nid, n = self._node(wf, n_nodes - 1, phase)
                nodes[nid] = n
                st.update({"phase": phase, "finishedAt": _ts(), "progress": f"{n_nodes}/{n_nodes}"})
                if phase == "Failed":
                    st["message"] = "child 's' failed"
                o["metadata"]["labels"]["workflows.argoproj.io/completed"] = "true"
                o["metadata"]["labels"]["workflows.argoproj.io/phase"] = phase
            self.update(api, rec, m)
        elif step == "delete-mid":
            self.delete(api, rec, "mid")
        elif step == "delete-end":
            self.delete(api, rec, "end")
        else:
            raise ValueError(step)

    # --- before the watcher starts -----------------------------------------------

    def precreate(self, per_ns=5):
        """Objects that exist (and changed) before the watcher's first start:
        they reach the watcher through its initial list. Returns the highest
        resourceVersion written."""
        api = self._api()
        rng = random.Random(f"{self.seed}-pre")
        for ns in self.namespaces:
            for i in range(per_ns):
                rec = self._new(ns, f"pre-{i}")
                self.step(api, rec, "create", 2)
                for s in ["pending", ("node", 0), ("node", 1)][:rng.randint(0, 3)]:
                    self.step(api, rec, s, 2)
        return max(r.rvs[-1] for r in self.records.values())

    def sentinel(self, ns, name):
        """Creates one more (recorded) Workflow; returns (uid, resourceVersion)."""
        rec = self._new(ns, name)
        self.step(self._api(), rec, "create", 1)
        return rec.uid, rec.rvs[-1]

    def gap_churn(self, rng, tag):
        """The three kinds of change a relist must recover, made on objects
        the load does not touch: one pre-existing object (known to every
        checkpoint) changes, another is deleted, a new one appears. Returns a
        description."""
        api = self._api()
        with self._lock:
            pre = [r for r in self.records.values() if r.name.startswith("pre-") and not r.deleted]
        changed, vanished = rng.sample(pre, 2)

        def m(o):
            o.setdefault("status", {}).update({"phase": "Succeeded", "finishedAt": _ts()})
        self.update(api, changed, m)
        self.delete(api, vanished, "gap")
        ns = rng.choice(self.namespaces)
        appeared = self._new(ns, f"gap-{tag}")
        self.step(api, appeared, "create", 1)
        return (f"changed {changed.ns}/{changed.name}, deleted {vanished.ns}/{vanished.name}, "
                f"created {ns}/{appeared.name}")

    def uid_of(self, ns, name):
        return self.records[(ns, name)].uid

    def _new(self, ns, name):
        rec = Record(ns, name)
        with self._lock:
            assert (ns, name) not in self.records
            self.records[(ns, name)] = rec
        return rec

    # --- the load ----------------------------------------------------------------

    def start(self):
        rng = random.Random(f"{self.seed}-plan")
        per_worker = [[] for _ in range(self.n_workers)]
        for i in range(self.n_workflows):
            ns = self.namespaces[i % len(self.namespaces)]
            steps, end_delete = plan_workflow(rng)
            n_nodes = sum(1 for s in steps if isinstance(s, tuple) and s[0] == "node")
            per_worker[i % self.n_workers].append((ns, f"wf-{i:04d}", steps, end_delete, max(n_nodes, 1)))
        self.started = time.monotonic()
        for k, plans in enumerate(per_worker):
            t = threading.Thread(target=self._worker, args=(k, plans), name=f"loadgen-{k}", daemon=True)
            self.threads.append(t)
            t.start()
        return self

    def _worker(self, k, plans):
        try:
            self._run_worker(k, plans)
        except Exception as e:   # noqa: BLE001 - reported by join()
            if not self.stop_event.is_set():
                self.errors.append(f"worker {k}: {e!r}")
            self.stop_event.set()

    def _run_worker(self, k, plans):
        rng = random.Random(f"{self.seed}-worker-{k}")
        api = self._api()
        total = sum(len(p[2]) + (1 if p[3] else 0) for p in plans)
        interval = self.duration / max(total, 1)
        t0 = time.monotonic()
        done = 0
        queue = list(plans)
        active = []            # [rec, steps, pos, n_nodes, end_delete]
        end_deletes = []

        def pace():
            # spreads the writes over the duration (load pacing, not synchronisation)
            due = t0 + (done + rng.uniform(-0.5, 0.5)) * interval
            wait = due - time.monotonic()
            if wait > 0:
                self.stop_event.wait(wait)

        while (queue or active) and not self.stop_event.is_set():
            while len(active) < self.inflight and queue:
                ns, name, steps, end_delete, n_nodes = queue.pop(0)
                active.append([self._new(ns, name), steps, 0, n_nodes, end_delete])
            a = rng.choice(active)
            rec, steps, pos, n_nodes, end_delete = a
            pace()
            self.step(api, rec, steps[pos], n_nodes)
            done += 1
            a[2] += 1
            if a[2] == len(steps):
                active.remove(a)
                if end_delete:
                    end_deletes.append(rec)
        for rec in end_deletes:
            if self.stop_event.is_set():
                break
            pace()
            self.step(api, rec, "delete-end", 0)
            done += 1

    def running(self):
        return any(t.is_alive() for t in self.threads)

    def join(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self.running():
            self.stop_event.set()
            raise LoadError(f"the load did not finish within {timeout} s")
        self.finished = time.monotonic()
        if self.errors:
            raise LoadError("; ".join(self.errors))

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(30)

    def snapshot(self):
        """uid -> record dict, for the checker (objects whose create never
        succeeded have no uid and cannot appear anywhere)."""
        with self._lock:
            return {r.uid: r.as_dict() for r in self.records.values() if r.uid}

    def figures(self):
        return {"writes": self.writes, "conflicts_resolved": self.conflicts,
                "ambiguous_writes_resolved": self.ambiguous, "failed_attempts": self.failed_attempts,
                "load_seconds": round((self.finished or time.monotonic()) - (self.started or time.monotonic()), 1)}
