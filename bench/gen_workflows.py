#!/usr/bin/env python3
"""gen_workflows.py N OUT [SEED [MIN_BYTES MAX_BYTES]]: writes N realistic
Argo Workflow objects, one JSON document per line, to OUT.

Each object is a running DAG workflow with a fan-out of Pod steps, a nested
Steps template and a status.nodes map as the Argo controller writes it.
The stored size (the object plus the managedFields the API server adds) is
spread uniformly over MIN_BYTES-MAX_BYTES (default 20-200 KB) by the number
of nodes; the output is the
same for the same N and SEED.
"""
import json
import random
import sys

IMAGES = ["ghcr.io/acme/etl:v3.14.2", "python:3.12-slim", "ghcr.io/acme/spark-runner:2.8.0",
          "alpine/k8s:1.30.2", "ghcr.io/acme/dbt:1.8.4", "amazon/aws-cli:2.17.0"]
TEMPLATES = ["extract", "transform", "validate", "load", "report", "notify", "compact", "train"]
HOSTS = [f"ip-10-0-{a}-{b}.eu-west-1.compute.internal" for a in (12, 13, 47, 96) for b in (7, 33, 118, 201)]


def ts(base, off):
    s = base + off
    return f"2025-11-{3 + s // 86400:02d}T{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z"


def fields_v1(v, top=False):
    """The fieldsV1 set the API server records for a manager that set v
    (used only to estimate the stored size)."""
    if not isinstance(v, dict) or not v:
        return {}
    d = {} if top else {".": {}}
    for k, x in v.items():
        d["f:" + k] = fields_v1(x)
    return d


def container(rng, name):
    return {
        "name": name,
        "inputs": {"parameters": [{"name": "shard"}, {"name": "date"}]},
        "outputs": {"parameters": [{"name": "rows", "valueFrom": {"path": "/tmp/rows"}}],
                    "artifacts": [{"name": "result", "path": "/tmp/out", "archive": {"none": {}}}]},
        "metadata": {"labels": {"app.kubernetes.io/component": name}},
        "container": {
            "name": "", "image": rng.choice(IMAGES), "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/sh", "-c"],
            "args": [f"set -eu; /app/{name} --shard={{{{inputs.parameters.shard}}}} --date={{{{inputs.parameters.date}}}}"
                     f" --out=/tmp/out --rows-file=/tmp/rows --bucket=s3://acme-datalake/{name}"],
            "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "AWS_REGION", "value": "eu-west-1"},
                    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "etl-db", "key": "password"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "resources": {"requests": {"cpu": rng.choice(["250m", "500m", "1"]), "memory": rng.choice(["512Mi", "1Gi", "2Gi"])},
                          "limits": {"cpu": "2", "memory": "4Gi"}},
            "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
        },
        "retryStrategy": {"limit": "3", "retryPolicy": "OnFailure", "backoff": {"duration": "30s", "factor": "2"}},
    }


def pod_node(rng, wf, nid, name, tmpl, boundary, t0, running):
    shard = rng.randrange(1000)
    start = t0 + rng.randrange(600)
    n = {
        "id": nid, "name": f"{wf}.{name}", "displayName": name, "type": "Pod", "templateName": tmpl,
        "templateScope": f"local/{wf}", "phase": "Running" if running else "Succeeded", "boundaryID": boundary,
        "startedAt": ts(start, 0), "finishedAt": None if running else ts(start, 30 + rng.randrange(900)),
        "progress": "0/1" if running else "1/1", "hostNodeName": rng.choice(HOSTS),
        "inputs": {"parameters": [{"name": "shard", "value": str(shard)}, {"name": "date", "value": "2025-11-03"}]},
    }
    if not running:
        n["resourcesDuration"] = {"cpu": rng.randrange(1, 4000), "memory": rng.randrange(1, 90000)}
        params = [{"name": "rows", "value": str(rng.randrange(10**7)), "valueFrom": {"path": "/tmp/rows"}}]
        # Some steps return a JSON document as an output parameter (up to ~3 KB).
        if rng.random() < 0.25:
            rows = [{"table": f"events_{i}", "rows": rng.randrange(10**6), "bytes": rng.randrange(10**9)}
                    for i in range(rng.randrange(5, 40))]
            params.append({"name": "summary", "value": json.dumps(rows), "valueFrom": {"path": "/tmp/summary.json"}})
        n["outputs"] = {
            "parameters": params,
            "artifacts": [{"name": "result", "path": "/tmp/out", "s3": {"key": f"{wf}/{nid}/result.tgz"}},
                          {"name": "main-logs", "s3": {"key": f"{wf}/{wf}-{tmpl}-{nid[-10:]}/main.log"}}],
            "exitCode": "0",
        }
    return n


