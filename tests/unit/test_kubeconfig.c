/* test_kubeconfig.c - kubeconfig loading, merging, validation and the
 * in-cluster config. Every file lives in a fresh mkdtemp() folder; the
 * options are explicit, so ~/.kube and the real environment are never read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/kubeconfig.h"

#define CA_PEM "-----BEGIN CERTIFICATE-----\nCADATA\n-----END CERTIFICATE-----\n"
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBREFUQQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nCLIENTCERT\n-----END CERTIFICATE-----\n"
#define CERT_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNMSUVOVENFUlQKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nCLIENTKEY\n-----END PRIVATE KEY-----\n"
#define KEY_B64 "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCkNMSUVOVEtFWQotLS0tLUVORCBQUklWQVRFIEtFWS0tLS0tCg=="

static char g_dir[PATH_MAX];

/* ---- fixtures ---- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state) {
    (void)state;
    const char *t = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/ww-kubeconfig-test-XXXXXX", t);
    if (!mkdtemp(g_dir)) return -1;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* g_dir/name into out. */
static const char *P(char *out, const char *name) {
    snprintf(out, PATH_MAX, "%s/%s", g_dir, name);
    return out;
}

static void mkdirs_for(const char *path) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *s = tmp + strlen(g_dir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        if (mkdir(tmp, 0700) && errno != EEXIST) fail_msg("mkdir %s: %s", tmp, strerror(errno));
        *s = '/';
    }
}

