"""What to watch: label and field selectors (sent to the server), other Argo
kinds, cluster-scoped resources and any group/version/resource."""
import subprocess

from conftest import BINARY


def names(events):
    return [e["object"]["metadata"]["name"] for e in events]


def test_label_selector(cluster, watcher_factory):
    ns = cluster.namespace()
    cluster.create_wf(ns, "old-etl", labels={"app": "etl"})
    cluster.create_wf(ns, "old-web", labels={"app": "web"})
    w = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--namespace", ns, "--selector", "app in (etl,batch)"])
    w.wait_ready()
    cluster.create_wf(ns, "new-batch", labels={"app": "batch"})
    cluster.create_wf(ns, "new-web", labels={"app": "web"})
    cluster.create_wf(ns, "new-etl", labels={"app": "etl"})
    w.wait_events(lambda ev: "new-etl" in names(ev), what="new-etl")
    assert names(w.events()) == ["old-etl", "new-batch", "new-etl"]


def test_field_selector(cluster, watcher_factory):
    ns = cluster.namespace()
    w = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--namespace", ns,
                         "--field-selector", "metadata.name=nightly"])
    w.wait_ready()
    cluster.create_wf(ns, "hourly")
    cluster.create_wf(ns, "nightly")
    cluster.patch_wf(ns, "hourly", {"metadata": {"labels": {"x": "1"}}})
    cluster.patch_wf(ns, "nightly", {"metadata": {"labels": {"x": "1"}}})
    w.wait_events(lambda ev: len(ev) >= 2, what="two nightly events")
    assert [(e["type"], n) for e, n in zip(w.events(), names(w.events()))] == [("ADDED", "nightly"), ("MODIFIED", "nightly")]


def test_bad_selector_is_a_clear_fatal_error(cluster, watcher_factory):
    w = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--selector", "app in (", "--list-mode", "list"])
    assert w.proc.wait(timeout=30) == 1
    err = [r["msg"] for r in w.log_records() if r["level"] == "error" and r["component"] == "watch"]
    assert len(err) == 1 and "HTTP 400" in err[0] and 'check --selector "app in ("' in err[0], w.log_text()


def test_cronworkflows_and_cluster_scoped_templates(cluster, watcher_factory):
    ns = cluster.namespace()
    cron = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--namespace", ns, "--resource", "cronworkflows"])
    ctmpl = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--resource", "clusterworkflowtemplates"])
    cron.wait_ready()
    ctmpl.wait_ready()
    c = cluster.custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", ns, "cronworkflows", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "CronWorkflow", "metadata": {"name": "every-minute"},
        "spec": {"schedule": "* * * * *", "workflowSpec": {"entrypoint": "main"}}})
    name = f"tmpl-{ns}"
    t = cluster.custom.create_cluster_custom_object("argoproj.io", "v1alpha1", "clusterworkflowtemplates", {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ClusterWorkflowTemplate", "metadata": {"name": name},
        "spec": {"entrypoint": "main"}})
    cron.wait_events(lambda ev: len(ev) >= 1, what="cron event")
    ctmpl.wait_events(lambda ev: name in names(ev), what="cluster template event")
    assert cron.events()[0]["object"]["kind"] == "CronWorkflow"
    assert cron.events()[0]["object"]["metadata"]["resourceVersion"] == c["metadata"]["resourceVersion"]
    got = [e for e in ctmpl.events() if e["object"]["metadata"]["name"] == name][0]
    assert got["object"]["metadata"]["resourceVersion"] == t["metadata"]["resourceVersion"]
    cluster.custom.delete_cluster_custom_object("argoproj.io", "v1alpha1", "clusterworkflowtemplates", name)


def test_any_group_version_resource(cluster, watcher_factory):
    ns = cluster.namespace()
    w = watcher_factory(["--kubeconfig", cluster.kubeconfig, "--namespace", ns, "--resource", "v1/configmaps"])
    w.wait_ready()
    cm = cluster.core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"k": "v"}})
    w.wait_events(lambda ev: "settings" in names(ev), what="configmap event")
    ev = [e for e in w.events() if e["object"]["metadata"]["name"] == "settings"][0]
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["resourceVersion"] == cm.metadata.resource_version


def test_namespace_with_cluster_scoped_resource_is_a_usage_error():
    out = subprocess.run([BINARY, "--resource", "clusterworkflowtemplates", "--namespace", "x"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "cluster-scoped" in out.stderr
    out = subprocess.run([BINARY, "--resource", "Not/A/Valid/One"], capture_output=True, text=True)
    assert out.returncode == 2 and "--resource" in out.stderr