def workflow(rng, i, target):
    tmpl = rng.choice(["etl-nightly", "ml-train", "report-daily", "backfill"])
    steps_used = TEMPLATES[:3 + target // 40_000]  # smaller workflows have fewer steps
    wf = f"{tmpl}-{i:04d}-{''.join(rng.choice('bcdfghjklmnpqrstvwxz2456789') for _ in range(5))}"
    t0 = rng.randrange(86400 * 3)
    nid = lambda: f"{wf}-{rng.randrange(10**9, 10**10)}"  # noqa: E731
    w = {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {
            "name": wf, "generateName": f"{tmpl}-", "namespace": "bench",
            "labels": {"workflows.argoproj.io/completed": "false", "workflows.argoproj.io/phase": "Running",
                       "workflows.argoproj.io/workflow-template": tmpl,
                       "workflows.argoproj.io/creator": "system-serviceaccount-argo-argo-server",
                       "team": rng.choice(["data", "ml", "finance"])},
            "annotations": {"workflows.argoproj.io/pod-name-format": "v2",
                            "workflows.argoproj.io/description": f"{tmpl} run for 2025-11-03, shard set {i}"},
        },
        "spec": {
            "entrypoint": "main", "serviceAccountName": "argo-workflow",
            "arguments": {"parameters": [{"name": "date", "value": "2025-11-03"}, {"name": "shards", "value": "64"}]},
            "podGC": {"strategy": "OnPodSuccess"}, "ttlStrategy": {"secondsAfterCompletion": 86400},
            "volumeClaimTemplates": [{"metadata": {"name": "scratch"},
                                      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}],
            "templates": [{"name": "main", "dag": {"tasks": [
                {"name": t, "template": t, "dependencies": TEMPLATES[:k][-1:],
                 "arguments": {"parameters": [{"name": "shard", "value": "{{item}}"},
                                              {"name": "date", "value": "{{workflow.parameters.date}}"}]},
                 "withSequence": {"count": "{{workflow.parameters.shards}}"}} for k, t in enumerate(steps_used)]}},
                {"name": "publish", "steps": [[{"name": "report", "template": "report"}], [{"name": "notify", "template": "notify"}]]},
            ] + [container(rng, t) for t in steps_used],
        },
        "status": {
            "phase": "Running", "startedAt": ts(t0, 0), "finishedAt": None, "progress": "0/0",
            "estimatedDuration": 1800 + rng.randrange(3600),
            "conditions": [{"type": "PodRunning", "status": "True"}],
            "artifactRepositoryRef": {"configMap": "artifact-repositories", "key": "default-v1", "namespace": "argo",
                                      "artifactRepository": {"archiveLogs": True, "s3": {
                                          "bucket": "acme-argo-artifacts", "endpoint": "s3.amazonaws.com", "region": "eu-west-1",
                                          "keyFormat": "{{workflow.name}}/{{pod.name}}"}}},
            "nodes": {},
            "taskResultsCompletionStatus": {},
        },
    }
    nodes, st = w["status"]["nodes"], w["status"]
    root = {"id": wf, "name": wf, "displayName": wf, "type": "DAG", "templateName": "main", "templateScope": f"local/{wf}",
            "phase": "Running", "startedAt": ts(t0, 0), "finishedAt": None, "progress": "0/0", "children": []}
    steps = {"id": nid(), "name": f"{wf}.publish", "displayName": "publish", "type": "Steps", "templateName": "publish",
             "templateScope": f"local/{wf}", "phase": "Pending", "boundaryID": wf, "startedAt": ts(t0, 0),
             "finishedAt": None, "progress": "0/0", "children": []}
    nodes[wf], nodes[steps["id"]] = root, steps
    root["children"].append(steps["id"])
    group, k, done, size_at = None, 0, 0, 0

    def size():
        return len(json.dumps(w, separators=(",", ":"))) + len(json.dumps(fields_v1(w, True), separators=(",", ":"))) + 700

    while True:
        # Add pods in batches, checking the size after each batch.
        for _ in range(max(1, (target - size_at) // 5000)):  # a pod node adds at most ~5 KB
            if group is None or len(group["children"]) >= rng.randrange(4, 40):
                t = steps_used[len([n for n in nodes.values() if n["type"] == "TaskGroup"]) % len(steps_used)]
                group = {"id": nid(), "name": f"{wf}.{t}", "displayName": t, "type": "TaskGroup", "templateName": t,
                         "templateScope": f"local/{wf}", "phase": "Running", "boundaryID": wf, "startedAt": ts(t0, 0),
                         "finishedAt": None, "progress": "0/0", "children": []}
                nodes[group["id"]] = group
                root["children"].append(group["id"])
            running = rng.random() < 0.1
            p = pod_node(rng, wf, nid(), f"{group['displayName']}({k}:{k})", group["templateName"], wf, t0, running)
            nodes[p["id"]] = p
            group["children"].append(p["id"])
            st["taskResultsCompletionStatus"][p["id"]] = not running
            k += 1
            done += not running
        size_at = size()
        if size_at >= target:
            break
    st["progress"] = root["progress"] = f"{done}/{k}"
    st["resourcesDuration"] = {"cpu": sum(n.get("resourcesDuration", {}).get("cpu", 0) for n in nodes.values()),
                               "memory": sum(n.get("resourcesDuration", {}).get("memory", 0) for n in nodes.values())}
    return w


def main():
    if len(sys.argv) not in (3, 4, 6):
        sys.exit(__doc__)
    n, out = int(sys.argv[1]), sys.argv[2]
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) >= 4 else 42)
    lo, hi = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) == 6 else (20_000, 200_000)
    with open(out, "w") as f:
        for i in range(n):
            target = rng.randrange(lo, hi + 1)
            f.write(json.dumps(workflow(rng, i, target), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