static void write_bytes(const char *path, const void *data, size_t n) {
    mkdirs_for(path);
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("fopen %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Writes content to g_dir/name; returns the full path in out. */
static const char *W(char *out, const char *name, const char *content) {
    P(out, name);
    write_bytes(out, content, strlen(content));
    return out;
}

/* A one-context kubeconfig: cluster "cl" and user "u" with the given bodies
 * (already indented by four spaces). */
static const char *W1(char *out, const char *name, const char *cluster_body, const char *user_body) {
    char text[8192];
    snprintf(text, sizeof text,
             "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
             "clusters:\n- name: cl\n  cluster:\n%s"
             "contexts:\n- name: c\n  context:\n    cluster: cl\n    user: u\n"
             "users:\n- name: u\n  user:\n%s",
             cluster_body ? cluster_body : "    server: https://k.example:6443\n", user_body ? user_body : "    {}\n");
    return W(out, name, text);
}

static ww_rc load_path(const char *path, const char *context, ww_kubeconfig **k, char *err, size_t errsz) {
    ww_kubeconfig_opts o;
    memset(&o, 0, sizeof o);
    o.explicit_path = path;
    o.context = context;
    return ww_kubeconfig_load(&o, k, err, errsz);
}

static ww_kubeconfig *load_ok(const char *path, const char *context) {
    ww_kubeconfig *k = NULL;
    char err[2048];
    ww_rc rc = load_path(path, context, &k, err, sizeof err);
    if (rc != WW_OK) fail_msg("load %s: rc %d: %s", path, (int)rc, err);
    assert_non_null(k);
    return k;
}

/* The load fails with WW_EINVAL, and the message names the file and each
 * of the needles (field names). */
static void load_fails(const char *path, const char *context, const char *n1, const char *n2) {
    ww_kubeconfig *k = (ww_kubeconfig *)1;
    char err[2048];
    memset(err, 0, sizeof err);
    ww_rc rc = load_path(path, context, &k, err, sizeof err);
    if (rc != WW_EINVAL) fail_msg("load %s: rc %d (want EINVAL): %s", path, (int)rc, err);
    assert_null(k);
    if (!strstr(err, path)) fail_msg("message does not name the file %s: %s", path, err);
    if (n1 && !strstr(err, n1)) fail_msg("message does not mention \"%s\": %s", n1, err);
    if (n2 && !strstr(err, n2)) fail_msg("message does not mention \"%s\": %s", n2, err);
}

static void assert_blob(const ww_blob *b, const char *want) {
    assert_non_null(b->p);
    assert_int_equal(b->n, strlen(want));
    assert_memory_equal(b->p, want, b->n);
}

static const char *BASE = "apiVersion: v1\n"
                          "kind: Config\n"
                          "current-context: ctx-b\n"
                          "preferences: {}\n"
                          "clusters:\n"
                          "- name: cl-a\n"
                          "  cluster:\n"
                          "    server: https://a.example:6443\n"
                          "    certificate-authority-data: " CA_B64 "\n"
                          "- name: cl-b\n"
                          "  cluster:\n"
                          "    server: https://b.example:8443/prefix/\n"
                          "    insecure-skip-tls-verify: true\n"
                          "    tls-server-name: api.b\n"
                          "    proxy-url: http://proxy.example:3128\n"
                          "contexts:\n"
                          "- name: ctx-a\n"
                          "  context:\n"
                          "    cluster: cl-a\n"
                          "    user: u-a\n"
                          "    namespace: ns-a\n"
                          "- name: ctx-b\n"
                          "  context:\n"
                          "    cluster: cl-b\n"
                          "    user: u-b\n"
                          "users:\n"
                          "- name: u-a\n"
                          "  user:\n"
                          "    token: tok-a\n"
                          "- name: u-b\n"
                          "  user:\n"
                          "    username: bob\n"
                          "    password: \"s3cret:x\"\n";

/* ---- selection ---- */

static void test_current_context(void **state) {
    (void)state;
    char p[PATH_MAX];
    W(p, "config", BASE);
    ww_kubeconfig *k = load_ok(p, NULL);
    assert_string_equal(k->context, "ctx-b");
    assert_string_equal(k->cluster_name, "cl-b");
    assert_string_equal(k->user_name, "u-b");
    assert_null(k->namespace_);
    assert_string_equal(k->server, "https://b.example:8443/prefix"); /* trailing slash dropped */
    assert_int_equal(k->insecure, 1);
    assert_string_equal(k->tls_server_name, "api.b");
    assert_string_equal(k->proxy_url, "http://proxy.example:3128");
    assert_int_equal(k->ca.n, 0);
    assert_string_equal(k->username, "bob");
    assert_string_equal(k->password, "s3cret:x");
    assert_null(k->token);
    assert_null(k->token_file);
    assert_null(k->exec);
    char src[PATH_MAX + 32];
    snprintf(src, sizeof src, "kubeconfig %s", p);
    assert_string_equal(k->source, src);
    ww_kubeconfig_free(k);
}

static void test_context_override(void **state) {
    (void)state;
    char p[PATH_MAX];
    W(p, "config", BASE);
    ww_kubeconfig *k = load_ok(p, "ctx-a");
    assert_string_equal(k->context, "ctx-a");
    assert_string_equal(k->cluster_name, "cl-a");
    assert_string_equal(k->server, "https://a.example:6443");
    assert_string_equal(k->namespace_, "ns-a");
    assert_int_equal(k->insecure, 0);
    assert_null(k->tls_server_name);
    assert_blob(&k->ca, CA_PEM);
    assert_string_equal(k->token, "tok-a");
    assert_null(k->username);
    assert_null(k->password);
    ww_kubeconfig_free(k);
}

static void test_context_without_user(void **state) {
    (void)state;
    char p[PATH_MAX];
    W(p, "config",
      "current-context: c\nclusters:\n- name: cl\n  cluster:\n    server: http://127.0.0.1:8080\n"
      "contexts:\n- name: c\n  context:\n    cluster: cl\n    namespace: \"argo\"\n");
    ww_kubeconfig *k = load_ok(p, NULL);
    assert_null(k->user_name);
    assert_string_equal(k->server, "http://127.0.0.1:8080");
    assert_string_equal(k->namespace_, "argo");
    ww_kubeconfig_free(k);
}

/* ---- files and data ---- */

static void test_relative_paths(void **state) {
    (void)state;
    char p[PATH_MAX], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], text[4096];
    W(ca, "sub/certs/ca.pem", CA_PEM);
    W(cert, "client.crt", CERT_PEM);
    W(key, "keys/client.key", KEY_PEM);
    snprintf(text, sizeof text, "    server: https://k.example\n    certificate-authority: certs/ca.pem\n");
    char user[2048];
    snprintf(user, sizeof user, "    client-certificate: ../client.crt\n    client-key: %s\n", key);
    W1(p, "sub/kubeconfig.yaml", text, user);
    ww_kubeconfig *k = load_ok(p, NULL);
    assert_blob(&k->ca, CA_PEM);            /* relative to sub/, not to the cwd */
    assert_blob(&k->client_cert, CERT_PEM); /* "..", relative to sub/ */
    assert_blob(&k->client_key, KEY_PEM);   /* absolute */
    ww_kubeconfig_free(k);
}

static void test_data_fields(void **state) {
    (void)state;
    char p[PATH_MAX];
    /* data wins over a path (which does not even exist) */
    W1(p, "config",
       "    server: https://k.example\n    certificate-authority-data: " CA_B64
       "\n    certificate-authority: /nonexistent/ca.pem\n",
       "    client-certificate-data: " CERT_B64 "\n    client-key-data: " KEY_B64 "\n");
    ww_kubeconfig *k = load_ok(p, NULL);
    assert_blob(&k->ca, CA_PEM);
    assert_blob(&k->client_cert, CERT_PEM);
    assert_blob(&k->client_key, KEY_PEM);
    ww_kubeconfig_free(k);
    /* base64 wrapped over lines (a YAML folded scalar) still decodes */
    W1(p, "config2",
       "    server: https://k.example\n    certificate-authority-data: |\n      LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0t\n"
       "      LS0tCkNBREFUQQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==\n",
       NULL);
    k = load_ok(p, NULL);
    assert_blob(&k->ca, CA_PEM);
    ww_kubeconfig_free(k);
}

/* ---- KUBECONFIG with several files ---- */

static ww_rc load_env(const char *env, const char *context, ww_kubeconfig **k, char *err, size_t errsz) {
    ww_kubeconfig_opts o;
    memset(&o, 0, sizeof o);
    o.env_kubeconfig = env;
    o.context = context;
    return ww_kubeconfig_load(&o, k, err, errsz);
}

static void test_kubeconfig_list(void **state) {
    (void)state;
    char a[PATH_MAX], b[PATH_MAX], missing[PATH_MAX], env[4 * PATH_MAX], err[2048];
    /* a sets no current-context (an empty one does not count) */
    W(a, "a/config",
      "current-context: \"\"\n"
      "clusters:\n- name: c1\n  cluster:\n    server: https://a-c1.example\n"
      "contexts:\n- name: ctx1\n  context:\n    cluster: c1\n    user: u2\n    namespace: from-a\n"
      "users:\n- name: u1\n  user:\n    token: tok-a\n");
    W(b, "b/config",
      "current-context: ctx1\n"
      "clusters:\n- name: c1\n  cluster:\n    server: https://b-c1.example\n"
      "- name: c2\n  cluster:\n    server: https://b-c2.example\n"
      "contexts:\n- name: ctx1\n  context:\n    cluster: c2\n    user: u1\n    namespace: from-b\n"
      "- name: ctx2\n  context:\n    cluster: c2\n    user: u1\n"
      "users:\n- name: u1\n  user:\n    token: tok-b\n"
      "- name: u2\n  user:\n    tokenFile: tok.txt\n    as: alice\n");
    P(missing, "missing/config");
    snprintf(env, sizeof env, "%s:%s:%s", missing, a, b);
    ww_kubeconfig *k = NULL;
    ww_rc rc = load_env(env, NULL, &k, err, sizeof err);
    if (rc) fail_msg("rc %d: %s", (int)rc, err);
    /* current-context from b (the first that sets it), but context ctx1,
     * cluster c1 from a (the first that defines them) */
    assert_string_equal(k->context, "ctx1");
    assert_string_equal(k->namespace_, "from-a");
    assert_string_equal(k->cluster_name, "c1");
    assert_string_equal(k->server, "https://a-c1.example");
    /* u2 exists only in b: its relative tokenFile is relative to b's folder */
    assert_string_equal(k->user_name, "u2");
    char tf[PATH_MAX];
    P(tf, "b/tok.txt");
    assert_string_equal(k->token_file, tf);
    assert_null(k->token);
    assert_string_equal(k->impersonate_user, "alice");
    char src[PATH_MAX + 32];
    snprintf(src, sizeof src, "kubeconfig %s", a);
    assert_string_equal(k->source, src);
    ww_kubeconfig_free(k);

    /* a context only b defines; u1 comes from a, c2 from b */
    k = NULL;
    rc = load_env(env, "ctx2", &k, err, sizeof err);
    if (rc) fail_msg("rc %d: %s", (int)rc, err);
    assert_string_equal(k->server, "https://b-c2.example");
    assert_string_equal(k->token, "tok-a");
    ww_kubeconfig_free(k);

    /* when both files set current-context, the first one wins (b's names a
     * context that does not exist, so picking it would fail) */
    char a2[PATH_MAX], b2[PATH_MAX];
    W(a2, "a2/config",
      "current-context: ctx1\nclusters:\n- name: c1\n  cluster:\n    server: https://a2.example\n"
      "contexts:\n- name: ctx1\n  context:\n    cluster: c1\n");
    W(b2, "b2/config", "current-context: nowhere\n");
    snprintf(env, sizeof env, "%s:%s::%s", a2, b2, a2);
    k = NULL;
    rc = load_env(env, NULL, &k, err, sizeof err);
    if (rc) fail_msg("rc %d: %s", (int)rc, err);
    assert_string_equal(k->context, "ctx1");
    assert_string_equal(k->server, "https://a2.example");
    ww_kubeconfig_free(k);
    snprintf(env, sizeof env, "%s:%s", b2, a2);
    k = (ww_kubeconfig *)1;
    assert_int_equal(load_env(env, NULL, &k, err, sizeof err), WW_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err, "nowhere"));

    /* only missing files: nothing to load */
    snprintf(env, sizeof env, "%s:%s", missing, missing);
    k = (ww_kubeconfig *)1;
    assert_int_equal(load_env(env, NULL, &k, err, sizeof err), WW_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err, "no kubeconfig"));
}

