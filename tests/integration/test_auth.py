"""Authentication and connection settings against a real API server:
service-account tokens (inline, token files, rotation, in-cluster), exec
credential plugins, merged KUBECONFIG lists, impersonation, TLS settings,
kubeconfig errors and HTTP CONNECT proxies.

Every kubeconfig is written to the test's tmp_path. Watches that must
reconnect soon run with --watch-timeout-min 2 --watch-timeout-max 3."""
import base64
import json
import os
import shutil
import socket
import stat
import subprocess
import time
import uuid

import pytest
import yaml
from kubernetes import client

from conftest import BINARY, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
FAST_WATCH = ["--watch-timeout-min", "2", "--watch-timeout-max", "3"]
V1, V1BETA1 = "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"


# ---- helpers ----

def pki(cluster, name):
    return os.path.join(cluster.dir, "pki", name)


def b64file(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def cluster_entry(cluster, **fields):
    """The test cluster's server with its CA; fields override (None drops)."""
    c = {"server": cluster.url, "certificate-authority-data": b64file(pki(cluster, "ca.crt"))}
    c.update(fields)
    return {k: v for k, v in c.items() if v is not None}


def admin_user(cluster, **fields):
    u = {"client-certificate-data": b64file(pki(cluster, "admin.crt")),
         "client-key-data": b64file(pki(cluster, "admin.key"))}
    u.update(fields)
    return u


def write_kubeconfig(path, cluster=None, user=None, context="ctx", doc=None):
    """Writes a one-context kubeconfig (cluster "cl", user "u"), or doc as is."""
    if doc is None:
        doc = {"apiVersion": "v1", "kind": "Config",
               "clusters": [{"name": "cl", "cluster": cluster}],
               "users": [{"name": "u", "user": user}],
               "contexts": [{"name": context, "context": {"cluster": "cl", "user": "u"}}],
               "current-context": context}
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(doc, f)
    return path


def exited_early(w):
    if w.proc.poll() is not None:
        raise AssertionError(f"the watcher exited with status {w.proc.returncode}\n--- log:\n{w.log_text()[-3000:]}")


def wait_added(w, wf, timeout=30):
    """Waits for the ADDED event of the Workflow wf (as returned by create_wf)."""
    uid = wf["metadata"]["uid"]

    def seen(ev):
        if any(e["type"] == "ADDED" and e["object"]["metadata"]["uid"] == uid for e in ev):
            return True
        exited_early(w)
        return False
    w.wait_events(seen, timeout=timeout, what=f"ADDED {wf['metadata']['name']}")


def records(w, level):
    return [r["msg"] for r in w.log_records() if r["level"] == level]


def logged(w, text):
    """Whether a log message (decoded from its JSON line) contains text."""
    return any(text in r["msg"] for r in w.log_records())


def fatal_error(w, timeout=30):
    """The watcher must exit 1 after one error from the watch (main may add
    a summary); returns the watch's error."""
    rc = w.proc.wait(timeout=timeout)
    w.stop()
    assert rc == 1, w.log_text()
    errors = [r for r in w.log_records() if r["level"] == "error"]
    assert [r["component"] for r in errors if r["component"] != "main"] == ["watch"], w.log_text()
    assert w.events() == []
    return next(r["msg"] for r in errors if r["component"] == "watch")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServiceAccounts:
    """Service accounts allowed (by one ClusterRole) to list and watch
    Workflows and nothing else, and tokens for them (TokenRequest API)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.role = f"ww-auth-{uuid.uuid4().hex[:8]}"
        self.bindings = []
        self.authz = client.AuthorizationV1Api(cluster.api_client)
        cluster.rbac.create_cluster_role({
            "metadata": {"name": self.role},
            "rules": [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["list", "watch"]}]})

    def create(self, ns, name, allowed=True):
        """Creates the service account (bound to the role if allowed) and
        returns a token for it."""
        self.cluster.core.create_namespaced_service_account(ns, {"metadata": {"name": name}})
        if allowed:
            binding = f"{self.role}-{ns}-{name}"
            self.cluster.rbac.create_cluster_role_binding({
                "metadata": {"name": binding},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": self.role},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}]})
            self.bindings.append(binding)
            # The authorizer learns of new bindings through an informer: wait
            # for it, or the watcher's first request could still be refused.
            wait_until(lambda: self.can_watch(f"system:serviceaccount:{ns}:{name}"), timeout=10,
                       what=f"RBAC for {ns}/{name}")
        return self.token(ns, name)

    def can_watch(self, user):
        r = self.authz.create_subject_access_review({"spec": {"user": user, "resourceAttributes": {
            "group": "argoproj.io", "resource": "workflows", "verb": "watch"}}})
        return r.status.allowed

    def token(self, ns, name, seconds=3600):
        tr = self.cluster.core.create_namespaced_service_account_token(
            name, ns, {"spec": {"expirationSeconds": seconds}})
        return tr.status.token

    def cleanup(self):
        for b in self.bindings:
            self.cluster.rbac.delete_cluster_role_binding(b)
        self.cluster.rbac.delete_cluster_role(self.role)


@pytest.fixture(scope="module")
def sas(cluster):
    s = ServiceAccounts(cluster)
    yield s
    s.cleanup()


def wait_revoked_and_refreshed(w):
    """After the service account of the watcher's current token is deleted,
    the server refuses the token once its authentication cache (10 s) lets
    go; the next request gets 401 and the watcher reads the token again."""
    def refreshed():
        exited_early(w)
        return "401 Unauthorized: refreshing credentials" in w.log_text()
    wait_until(refreshed, timeout=45, what="a 401 and a credential refresh\n" + w.log_text()[-2000:])


# ---- 1. service-account tokens from the TokenRequest API ----

def test_service_account_token_inline_and_token_file(cluster, sas, watcher_factory, tmp_path):
    ns = cluster.namespace("sa")
    token = sas.create(ns, "reader")
    inline = write_kubeconfig(tmp_path / "inline.kubeconfig", cluster_entry(cluster), {"token": token})
    # tokenFile is relative to the kubeconfig's folder, not to the working directory
    (tmp_path / "kc" / "secrets").mkdir(parents=True)
    (tmp_path / "kc" / "secrets" / "token").write_text(token + "\n")
    from_file = write_kubeconfig(tmp_path / "kc" / "config", cluster_entry(cluster), {"tokenFile": "secrets/token"})
    a = watcher_factory(["--kubeconfig", inline, "--namespace", ns])
    b = watcher_factory(["--kubeconfig", from_file, "--namespace", ns], cwd=str(tmp_path))
    wf = cluster.create_wf(ns, "seen-by-a-service-account")
    wait_added(a, wf)
    wait_added(b, wf)
    assert records(a, "error") == [] and records(b, "error") == []
    assert a.stop() == 0 and b.stop() == 0

    # The token really is the identity: a service account with no binding is refused by name.
    stranger = sas.create(ns, "stranger", allowed=False)
    kc = write_kubeconfig(tmp_path / "stranger.kubeconfig", cluster_entry(cluster), {"token": stranger})
    err = fatal_error(watcher_factory(["--kubeconfig", kc, "--namespace", ns]))
    assert "403 Forbidden" in err and f'User "system:serviceaccount:{ns}:stranger"' in err


# ---- 2. a token file rotated while watching ----

def test_token_file_rotated_during_the_watch(cluster, sas, watcher_factory, tmp_path):
    ns = cluster.namespace("rot")
    token_a = sas.create(ns, "a")
    token_b = sas.create(ns, "b")
    tf = tmp_path / "token"
    tf.write_text(token_a)
    kc = write_kubeconfig(tmp_path / "config", cluster_entry(cluster), {"tokenFile": str(tf)})
    w = watcher_factory(["--kubeconfig", kc, "--namespace", ns, *FAST_WATCH])
    wait_added(w, cluster.create_wf(ns, "before"))

    tf.write_text(token_b)
    cluster.core.delete_namespaced_service_account("a", ns)  # token A is now revoked
    wait_revoked_and_refreshed(w)
    wait_added(w, cluster.create_wf(ns, "after"))
    assert records(w, "error") == []
    assert w.stop() == 0


# ---- 3. exec credential plugins ----

def install_plugin(tmp_path):
    dst = tmp_path / "plugin.py"
    shutil.copy(os.path.join(HERE, "helpers", "exec_plugin.py"), dst)
    dst.chmod(dst.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return dst


def exec_user(api, env, **fields):
    x = {"apiVersion": api, "command": "./plugin.py",  # relative to the kubeconfig's folder
         "env": [{"name": k, "value": str(v)} for k, v in env.items()]}
    if api == V1:
        x["interactiveMode"] = "Never"
    x.update(fields)
    return {"exec": x}


def runs(counter):
    return len(counter.read_text().splitlines()) if counter.exists() else 0


@pytest.mark.parametrize("api,provide_cluster_info", [(V1, True), (V1BETA1, False)])
def test_exec_plugin_credentials_are_renewed_when_they_expire(cluster, sas, watcher_factory, tmp_path, api,
                                                              provide_cluster_info):
    ns = cluster.namespace("exec")
    install_plugin(tmp_path)
    (tmp_path / "token").write_text(sas.create(ns, "plugin-user"))
    counter, info_file = tmp_path / "runs", tmp_path / "exec-info.json"
    user = exec_user(api, {"TOKEN_FILE": tmp_path / "token", "COUNTER_FILE": counter, "INFO_FILE": info_file,
                           "EXPIRES_IN": 3}, provideClusterInfo=provide_cluster_info)
    kc = write_kubeconfig(tmp_path / "config", cluster_entry(cluster), user)
    w = watcher_factory(["--kubeconfig", kc, "--namespace", ns, *FAST_WATCH], cwd="/")
    wait_added(w, cluster.create_wf(ns, "first"))

    info = json.loads(info_file.read_text())
    assert info["apiVersion"] == api and info["kind"] == "ExecCredential"
    assert info["spec"]["interactive"] is False
    if provide_cluster_info:
        assert info["spec"]["cluster"]["server"] == cluster.url
        with open(pki(cluster, "ca.crt"), "rb") as f:
            assert base64.b64decode(info["spec"]["cluster"]["certificate-authority-data"]) == f.read()
    else:
        assert "cluster" not in info["spec"]

    # The credentials expire after about 3 s; a reconnect after that runs the plugin again.
    def ran_again():
        exited_early(w)
        return runs(counter) >= 2
    wait_until(ran_again, timeout=30, what="a second run of the exec plugin\n" + w.log_text()[-2000:])
    wait_added(w, cluster.create_wf(ns, "with-renewed-credentials"))
    assert logged(w, "gave credentials (run 2)")
    assert not logged(w, "401 Unauthorized")  # renewed because they expired, not because they were refused
    assert records(w, "error") == []
    assert w.stop() == 0


def test_one_exec_plugin_run_serves_every_namespace(cluster, sas, watcher_factory, tmp_path):
    """One reflector thread per namespace, each with its own client, and one
    plugin run for all of them, also across their re-watches."""
    nss = [cluster.namespace("share") for _ in range(6)]
    install_plugin(tmp_path)
    (tmp_path / "token").write_text(sas.create(nss[0], "plugin-user"))  # a cluster-wide binding
    counter = tmp_path / "runs"
    kc = write_kubeconfig(tmp_path / "config", cluster_entry(cluster),
                          exec_user(V1, {"TOKEN_FILE": tmp_path / "token", "COUNTER_FILE": counter}))
    w = watcher_factory(["--kubeconfig", kc, *[a for ns in nss for a in ("--namespace", ns)], *FAST_WATCH], cwd="/")
    for ns in nss:
        wait_added(w, cluster.create_wf(ns, "first"))
    time.sleep(3.5)  # every stream has re-watched (watch timeouts of 2 to 3 s), asking for credentials again
    for ns in nss:
        wait_added(w, cluster.create_wf(ns, "after-a-re-watch"))
    assert runs(counter) == 1, w.log_text()[-3000:]
    assert logged(w, "gave credentials (run 1)") and not logged(w, "(run 2)")
    assert records(w, "error") == []
    assert w.stop() == 0


@pytest.mark.parametrize("case", ["plugin-fails", "plugin-missing", "interactive-always"])
def test_exec_plugin_errors_are_fatal_and_explained(cluster, watcher_factory, tmp_path, case):
    install_plugin(tmp_path)
    counter = tmp_path / "runs"
    env = {"COUNTER_FILE": counter, "TOKEN_FILE": tmp_path / "no-token"}
    if case == "plugin-fails":
        env["FAIL_MESSAGE"] = "token service says: account ww-42 is locked"
        user = exec_user(V1, env)
    elif case == "plugin-missing":
        user = exec_user(V1, env, command="ww-no-such-credential-plugin",
                         installHint="install ww-no-such-credential-plugin from https://example.com/plugin")
    else:
        user = exec_user(V1, env, interactiveMode="Always")
    kc = write_kubeconfig(tmp_path / "config", cluster_entry(cluster), user)
    err = fatal_error(watcher_factory(["--kubeconfig", kc]))
    if case == "plugin-fails":
        assert "exited with status 1" in err and "account ww-42 is locked" in err
        assert runs(counter) == 1
    elif case == "plugin-missing":
        assert "ww-no-such-credential-plugin" in err and "https://example.com/plugin" in err
    else:
        assert "interactiveMode is Always" in err and "never prompts" in err
        assert runs(counter) == 0


# ---- 4. KUBECONFIG with several files ----

def test_kubeconfig_list_merges_files(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace("merge")
    a = write_kubeconfig(tmp_path / "a" / "config", doc={
        "apiVersion": "v1", "kind": "Config", "current-context": "merged",
        "clusters": [{"name": "test", "cluster": cluster_entry(cluster)}]})
    b = write_kubeconfig(tmp_path / "b" / "config", doc={
        "apiVersion": "v1", "kind": "Config",
        "users": [{"name": "admin", "user": admin_user(cluster)}],
        "contexts": [{"name": "merged", "context": {"cluster": "test", "user": "admin"}}]})
    # a missing file in the list is skipped, as client-go does
    w = watcher_factory(["--namespace", ns], env={"KUBECONFIG": f"{a}:{tmp_path / 'missing'}:{b}"})
    wait_added(w, cluster.create_wf(ns, "merged"))
    assert logged(w, f'kubeconfig {b}, server {cluster.url}, user "admin"')
    assert w.stop() == 0


def test_kubeconfig_list_first_file_wins(cluster, watcher_factory, tmp_path):
    ns = cluster.namespace("merge")
    a = write_kubeconfig(tmp_path / "a" / "config", doc={
        "apiVersion": "v1", "kind": "Config", "current-context": "shared",
        "clusters": [{"name": "test", "cluster": cluster_entry(cluster)}],
        "contexts": [{"name": "shared", "context": {"cluster": "test", "user": "admin"}}]})
    # B's user names its certificate files relative to B's folder.
    os.makedirs(tmp_path / "b")
    shutil.copy(pki(cluster, "admin.crt"), tmp_path / "b" / "admin.crt")
    shutil.copy(pki(cluster, "admin.key"), tmp_path / "b" / "admin.key")
    b = write_kubeconfig(tmp_path / "b" / "config", doc={
        "apiVersion": "v1", "kind": "Config", "current-context": "bogus",
        "clusters": [{"name": "bogus", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "admin", "user": {"client-certificate": "admin.crt", "client-key": "admin.key"}}],
        "contexts": [{"name": "shared", "context": {"cluster": "bogus", "user": "admin"}},
                     {"name": "bogus", "context": {"cluster": "bogus", "user": "admin"}}]})
    w = watcher_factory(["--namespace", ns], env={"KUBECONFIG": f"{a}:{b}"}, cwd=str(tmp_path))
    wait_added(w, cluster.create_wf(ns, "first-wins"))
    assert logged(w, f'kubeconfig {a}, server {cluster.url}, user "admin"')
    assert records(w, "warn") == []  # never tried the bogus cluster
    assert w.stop() == 0


# ---- 5. impersonation ----

def test_impersonating_a_user_without_permission_is_refused(cluster, watcher_factory, tmp_path):
    kc = write_kubeconfig(tmp_path / "config", cluster_entry(cluster), admin_user(cluster, **{"as": "nobody"}))
    err = fatal_error(watcher_factory(["--kubeconfig", kc]))
    assert "403 Forbidden" in err and 'User "nobody"' in err and "cannot watch" in err


@pytest.mark.parametrize("who", ["service-account", "group"])
def test_impersonating_an_allowed_identity_works(cluster, sas, watcher_factory, tmp_path, who):
    ns = cluster.namespace("imp")
    if who == "service-account":
        sas.create(ns, "allowed")
        fields = {"as": f"system:serviceaccount:{ns}:allowed"}
    else:  # nobody, in a group that may do everything
        fields = {"as": "nobody", "as-groups": ["system:masters"]}
    kc = write_kubeconfig(tmp_path / "config", cluster_entry(cluster), admin_user(cluster, **fields))
    w = watcher_factory(["--kubeconfig", kc, "--namespace", ns])
    wait_added(w, cluster.create_wf(ns, "impersonated"))
    assert records(w, "error") == []
    assert w.stop() == 0


# ---- 6. in-cluster configuration ----

class ServiceAccountDir:
    """The kubelet's layout of a projected service-account volume: token,
    ca.crt and namespace are links into ..data, a link to a timestamped
    folder that is swapped atomically on rotation."""

    def __init__(self, root, ca, namespace):
        self.root, self.ca, self.namespace, self.n = root, ca, namespace, 0
        os.makedirs(root)
        for f in ("token", "ca.crt", "namespace"):
            os.symlink(os.path.join("..data", f), os.path.join(root, f))

    def publish(self, token):
        self.n += 1
        d = f"..2026_01_01_00_00_0{self.n}.{uuid.uuid4().hex[:6]}"
        os.makedirs(os.path.join(self.root, d))
        for f, text in (("token", token), ("ca.crt", self.ca), ("namespace", self.namespace)):
            with open(os.path.join(self.root, d, f), "w") as fh:
                fh.write(text)
        tmp = os.path.join(self.root, "..data_tmp")
        os.symlink(d, tmp)
        os.rename(tmp, os.path.join(self.root, "..data"))


def test_in_cluster_config_and_token_rotation(cluster, sas, watcher_factory, tmp_path):
    ns = cluster.namespace("pod")
    with open(pki(cluster, "ca.crt")) as f:
        sa_dir = ServiceAccountDir(str(tmp_path / "serviceaccount"), f.read(), ns)
    sa_dir.publish(sas.create(ns, "pod-a"))
    token_b = sas.create(ns, "pod-b")
    (tmp_path / "home").mkdir()
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": cluster.env["APISERVER_PORT"],
           "WORKFLOW_WATCHER_SERVICEACCOUNT_DIR": sa_dir.root, "HOME": str(tmp_path / "home")}
    w = watcher_factory(["--namespace", ns, *FAST_WATCH], env=env)
    wait_added(w, cluster.create_wf(ns, "in-a-pod"))
    assert logged(w, f"in-cluster config, server https://127.0.0.1:{cluster.env['APISERVER_PORT']}")

    sa_dir.publish(token_b)  # the kubelet rotates the token...
    cluster.core.delete_namespaced_service_account("pod-a", ns)  # ...and the old one is revoked
    wait_revoked_and_refreshed(w)
    wait_added(w, cluster.create_wf(ns, "after-rotation"))
    assert records(w, "error") == []
    assert w.stop() == 0


# ---- 7. TLS settings ----

@pytest.mark.parametrize("case", ["insecure-skip-tls-verify", "tls-server-name-localhost"])
def test_tls_settings_that_connect(cluster, watcher_factory, tmp_path, case):
    ns = cluster.namespace("tls")
    if case == "insecure-skip-tls-verify":
        entry = cluster_entry(cluster, **{"certificate-authority-data": None, "insecure-skip-tls-verify": True})
    else:  # the serving certificate names localhost and 127.0.0.1
        entry = cluster_entry(cluster, **{"tls-server-name": "localhost"})
    assert entry["server"].startswith("https://127.0.0.1:")
    kc = write_kubeconfig(tmp_path / "config", entry, admin_user(cluster))
    w = watcher_factory(["--kubeconfig", kc, "--namespace", ns])
    wait_added(w, cluster.create_wf(ns, "over-tls"))
    assert records(w, "warn") == [] and records(w, "error") == []
    assert w.stop() == 0


@pytest.mark.parametrize("case", ["wrong-ca", "no-ca", "wrong-tls-server-name"])
def test_tls_verification_failures_are_retried(cluster, watcher_factory, tmp_path, case):
    if case == "wrong-ca":  # the client-certificate CA did not sign the serving certificate
        entry = cluster_entry(cluster, **{"certificate-authority-data": b64file(pki(cluster, "client-ca.crt"))})
    elif case == "no-ca":  # the system trust store does not know the test CA
        entry = cluster_entry(cluster, **{"certificate-authority-data": None})
    else:
        entry = cluster_entry(cluster, **{"tls-server-name": "wrong.example"})
    kc = write_kubeconfig(tmp_path / "config", entry, admin_user(cluster))
    w = watcher_factory(["--kubeconfig", kc])

    def tls_warnings():
        exited_early(w)  # a TLS failure may be a transient misconfiguration: keep retrying
        return len([m for m in records(w, "warn") if "TLS: " in m]) >= 2
    wait_until(tls_warnings, timeout=20, what="two TLS warnings\n" + w.log_text()[-2000:])
    msg = next(m for m in records(w, "warn") if "TLS: " in m)
    assert "certificate" in msg.lower() and kc in msg
    assert records(w, "error") == [] and w.events() == []
    assert w.stop() == 0


# ---- 8. kubeconfig errors ----

def bad_kubeconfig(cluster, tmp_path, case):
    """Returns (kubeconfig doc, text the error must contain)."""
    good = {"apiVersion": "v1", "kind": "Config", "current-context": "ctx",
            "clusters": [{"name": "cl", "cluster": cluster_entry(cluster)}],
            "users": [{"name": "u", "user": admin_user(cluster)}],
            "contexts": [{"name": "ctx", "context": {"cluster": "cl", "user": "u"}}]}
    cl, u = good["clusters"][0]["cluster"], good["users"][0]["user"]
    if case == "missing-context":
        good["current-context"] = "nope"
        return good, ['context "nope"', "not found"]
    if case == "bad-base64-client-key-data":
        u["client-key-data"] = "not*base64!"
        return good, ['context "ctx"', 'user "u"', "client-key-data", "not valid base64"]
    if case == "unreadable-certificate-authority":
        del cl["certificate-authority-data"]
        cl["certificate-authority"] = "no-such-ca.crt"
        return good, ['context "ctx"', 'cluster "cl"', "certificate-authority",
                      str(tmp_path / "no-such-ca.crt"), "No such file"]
    if case == "ca-and-insecure":
        cl["insecure-skip-tls-verify"] = True
        return good, ['context "ctx"', 'cluster "cl"', "certificate-authority and insecure-skip-tls-verify"]
    if case == "token-and-basic-auth":
        good["users"][0]["user"] = {"token": "t0ken-s3cret", "username": "me", "password": "passw0rd-s3cret"}
        return good, ['context "ctx"', 'user "u"', "token and username/password"]
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing-context", "bad-base64-client-key-data", "unreadable-certificate-authority",
                                  "ca-and-insecure", "token-and-basic-auth"])
def test_bad_kubeconfig_exits_2_naming_file_context_and_field(cluster, tmp_path, case):
    doc, want = bad_kubeconfig(cluster, tmp_path, case)
    kc = write_kubeconfig(tmp_path / "config", doc=doc)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    out = subprocess.run([BINARY, "--kubeconfig", kc], capture_output=True, text=True, timeout=20, env=env, cwd="/")
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    assert f"kubeconfig {kc}" in out.stderr
    for text in want:
        assert text in out.stderr
    assert "s3cret" not in out.stderr


# ---- 9. HTTP CONNECT proxies ----

class Tinyproxy:
    def __init__(self, tmp_path, connect_port):
        exe = shutil.which("tinyproxy")
        if not exe:
            pytest.fail("tinyproxy is not installed: scripts/install-deps must install it (Debian package tinyproxy)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "tinyproxy.log"
        conf = tmp_path / "tinyproxy.conf"
        conf.write_text(f'Port {self.port}\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort {connect_port}\n'
                        f'Timeout 600\nMaxClients 20\nLogLevel Connect\nLogFile "{self.log}"\n'
                        f'PidFile "{tmp_path / "tinyproxy.pid"}"\n')
        self.out = open(tmp_path / "tinyproxy.out", "w+")
        self.proc = subprocess.Popen([exe, "-d", "-c", str(conf)], stdout=self.out, stderr=subprocess.STDOUT)
        wait_until(self.listening, timeout=10, what="tinyproxy listening")

    def listening(self):
        if self.proc.poll() is not None:
            self.out.seek(0)
            raise AssertionError(f"tinyproxy exited with {self.proc.returncode}: {self.out.read()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def log_text(self):
        return self.log.read_text() if self.log.exists() else ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        self.out.close()


@pytest.fixture
def proxy(cluster, tmp_path):
    p = Tinyproxy(tmp_path, cluster.env["APISERVER_PORT"])
    yield p
    p.stop()


@pytest.mark.parametrize("how", ["proxy-url", "https_proxy"])
def test_watch_through_an_http_connect_proxy(cluster, watcher_factory, tmp_path, proxy, how):
    ns = cluster.namespace("proxy")
    if how == "proxy-url":
        # proxy-url is used for every request, whatever NO_PROXY says (as in client-go)
        entry = cluster_entry(cluster, **{"proxy-url": proxy.url})
        env = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
               "https_proxy": "", "HTTPS_PROXY": "", "all_proxy": "", "ALL_PROXY": ""}
    else:
        entry = cluster_entry(cluster)
        env = {"https_proxy": proxy.url, "NO_PROXY": "", "no_proxy": ""}
    kc = write_kubeconfig(tmp_path / "config", entry, admin_user(cluster))
    w = watcher_factory(["--kubeconfig", kc, "--namespace", ns], env=env)
    wait_added(w, cluster.create_wf(ns, "proxied"))
    connect = f"CONNECT 127.0.0.1:{cluster.env['APISERVER_PORT']} "
    wait_until(lambda: connect in proxy.log_text(), timeout=10, what=f"{connect!r} in tinyproxy's log")
    assert records(w, "warn") == [] and records(w, "error") == []
    assert w.stop() == 0
