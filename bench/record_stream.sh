#!/usr/bin/env bash
# record_stream.sh CLUSTER_DIR OUT [N [MIN_BYTES MAX_BYTES]]: records a real
# watch stream of N (default 300) generated Workflows from the API server that
# `test/cluster/up CLUSTER_DIR` started: each object is created (ADDED) and
# then marked Succeeded by a merge patch (MODIFIED). OUT gets the API
# server's own watch lines, 2*N of them. MIN_BYTES-MAX_BYTES is the stored
# size range passed to gen_workflows.py (default 20-200 KB).
set -euo pipefail
(($# == 2 || $# == 3 || $# == 5)) || { echo "usage: $0 CLUSTER_DIR OUT [N [MIN_BYTES MAX_BYTES]]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
dir=$1 out=$2 n=${3:-300}
sizes=()
(($# == 5)) && sizes=("$4" "$5")
source "$dir/env"
pki=$dir/pki
# A client-go-like User-Agent: for curl's the API server pretty-prints bodies.
kcurl=(curl -sS -A "workflow-controller/v3.6.4 bench" --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key")
k() { "${kcurl[@]}" "$@"; }
wf=$APISERVER_URL/apis/argoproj.io/v1alpha1/namespaces/bench/workflows

objs=$(mktemp)
trap 'rm -f "$objs"; [[ -n ${watch_pid:-} ]] && kill "$watch_pid" 2>/dev/null || true' EXIT
python3 "$here/gen_workflows.py" "$n" "$objs" ${sizes[@]:+42 "${sizes[@]}"}

k -o /dev/null -X POST -H 'Content-Type: application/json' "$APISERVER_URL/api/v1/namespaces" \
  -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}'
rv=$(k "$wf?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])')
echo "watching from resourceVersion $rv" >&2
# curl itself in the background, not the function k: $! must be curl's pid,
# or the kill below reaches only a subshell and curl keeps running.
"${kcurl[@]}" -N "$wf?watch=true&resourceVersion=$rv&timeoutSeconds=1800" > "$out" &
watch_pid=$!

while IFS= read -r obj; do
  printf '%s' "$obj" | k -o /dev/null --fail-with-body -X POST -H 'Content-Type: application/json' \
    --data-binary @- "$wf?fieldManager=workflow-controller"
done < "$objs"
mapfile -t names < <(python3 -c 'import json,sys; [print(json.loads(l)["metadata"]["name"]) for l in sys.stdin]' < "$objs")
echo "created ${#names[@]} workflows" >&2
for name in "${names[@]}"; do
  k -o /dev/null --fail-with-body -X PATCH -H 'Content-Type: application/merge-patch+json' \
    "$wf/$name?fieldManager=workflow-controller" -d '{"metadata":{"labels":{"workflows.argoproj.io/phase":"Succeeded",
    "workflows.argoproj.io/completed":"true"}},"status":{"phase":"Succeeded","finishedAt":"2025-11-06T23:59:59Z",
    "conditions":[{"type":"PodRunning","status":"False"},{"type":"Completed","status":"True"}]}}'
done
echo "patched ${#names[@]} workflows" >&2

want=$((2 * n))
for _ in $(seq 600); do
  (( $(wc -l < "$out") >= want )) && break
  sleep 0.1
done
kill "$watch_pid"; wait "$watch_pid" 2>/dev/null || true; watch_pid=
got=$(wc -l < "$out")
((got == want)) || { echo "recorded $got lines, expected $want" >&2; exit 1; }
echo "recorded $got watch events ($(wc -c < "$out") bytes) in $out" >&2