/* ---- users ---- */

static void test_token_kinds(void **state) {
    (void)state;
    char p[PATH_MAX], want[PATH_MAX];
    W1(p, "t1/config", NULL, "    token: abc.def.ghi\n");
    ww_kubeconfig *k = load_ok(p, NULL);
    assert_string_equal(k->token, "abc.def.ghi");
    assert_null(k->token_file);
    ww_kubeconfig_free(k);

    W1(p, "t2/config", NULL, "    tokenFile: secrets/token\n");
    k = load_ok(p, NULL);
    assert_null(k->token);
    assert_string_equal(k->token_file, P(want, "t2/secrets/token"));
    ww_kubeconfig_free(k);

    W1(p, "t3/config", NULL, "    tokenFile: /var/run/token\n");
    k = load_ok(p, NULL);
    assert_string_equal(k->token_file, "/var/run/token");
    ww_kubeconfig_free(k);

    /* token beats tokenFile */
    W1(p, "t4/config", NULL, "    token: t\n    tokenFile: f\n");
    k = load_ok(p, NULL);
    assert_string_equal(k->token, "t");
    assert_null(k->token_file);
    ww_kubeconfig_free(k);

    W1(p, "t5/config", NULL, "    username: admin\n    password: \"p@ss word\"\n");
    k = load_ok(p, NULL);
    assert_string_equal(k->username, "admin");
    assert_string_equal(k->password, "p@ss word");
    assert_null(k->token);
    ww_kubeconfig_free(k);

    /* null values are absent */
    W1(p, "t6/config", NULL, "    token: null\n    username: ~\n");
    k = load_ok(p, NULL);
    assert_null(k->token);
    assert_null(k->username);
    ww_kubeconfig_free(k);
}

