/* test_store_url.c - parsing of configmap:// and redis:// checkpoint URLs,
 * and ww_store_redact (no password in any message). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "store/url.h"

/* ---- configmap:// ---- */

static void cm_ok(const char *url, const char *ns, const char *name, size_t part_bytes) {
    ww_configmap_url u;
    char err[512] = "";
    ww_rc rc = ww_configmap_url_parse(url, &u, err, sizeof err);
    if (rc != WW_OK) fail_msg("%s: rc %d: %s", url, (int)rc, err);
    assert_string_equal(u.ns, ns);
    assert_string_equal(u.name, name);
    assert_int_equal(u.part_bytes, part_bytes);
}

/* Fails with WW_EINVAL and a message holding want. */
static void cm_bad(const char *url, const char *want) {
    ww_configmap_url u;
    char err[512] = "";
    ww_rc rc = ww_configmap_url_parse(url, &u, err, sizeof err);
    if (rc != WW_EINVAL) fail_msg("%s: rc %d, want EINVAL", url, (int)rc);
    if (!strstr(err, want)) fail_msg("%s: message \"%s\" lacks \"%s\"", url, err, want);
    assert_non_null(strstr(err, "--checkpoint"));
}

static void test_configmap_valid(void **state) {
    (void)state;
    cm_ok("configmap://argo/workflow-watcher", "argo", "workflow-watcher", WW_CONFIGMAP_PART_BYTES_DEFAULT);
    cm_ok("configmap://a/b", "a", "b", 921600);
    cm_ok("configmap://kube-system/ww.checkpoint.v1", "kube-system", "ww.checkpoint.v1", 921600);
    cm_ok("configmap://argo/ckpt?part-bytes=2000", "argo", "ckpt", 2000);
    cm_ok("configmap://argo/ckpt?part-bytes=1024", "argo", "ckpt", 1024);
    cm_ok("configmap://argo/ckpt?part-bytes=1000000", "argo", "ckpt", 1000000);
    cm_ok("configmap://argo/ckpt?", "argo", "ckpt", 921600);
    cm_ok("configmap://argo/ckpt?&part-bytes=5000&", "argo", "ckpt", 5000);
    /* 63 characters each: the longest namespace and name */
    cm_ok("configmap://n23456789012345678901234567890123456789012345678901234567890123/"
          "c23456789012345678901234567890123456789012345678901234567890123",
          "n23456789012345678901234567890123456789012345678901234567890123",
          "c23456789012345678901234567890123456789012345678901234567890123", 921600);
}

static void test_configmap_invalid(void **state) {
    (void)state;
    cm_bad("file://argo/x", "expected configmap://NAMESPACE/NAME");
    cm_bad("configmap://argo", "no NAME");
    cm_bad("configmap://", "no NAME");
    cm_bad("configmap:///name", "namespace \"\"");
    cm_bad("configmap://argo/", "name \"\"");
    cm_bad("configmap://Argo/x", "namespace \"Argo\"");
    cm_bad("configmap://ar.go/x", "namespace \"ar.go\"");
    cm_bad("configmap://-argo/x", "namespace \"-argo\"");
    cm_bad("configmap://argo/X", "name \"X\"");
    cm_bad("configmap://argo/a/b", "name \"a/b\"");
    cm_bad("configmap://argo/a..b", "name \"a..b\"");
    cm_bad("configmap://argo/a-", "name \"a-\"");
    cm_bad("configmap://argo/a_b", "name \"a_b\"");
    cm_bad("configmap://n234567890123456789012345678901234567890123456789012345678901234/x", "namespace");
    cm_bad("configmap://argo/c234567890123456789012345678901234567890123456789012345678901234", "at most 63");
    cm_bad("configmap://argo/x?part-bytes=1023", "part-bytes=1023");
    cm_bad("configmap://argo/x?part-bytes=1000001", "from 1024 to 1000000");
    cm_bad("configmap://argo/x?part-bytes=99999999999999999999999", "part-bytes=");
    cm_bad("configmap://argo/x?part-bytes=", "part-bytes=");
    cm_bad("configmap://argo/x?part-bytes=2k", "part-bytes=2k");
    cm_bad("configmap://argo/x?part-bytes=-5", "part-bytes=-5");
    cm_bad("configmap://argo/x?part-bytes", "unknown parameter \"part-bytes\"");
    cm_bad("configmap://argo/x?parts=3", "unknown parameter \"parts\"");
}

