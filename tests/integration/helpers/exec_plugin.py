#!/usr/bin/env python3
"""A client-go credential (exec) plugin for the integration tests.

Configured through the environment that the kubeconfig's exec.env sets:
  TOKEN_FILE    the bearer token to hand out (required unless FAIL_MESSAGE)
  COUNTER_FILE  one line is appended to it per run
  INFO_FILE     KUBERNETES_EXEC_INFO is written to it, as received
  EXPIRES_IN    seconds until status.expirationTimestamp (default: no expiry)
  FAIL_MESSAGE  print this on stderr and exit 1

Like a real plugin it answers with the apiVersion it was asked for, and it
refuses to run when KUBERNETES_EXEC_INFO is missing, is not JSON, or does
not say the session is non-interactive (it must never prompt).
"""
import datetime
import json
import os
import sys


def main():
    if os.environ.get("COUNTER_FILE"):
        with open(os.environ["COUNTER_FILE"], "a") as f:
            f.write("run\n")
    if os.environ.get("FAIL_MESSAGE"):
        print(os.environ["FAIL_MESSAGE"], file=sys.stderr)
        return 1
    raw = os.environ.get("KUBERNETES_EXEC_INFO")
    if raw is None:
        print("exec_plugin: KUBERNETES_EXEC_INFO is not set", file=sys.stderr)
        return 1
    try:
        info = json.loads(raw)
    except ValueError as e:
        print(f"exec_plugin: KUBERNETES_EXEC_INFO is not JSON: {e}", file=sys.stderr)
        return 1
    if info.get("kind") != "ExecCredential" or info.get("spec", {}).get("interactive") is not False:
        print(f"exec_plugin: unexpected KUBERNETES_EXEC_INFO: {raw}", file=sys.stderr)
        return 1
    if os.environ.get("INFO_FILE"):
        with open(os.environ["INFO_FILE"], "w") as f:
            f.write(raw)
    with open(os.environ["TOKEN_FILE"]) as f:
        token = f.read().strip()
    status = {"token": token}
    if os.environ.get("EXPIRES_IN"):
        exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(os.environ["EXPIRES_IN"]))
        status["expirationTimestamp"] = exp.strftime("%Y-%m-%dT%H:%M:%SZ")
    json.dump({"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": status}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