static void test_impersonation(void **state) {
    (void)state;
    char p[PATH_MAX];
    W1(p, "config", NULL,
       "    token: t\n    as: alice\n    as-groups:\n    - devs\n    - \"system:authenticated\"\n    as-uid: "
       "\"1000\"\n");
    ww_kubeconfig *k = load_ok(p, NULL);
    assert_string_equal(k->impersonate_user, "alice");
    assert_string_equal(k->impersonate_uid, "1000");
    assert_int_equal(k->n_impersonate_groups, 2);
    assert_string_equal(k->impersonate_groups[0], "devs");
    assert_string_equal(k->impersonate_groups[1], "system:authenticated");
    ww_kubeconfig_free(k);

    W1(p, "config2", NULL, "    as: bob\n");
    k = load_ok(p, NULL);
    assert_string_equal(k->impersonate_user, "bob");
    assert_int_equal(k->n_impersonate_groups, 0);
    assert_null(k->impersonate_uid);
    ww_kubeconfig_free(k);

    W1(p, "config3", NULL, "    as-groups: [devs]\n");
    load_fails(p, NULL, "as-groups", "as");
    W1(p, "config4", NULL, "    as-uid: \"7\"\n");
    load_fails(p, NULL, "as-uid", NULL);
}

/* ---- exec ---- */

static void test_exec_v1(void **state) {
    (void)state;
    char p[PATH_MAX], want[PATH_MAX];
    W1(p, "e/config", NULL,
       "    exec:\n"
       "      apiVersion: client.authentication.k8s.io/v1\n"
       "      command: ./bin/get-token\n"
       "      args: [\"--cluster\", prod]\n"
       "      env:\n"
       "      - name: FOO\n"
       "        value: bar\n"
       "      - name: EMPTY\n"
       "      interactiveMode: Never\n"
       "      provideClusterInfo: true\n"
       "      installHint: install get-token\n");
    ww_kubeconfig *k = load_ok(p, NULL);
    ww_exec_conf *x = k->exec;
    assert_non_null(x);
    assert_string_equal(x->command, P(want, "e/./bin/get-token"));
    assert_non_null(x->args);
    assert_string_equal(x->args[0], x->command);
    assert_string_equal(x->args[1], "--cluster");
    assert_string_equal(x->args[2], "prod");
    assert_null(x->args[3]);
    assert_int_equal(x->n_env, 2);
    assert_string_equal(x->env[0].name, "FOO");
    assert_string_equal(x->env[0].value, "bar");
    assert_string_equal(x->env[1].name, "EMPTY");
    assert_string_equal(x->env[1].value, "");
    assert_string_equal(x->api_version, "client.authentication.k8s.io/v1");
    assert_string_equal(x->interactive_mode, "Never");
    assert_int_equal(x->provide_cluster_info, 1);
    assert_string_equal(x->install_hint, "install get-token");
    ww_kubeconfig_free(k);

    /* v1 requires interactiveMode */
    W1(p, "e2/config", NULL,
       "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: kubelogin\n");
    load_fails(p, NULL, "interactiveMode", "exec");

    W1(p, "e3/config", NULL,
       "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: kubelogin\n"
       "      interactiveMode: Sometimes\n");
    load_fails(p, NULL, "interactiveMode", "Sometimes");
}