/* ---- redis:// ---- */

static void rd_ok(const char *url, const char *defpw, const char *host, int port, const char *user, const char *pw,
                  const char *key, int db) {
    ww_redis_url u;
    char err[512] = "";
    ww_rc rc = ww_redis_url_parse(url, defpw, &u, err, sizeof err);
    if (rc != WW_OK) fail_msg("%s: rc %d: %s", url, (int)rc, err);
    assert_string_equal(u.host, host);
    assert_int_equal(u.port, port);
    assert_int_equal(u.db, db);
    if (user)
        assert_string_equal(u.user, user);
    else
        assert_null(u.user);
    if (pw)
        assert_string_equal(u.password, pw);
    else
        assert_null(u.password);
    assert_string_equal(u.key, key);
    ww_redis_url_free(&u);
    assert_null(u.password);
}

/* Fails with WW_EINVAL, the message holds want and never the secret. */
static void rd_bad(const char *url, const char *want, const char *secret) {
    ww_redis_url u;
    char err[512] = "";
    ww_rc rc = ww_redis_url_parse(url, NULL, &u, err, sizeof err);
    if (rc != WW_EINVAL) fail_msg("%s: rc %d, want EINVAL", url, (int)rc);
    if (!strstr(err, want)) fail_msg("%s: message \"%s\" lacks \"%s\"", url, err, want);
    if (secret && strstr(err, secret)) fail_msg("%s: message \"%s\" shows the password", url, err);
    ww_redis_url_free(&u);
}

static void test_redis_valid(void **state) {
    (void)state;
    rd_ok("redis://localhost:6380/ckpt", NULL, "localhost", 6380, NULL, NULL, "ckpt", 0);
    rd_ok("redis://127.0.0.1:6379", NULL, "127.0.0.1", 6379, NULL, NULL, "workflow-watcher", 0);
    rd_ok("redis://127.0.0.1:6379/", NULL, "127.0.0.1", 6379, NULL, NULL, "workflow-watcher", 0);
    rd_ok("redis://redis.argo.svc", NULL, "redis.argo.svc", 6379, NULL, NULL, "workflow-watcher", 0);
    rd_ok("redis://:s3cret@host:1/k", NULL, "host", 1, NULL, "s3cret", "k", 0);
    rd_ok("redis://ww:s3cret@host:65535/k", NULL, "host", 65535, "ww", "s3cret", "k", 0);
}

static void test_redis_users_passwords(void **state) {
    (void)state;
    rd_ok("redis://watcher:s3cret@host:7000/k", NULL, "host", 7000, "watcher", "s3cret", "k", 0);
    /* the URL's password wins over --redis-password; that is used otherwise */
    rd_ok("redis://:fromurl@host/k", "fromflag", "host", 6379, NULL, "fromurl", "k", 0);
    rd_ok("redis://host/k", "fromflag", "host", 6379, NULL, "fromflag", "k", 0);
    rd_ok("redis://host/k", "", "host", 6379, NULL, NULL, "k", 0);
    rd_ok("redis://:@host/k", NULL, "host", 6379, NULL, NULL, "k", 0);
    /* a password may hold '/', '?', ':' and '@': the userinfo ends at the last '@' */
    rd_ok("redis://:a/b?c:d@e@host:6379/k", NULL, "host", 6379, NULL, "a/b?c:d@e", "k", 0);
    /* percent-escapes in user, password and key */
    rd_ok("redis://us%65r:p%40ss%2Fw0rd@host/ns%3Akey%40x", NULL, "host", 6379, "user", "p@ss/w0rd", "ns:key@x", 0);
    rd_ok("redis://[::1]:7001/k", NULL, "::1", 7001, NULL, NULL, "k", 0);
    rd_ok("redis://[fe80::1]/k", NULL, "fe80::1", 6379, NULL, NULL, "k", 0);
    rd_ok("redis://host:6379/k?db=3", NULL, "host", 6379, NULL, NULL, "k", 3);
    rd_ok("redis://host:6379?db=2", NULL, "host", 6379, NULL, NULL, "workflow-watcher", 2);
    rd_ok("redis://host/a:b:c", NULL, "host", 6379, NULL, NULL, "a:b:c", 0);
}

