"""Prints one summary line per watch event read from stdin (used by scripts/demo)."""
import json
import sys

for line in sys.stdin:
    e = json.loads(line)
    o = e["object"]
    m = o["metadata"]
    st = o.get("status", {})
    nodes = ",".join(n["displayName"] + "=" + n["phase"] for n in st.get("nodes", {}).values())
    print(f'{e["type"]:<9} {m["namespace"]}/{m["name"]:<14} rv={m["resourceVersion"]:<6} '
          f'phase={st.get("phase", "-"):<10} {nodes}  ({len(line)} bytes)', flush=True)