static void test_exec_v1beta1(void **state) {
    (void)state;
    char p[PATH_MAX];
    W1(p, "config", NULL,
       "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: gke-gcloud-auth-plugin\n");
    ww_kubeconfig *k = load_ok(p, NULL);
    ww_exec_conf *x = k->exec;
    assert_non_null(x);
    assert_string_equal(x->interactive_mode, "IfAvailable");
    /* a bare name is left for PATH lookup */
    assert_string_equal(x->command, "gke-gcloud-auth-plugin");
    assert_string_equal(x->args[0], "gke-gcloud-auth-plugin");
    assert_null(x->args[1]);
    assert_int_equal(x->n_env, 0);
    assert_int_equal(x->provide_cluster_info, 0);
    assert_null(x->install_hint);
    ww_kubeconfig_free(k);

    /* an absolute command is kept */
    W1(p, "config2", NULL,
       "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: /usr/local/bin/x\n"
       "      interactiveMode: Always\n");
    k = load_ok(p, NULL);
    assert_string_equal(k->exec->command, "/usr/local/bin/x");
    assert_string_equal(k->exec->interactive_mode, "Always");
    ww_kubeconfig_free(k);

    /* exec is not used when something else authenticates */
    W1(p, "config3", NULL,
       "    token: t\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: x\n");
    k = load_ok(p, NULL);
    assert_null(k->exec);
    assert_string_equal(k->token, "t");
    ww_kubeconfig_free(k);
}

static void test_exec_errors(void **state) {
    (void)state;
    char p[PATH_MAX];
    W1(p, "x1", NULL, "    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: x\n");
    load_fails(p, NULL, "exec.apiVersion", "v1alpha1");
    W1(p, "x2", NULL, "    exec:\n      command: x\n");
    load_fails(p, NULL, "exec.apiVersion", NULL);
    W1(p, "x3", NULL, "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n");
    load_fails(p, NULL, "exec.command", NULL);
    W1(p, "x4", NULL,
       "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: x\n"
       "      env:\n      - value: v\n");
    load_fails(p, NULL, "exec.env[0].name", NULL);
    W1(p, "x5", NULL,
       "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: x\n"
       "      provideClusterInfo: yes-please\n");
    load_fails(p, NULL, "provideClusterInfo", NULL);
}

/* ---- errors ---- */

static void test_errors_selection(void **state) {
    (void)state;
    char p[PATH_MAX];
    W(p, "config", BASE);
    load_fails(p, "nope", "context", "nope");
    W(p, "c2",
      "current-context: gone\nclusters:\n- name: cl\n  cluster:\n    server: https://x\n"
      "contexts:\n- name: c\n  context:\n    cluster: cl\n");
    load_fails(p, NULL, "context", "gone");
    W(p, "c3", "clusters:\n- name: cl\n  cluster:\n    server: https://x\n");
    load_fails(p, NULL, "current-context", NULL);
    W(p, "c4",
      "current-context: c\nclusters:\n- name: cl\n  cluster:\n    server: https://x\n"
      "contexts:\n- name: c\n  context:\n    cluster: ghost\n    user: u\n");
    load_fails(p, NULL, "cluster", "ghost");
    W(p, "c5", "current-context: c\ncontexts:\n- name: c\n  context:\n    user: u\n");
    load_fails(p, NULL, "cluster", "missing");
    W(p, "c6",
      "current-context: c\nclusters:\n- name: cl\n  cluster:\n    server: https://x\n"
      "contexts:\n- name: c\n  context:\n    cluster: cl\n    user: nobody\n");
    load_fails(p, NULL, "user", "nobody");
}

static void test_errors_cluster(void **state) {
    (void)state;
    char p[PATH_MAX], ca[PATH_MAX];
    W1(p, "s1", "    insecure-skip-tls-verify: true\n", NULL);
    load_fails(p, NULL, "server", "missing");
    W1(p, "s2", "    server: ftp://x.example\n", NULL);
    load_fails(p, NULL, "server", "ftp://x.example");
    W1(p, "s3", "    server: k.example:6443\n", NULL);
    load_fails(p, NULL, "server", NULL);
    W1(p, "s4", "    server: https://x\n    insecure-skip-tls-verify: maybe\n", NULL);
    load_fails(p, NULL, "insecure-skip-tls-verify", "maybe");
    /* unreadable CA file: the message names the field and both files */
    W1(p, "ca/config", "    server: https://x\n    certificate-authority: nope.pem\n", NULL);
    load_fails(p, NULL, "certificate-authority", P(ca, "ca/nope.pem"));
    /* a folder is not a readable CA either */
    mkdir(P(ca, "ca/folder.pem"), 0700);
    W1(p, "ca/config2", "    server: https://x\n    certificate-authority: folder.pem\n", NULL);
    load_fails(p, NULL, "certificate-authority", "folder.pem");
    W1(p, "s5", "    server: https://x\n    certificate-authority-data: \"not*base64\"\n", NULL);
    load_fails(p, NULL, "certificate-authority-data", "base64");
    /* CA and insecure together */
    W1(p, "s6",
       "    server: https://x\n    insecure-skip-tls-verify: true\n    certificate-authority-data: " CA_B64 "\n", NULL);
    load_fails(p, NULL, "certificate-authority", "insecure-skip-tls-verify");
    W(ca, "s7ca.pem", CA_PEM);
    W1(p, "s7", "    server: https://x\n    insecure-skip-tls-verify: \"True\"\n    certificate-authority: s7ca.pem\n",
       NULL);
    load_fails(p, NULL, "certificate-authority", "insecure-skip-tls-verify");
    /* insecure with an empty CA is fine */
    W1(p, "s8", "    server: https://x\n    insecure-skip-tls-verify: false\n    certificate-authority-data: \"\"\n",
       NULL);
    ww_kubeconfig *k = load_ok(p, NULL);
    assert_int_equal(k->insecure, 0);
    assert_int_equal(k->ca.n, 0);
    ww_kubeconfig_free(k);
}