static void test_redis_invalid(void **state) {
    (void)state;
    rd_bad("rediss://host/k", "expected redis://", NULL);
    rd_bad("redis://", "no HOST", NULL);
    rd_bad("redis://:6379/k", "no HOST", NULL);
    rd_bad("redis://host:0/k", "port \"0\"", NULL);
    rd_bad("redis://host:65536/k", "port \"65536\"", NULL);
    rd_bad("redis://host:/k", "port \"\"", NULL);
    rd_bad("redis://host:63x/k", "port \"63x\"", NULL);
    rd_bad("redis://host:99999999999999999999/k", "port", NULL);
    rd_bad("redis://ho st/k", "host \"ho st\"", NULL);
    rd_bad("redis://[::1/k", "IPv6", NULL);
    rd_bad("redis://[]:1/k", "IPv6", NULL);
    rd_bad("redis://[::1]x/k", "IPv6", NULL);
    rd_bad("redis://host/k?db=x", "db=x", NULL);
    rd_bad("redis://host/k?db=", "unknown parameter \"db\"", NULL);
    rd_bad("redis://host/k?timeout=3", "unknown parameter \"timeout\"", NULL);
    rd_bad("redis://host/k%4", "escape", NULL);
    rd_bad("redis://host/k%00", "escape", NULL);
    /* errors about other parts never show the password */
    rd_bad("redis://:hunter2@host:99999/k", "port", "hunter2");
    rd_bad("redis://:hunter2@host/k?x=1", "unknown parameter", "hunter2");
    rd_bad("redis://:hunter2%zz@host/k", "escape", "hunter2");
    /* a password without its colon is refused, and hidden */
    rd_bad("redis://hunter2@host/k", "colon is missing", "hunter2");
}

/* ---- ww_store_redact ---- */

static void redact(const char *url, const char *want) {
    char out[512];
    ww_store_redact(url, out, sizeof out);
    assert_string_equal(out, want);
}

static void test_redact(void **state) {
    (void)state;
    redact("redis://:s3cret@host:6379/k", "redis://:***@host:6379/k");
    redact("redis://user:s3cret@host:6379/k", "redis://user:***@host:6379/k");
    redact("redis://:a/b?c@d@host/k", "redis://:***@host/k");
    redact("redis://:s3c:ret@host/k", "redis://:***@host/k");
    redact("redis://s3cret@host/k", "redis://***@host/k");
    redact("redis://host:6379/k", "redis://host:6379/k");
    redact("redis://host", "redis://host");
    redact("configmap://argo/ckpt?part-bytes=2000", "configmap://argo/ckpt?part-bytes=2000");
    redact("file:///var/lib/a:b@c/ckpt", "file:///var/lib/a:b@c/ckpt");
    redact("none", "none");
    /* a short output buffer truncates, still without the secret */
    char small[12];
    ww_store_redact("redis://:s3cret@host/k", small, sizeof small);
    assert_string_equal(small, "redis://:**");
}

/* ww_store_open refuses bad URLs before any connection, without the secret. */
static void test_open_errors(void **state) {
    (void)state;
    ww_store_env env = {NULL, NULL, NULL};
    ww_store *s = (ww_store *)1;
    char err[512] = "";
    assert_int_equal(ww_store_open("redis://:hunter2@host:0/k", &env, &s, err, sizeof err), WW_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err, "port"));
    assert_null(strstr(err, "hunter2"));
    assert_int_equal(ww_store_open("configmap://argo/Bad", &env, &s, err, sizeof err), WW_EINVAL);
    assert_non_null(strstr(err, "\"Bad\""));
    /* a good configmap URL still needs a Kubernetes configuration */
    assert_int_equal(ww_store_open("configmap://argo/good", &env, &s, err, sizeof err), WW_EINVAL);
    assert_non_null(strstr(err, "Kubernetes"));
    assert_int_equal(ww_store_open("mongodb://:hunter2@host/x", &env, &s, err, sizeof err), WW_EINVAL);
    assert_non_null(strstr(err, "unknown store"));
    assert_null(strstr(err, "hunter2"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configmap_valid), cmocka_unit_test(test_configmap_invalid),
        cmocka_unit_test(test_redis_valid),     cmocka_unit_test(test_redis_users_passwords),
        cmocka_unit_test(test_redis_invalid),   cmocka_unit_test(test_redact),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