static void test_errors_user(void **state) {
    (void)state;
    char p[PATH_MAX];
    W1(p, "u1", NULL, "    client-certificate-data: " CERT_B64 "\n    client-key-data: \"%%%notbase64\"\n");
    load_fails(p, NULL, "client-key-data", "base64");
    W1(p, "u2", NULL, "    client-certificate-data: " CERT_B64 "\n");
    load_fails(p, NULL, "client-certificate", "client-key");
    W1(p, "u3", NULL, "    client-key-data: " KEY_B64 "\n");
    load_fails(p, NULL, "client-key", "client-certificate");
    W1(p, "u4", NULL, "    client-certificate-data: " CERT_B64 "\n    client-key: missing.key\n");
    load_fails(p, NULL, "client-key", "missing.key");
    W1(p, "u5", NULL, "    token: t\n    password: p\n");
    load_fails(p, NULL, "token", "password");
    W1(p, "u6", NULL, "    tokenFile: f\n    username: u\n");
    load_fails(p, NULL, "token", "username");
    W1(p, "u7", NULL, "    auth-provider:\n      name: oidc\n      config:\n        idp-issuer-url: https://x\n");
    load_fails(p, NULL, "auth-provider", NULL);
    W1(p, "u8", NULL,
       "    auth-provider:\n      name: gcp\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
       "      command: x\n      interactiveMode: Never\n");
    load_fails(p, NULL, "auth-provider", "exec");
}

static void test_errors_files(void **state) {
    (void)state;
    char p[PATH_MAX];
    W(p, "bad1.yaml", "clusters: [a, b\n");
    load_fails(p, NULL, "YAML", NULL);
    W(p, "bad2.yaml", "current-context: c\n  bad: indent\n");
    load_fails(p, NULL, "YAML", NULL);
    W(p, "bad3.yaml", "key: \"unterminated\n");
    load_fails(p, NULL, "YAML", NULL);
    W(p, "list.yaml", "- a\n- b\n");
    load_fails(p, NULL, "top level", NULL);
    W(p, "scalar.yaml", "just a string\n");
    load_fails(p, NULL, "top level", NULL);
    /* an explicit file that does not exist */
    P(p, "does-not-exist.yaml");
    load_fails(p, NULL, "cannot read", NULL);
    /* an explicit, empty file holds no config */
    W(p, "empty.yaml", "");
    load_fails(p, NULL, "no kubeconfig", NULL);
}

static void test_no_kubeconfig(void **state) {
    (void)state;
    ww_kubeconfig_opts o;
    memset(&o, 0, sizeof o);
    ww_kubeconfig *k = (ww_kubeconfig *)1;
    char err[1024];
    assert_int_equal(ww_kubeconfig_load(&o, &k, err, sizeof err), WW_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err, "no kubeconfig"));
    /* an empty KUBECONFIG and an empty service host count as unset */
    o.env_kubeconfig = "";
    o.service_host = "";
    k = (ww_kubeconfig *)1;
    assert_int_equal(ww_kubeconfig_load(&o, &k, err, sizeof err), WW_EINVAL);
    assert_null(k);
    /* a home without .kube/config */
    char home[PATH_MAX];
    P(home, "home");
    mkdir(home, 0700);
    o.env_kubeconfig = NULL;
    o.home = home;
    k = (ww_kubeconfig *)1;
    assert_int_equal(ww_kubeconfig_load(&o, &k, err, sizeof err), WW_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err, home));
    /* and one with it */
    char p[PATH_MAX];
    W1(p, "home/.kube/config", NULL, "    token: from-home\n");
    assert_int_equal(ww_kubeconfig_load(&o, &k, err, sizeof err), WW_OK);
    assert_string_equal(k->token, "from-home");
    ww_kubeconfig_free(k);
}

/* ---- in-cluster ---- */

static void write_sa(const char *sub, int token, int ca, int ns) {
    char p[PATH_MAX], name[PATH_MAX];
    if (token) W(p, (snprintf(name, sizeof name, "%s/token", sub), name), "eyJhbGciOi.sa-token");
    if (ca) W(p, (snprintf(name, sizeof name, "%s/ca.crt", sub), name), CA_PEM);
    if (ns) W(p, (snprintf(name, sizeof name, "%s/namespace", sub), name), "argo-system\n");
}

static void test_in_cluster(void **state) {
    (void)state;
    char sa[PATH_MAX], tf[PATH_MAX], err[2048];
    write_sa("sa", 1, 1, 1);
    ww_kubeconfig_opts o;
    memset(&o, 0, sizeof o);
    o.sa_dir = P(sa, "sa");
    o.service_host = "10.1.2.3";
    ww_kubeconfig *k = NULL;
    ww_rc rc = ww_kubeconfig_load(&o, &k, err, sizeof err);
    if (rc) fail_msg("rc %d: %s", (int)rc, err);
    assert_string_equal(k->server, "https://10.1.2.3:443");
    assert_string_equal(k->namespace_, "argo-system");
    assert_string_equal(k->token_file, P(tf, "sa/token"));
    assert_blob(&k->ca, CA_PEM);
    assert_string_equal(k->source, "in-cluster config");
    assert_null(k->context);
    assert_null(k->token); /* read at request time, not here */
    ww_kubeconfig_free(k);

    o.service_host = "fd00::1";
    o.service_port = "6443";
    k = NULL;
    rc = ww_kubeconfig_load(&o, &k, err, sizeof err);
    if (rc) fail_msg("rc %d: %s", (int)rc, err);
    assert_string_equal(k->server, "https://[fd00::1]:6443");
    ww_kubeconfig_free(k);

    /* KUBECONFIG naming only missing files falls through to in-cluster */
    char missing[PATH_MAX];
    o.env_kubeconfig = P(missing, "nothing/here");
    o.service_host = "10.1.2.3";
    o.service_port = "";
    k = NULL;
    rc = ww_kubeconfig_load(&o, &k, err, sizeof err);
    if (rc) fail_msg("rc %d: %s", (int)rc, err);
    assert_string_equal(k->server, "https://10.1.2.3:443");
    ww_kubeconfig_free(k);

    /* but an explicit --kubeconfig never does */
    o.env_kubeconfig = NULL;
    o.explicit_path = missing;
    k = (ww_kubeconfig *)1;
    assert_int_equal(ww_kubeconfig_load(&o, &k, err, sizeof err), WW_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err, missing));

    /* a kubeconfig, when present, wins over the service account */
    char p[PATH_MAX];
    W1(p, "kc", NULL, "    token: kc-token\n");
    o.explicit_path = p;
    k = NULL;
    assert_int_equal(ww_kubeconfig_load(&o, &k, err, sizeof err), WW_OK);
    assert_string_equal(k->server, "https://k.example:6443");
    ww_kubeconfig_free(k);
}

static void test_in_cluster_errors(void **state) {
    (void)state;
    char sa[PATH_MAX], err[2048];
    ww_kubeconfig_opts o;
    memset(&o, 0, sizeof o);
    o.service_host = "10.0.0.1";

    /* no namespace file: fine, no namespace */
    write_sa("sa-nons", 1, 1, 0);
    o.sa_dir = P(sa, "sa-nons");
    ww_kubeconfig *k = NULL;
    assert_int_equal(ww_kubeconfig_load(&o, &k, err, sizeof err), WW_OK);
    assert_null(k->namespace_);
    ww_kubeconfig_free(k);

    /* no token */
    write_sa("sa-notok", 0, 1, 1);
    o.sa_dir = P(sa, "sa-notok");
    k = (ww_kubeconfig *)1;
    assert_int_equal(ww_kubeconfig_load(&o, &k, err, sizeof err), WW_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err, "token"));
    assert_non_null(strstr(err, sa));

    /* no CA */
    write_sa("sa-noca", 1, 0, 1);
    o.sa_dir = P(sa, "sa-noca");
    k = (ww_kubeconfig *)1;
    assert_int_equal(ww_kubeconfig_load(&o, &k, err, sizeof err), WW_EINVAL);
    assert_null(k);
    assert_non_null(strstr(err, "ca.crt"));
}

/* ---- garbage ---- */

static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int g_ok, g_fail;

static void load_garbage(const char *name, const void *data, size_t n) {
    char p[PATH_MAX], err[1024];
    P(p, name);
    write_bytes(p, data, n);
    ww_kubeconfig *k = (ww_kubeconfig *)1;
    err[0] = 'X';
    ww_rc rc = load_path(p, NULL, &k, err, sizeof err);
    if (rc == WW_OK) {
        assert_non_null(k);
        assert_non_null(k->server);
        ww_kubeconfig_free(k);
        g_ok++;
    } else {
        if (rc != WW_EINVAL && rc != WW_ENOMEM) fail_msg("%s: rc %d", name, (int)rc);
        assert_null(k);
        assert_true(err[0] != 'X' && err[0] != '\0');
        assert_non_null(memchr(err, '\0', sizeof err));
        g_fail++;
    }
    remove(p);
}

static void test_garbage(void **state) {
    (void)state;
    char name[64];
    unsigned char buf[4096];
    size_t base_n = strlen(BASE);
    int count = 0;
    g_ok = g_fail = 0;

    /* random bytes */
    for (int i = 0; i < 12; i++) {
        size_t n = 1 + rnd() % 600;
        for (size_t j = 0; j < n; j++) buf[j] = (unsigned char)rnd();
        snprintf(name, sizeof name, "g/rand%d", i);
        load_garbage(name, buf, n);
        count++;
    }
    /* random text from YAML's punctuation */
    static const char alpha[] = ":- []{}\n\n\"'&*!|>#%@`,?\tabcname:cluster:server:https://x\ncontexts:users:";
    for (int i = 0; i < 12; i++) {
        size_t n = 1 + rnd() % 400;
        for (size_t j = 0; j < n; j++) buf[j] = (unsigned char)alpha[rnd() % (sizeof alpha - 1)];
        snprintf(name, sizeof name, "g/text%d", i);
        load_garbage(name, buf, n);
        count++;
    }
    /* truncations of a valid file */
    for (int i = 0; i < 16; i++) {
        size_t n = base_n * (size_t)i / 16 + rnd() % 8;
        if (n > base_n) n = base_n;
        snprintf(name, sizeof name, "g/trunc%d", i);
        load_garbage(name, BASE, n);
        count++;
    }
    /* a valid file with a few bytes replaced */
    for (int i = 0; i < 12; i++) {
        memcpy(buf, BASE, base_n);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++) buf[rnd() % base_n] = (unsigned char)alpha[rnd() % (sizeof alpha - 1)];
        snprintf(name, sizeof name, "g/mut%d", i);
        load_garbage(name, buf, base_n);
        count++;
    }
    /* shapes that are valid YAML but not what a kubeconfig holds */
    static const char *shapes[] = {
        "clusters: 5\ncontexts: x\nusers: {}\ncurrent-context: c\n",
        "contexts: [1, 2]\ncurrent-context: 1\n",
        "current-context: [x]\n",
        "current-context: {a: b}\ncontexts: [{name: {a: b}}]\n",
        "clusters:\n- name: [x]\n- 7\n- {name: cl, cluster: [1]}\ncontexts:\n- {name: c, context: {cluster: cl}}\n"
        "current-context: c\n",
        "contexts:\n- name: c\ncurrent-context: c\n",
        "contexts:\n- name: c\n  context: [1]\ncurrent-context: c\n",
        "contexts:\n- name: c\n  context:\n    cluster: [a]\n    user: {b: c}\ncurrent-context: c\n",
        "a: &x b\nc: *x\ncurrent-context: *x\n",
        "&a [*a]\n",
        "---\n---\n",
        "%YAML 1.1\n---\n{}\n",
        "\xef\xbb\xbf{}\n",
        "{current-context: c, contexts: [{name: c, context: {cluster: k, user: u}}], clusters: [{name: k, cluster: "
        "{server: \"https://h\"}}], users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, "
        "command: a/b, args: {x: y}, env: [1, {name: [z]}, {name: n, value: [v]}]}}}]}\n",
        "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: "
        "{server: \"https://h\"}}]\nusers: [{name: u, user: {as: x, as-groups: [[1], {a: b}, null, g]}}]\n",
        "current-context: !!binary aGVsbG8=\n",
        "? [complex, key]\n: value\ncurrent-context: c\n",
        "current-context: \"c\\0d\"\ncontexts: [{name: \"c\\0d\", context: {cluster: \"\"}}]\n",
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        snprintf(name, sizeof name, "g/shape%zu", i);
        load_garbage(name, shapes[i], strlen(shapes[i]));
        count++;
    }
    /* deep nesting */
    size_t n = 0;
    for (int i = 0; i < 2000 && n + 2 < sizeof buf; i++) buf[n++] = '[';
    load_garbage("g/deep", buf, n);
    count++;

    print_message("garbage: %d inputs, %d loaded, %d rejected\n", count, g_ok, g_fail);
    assert_true(count >= 50);
    assert_int_equal(g_ok + g_fail, count);
    /* the corpus must actually exercise the failure paths */
    assert_true(g_fail > count / 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_override, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_without_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_kinds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_impersonation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_v1beta1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_selection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_kubeconfig, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
