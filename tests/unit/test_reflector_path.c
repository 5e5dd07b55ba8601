/* test_reflector_path.c - the request paths of LIST and WATCH. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/buf.h"
#include "watch/reflector.h"

static ww_reflector_opts wf_opts(void) {
    ww_reflector_opts o;
    memset(&o, 0, sizeof o);
    o.group = "argoproj.io";
    o.version = "v1alpha1";
    o.resource = "workflows";
    return o;
}

static void expect_path(const ww_reflector_opts *o, int watch, const char *rv, const char *cont, long limit,
                        long timeout_s, int send_initial, const char *want) {
    ww_buf b;
    ww_buf_init(&b, 1 << 16);
    assert_int_equal(ww_reflector_path(o, &b, watch, rv, cont, limit, timeout_s, send_initial), WW_OK);
    assert_non_null(b.p);
    assert_string_equal(b.p, want);
    assert_int_equal(b.len, strlen(want));
    ww_buf_free(&b);
}

static void test_collection(void **state) {
    (void)state;
    ww_reflector_opts o = wf_opts();
    expect_path(&o, 0, NULL, NULL, 0, 0, 0, "/apis/argoproj.io/v1alpha1/workflows");
    o.namespace_ = "";
    expect_path(&o, 0, NULL, NULL, 0, 0, 0, "/apis/argoproj.io/v1alpha1/workflows");
    o.namespace_ = "ns1";
    expect_path(&o, 0, NULL, NULL, 0, 0, 0, "/apis/argoproj.io/v1alpha1/namespaces/ns1/workflows");
    o.resource = "cronworkflows";
    o.namespace_ = NULL;
    expect_path(&o, 0, NULL, NULL, 0, 0, 0, "/apis/argoproj.io/v1alpha1/cronworkflows");
}

static void test_core_group(void **state) {
    (void)state;
    ww_reflector_opts o = wf_opts();
    o.group = "";
    o.version = "v1";
    o.resource = "configmaps";
    expect_path(&o, 0, NULL, NULL, 0, 0, 0, "/api/v1/configmaps");
    o.group = NULL;
    expect_path(&o, 0, NULL, NULL, 0, 0, 0, "/api/v1/configmaps");
    o.namespace_ = "kube-system";
    expect_path(&o, 0, NULL, NULL, 0, 0, 0, "/api/v1/namespaces/kube-system/configmaps");
}

static void test_list_params(void **state) {
    (void)state;
    ww_reflector_opts o = wf_opts();
    expect_path(&o, 0, NULL, NULL, 500, 0, 0, "/apis/argoproj.io/v1alpha1/workflows?limit=500");
    expect_path(&o, 0, "", "", 500, 0, 0, "/apis/argoproj.io/v1alpha1/workflows?limit=500");
    /* continue tokens are base64 with = + /: all escaped */
    expect_path(&o, 0, NULL, "eyJ2Ijoi+/a==", 100, 0, 0,
                "/apis/argoproj.io/v1alpha1/workflows?limit=100&continue=eyJ2Ijoi%2B%2Fa%3D%3D");
    expect_path(&o, 0, "42", NULL, 0, 0, 0, "/apis/argoproj.io/v1alpha1/workflows?resourceVersion=42");
    /* watch-only parameters stay out of a LIST even if given */
    expect_path(&o, 0, NULL, NULL, 0, 300, 1, "/apis/argoproj.io/v1alpha1/workflows");
}

static void test_watch_params(void **state) {
    (void)state;
    ww_reflector_opts o = wf_opts();
    o.namespace_ = "ns1";
    expect_path(&o, 1, "12345", NULL, 0, 300, 0,
                "/apis/argoproj.io/v1alpha1/namespaces/ns1/workflows?watch=true&allowWatchBookmarks=true"
                "&timeoutSeconds=300&resourceVersion=12345");
    expect_path(&o, 1, NULL, NULL, 0, 0, 0,
                "/apis/argoproj.io/v1alpha1/namespaces/ns1/workflows?watch=true&allowWatchBookmarks=true");
    /* the streaming list */
    o.namespace_ = NULL;
    expect_path(&o, 1, NULL, NULL, 0, 417, 1,
                "/apis/argoproj.io/v1alpha1/workflows?watch=true&allowWatchBookmarks=true"
                "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=417");
    expect_path(&o, 1, "99", NULL, 0, 600, 1,
                "/apis/argoproj.io/v1alpha1/workflows?watch=true&allowWatchBookmarks=true"
                "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=600&resourceVersion=99");
}

static void test_selectors_escaped(void **state) {
    (void)state;
    ww_reflector_opts o = wf_opts();
    o.label_selector = "app in (a,b)";
    expect_path(&o, 0, NULL, NULL, 0, 0, 0,
                "/apis/argoproj.io/v1alpha1/workflows?labelSelector=app%20in%20%28a%2Cb%29");
    o.field_selector = "metadata.name=x,status.phase!=Running";
    expect_path(&o, 1, "7", NULL, 0, 60, 0,
                "/apis/argoproj.io/v1alpha1/workflows?watch=true&allowWatchBookmarks=true&timeoutSeconds=60"
                "&resourceVersion=7&labelSelector=app%20in%20%28a%2Cb%29"
                "&fieldSelector=metadata.name%3Dx%2Cstatus.phase%21%3DRunning");
    o.label_selector = "";
    o.field_selector = "a=b&c=d?e#f";
    expect_path(&o, 0, NULL, NULL, 10, 0, 0,
                "/apis/argoproj.io/v1alpha1/workflows?limit=10&fieldSelector=a%3Db%26c%3Dd%3Fe%23f");
    /* unreserved characters pass; UTF-8 is escaped byte by byte */
    o.field_selector = NULL;
    o.label_selector = "a-b_c.d~e=\xc3\xa9";
    expect_path(&o, 0, NULL, NULL, 0, 0, 0, "/apis/argoproj.io/v1alpha1/workflows?labelSelector=a-b_c.d~e%3D%C3%A9");
    /* the namespace and rv are escaped too */
    o.label_selector = NULL;
    o.namespace_ = "a b";
    expect_path(&o, 0, "1/2", NULL, 0, 0, 0,
                "/apis/argoproj.io/v1alpha1/namespaces/a%20b/workflows?resourceVersion=1%2F2");
}

static void test_too_big(void **state) {
    (void)state;
    ww_reflector_opts o = wf_opts();
    o.label_selector = "app in (a,b)";
    ww_buf b;
    ww_buf_init(&b, 40);
    assert_int_equal(ww_reflector_path(&o, &b, 1, "1", NULL, 0, 300, 1), WW_ETOOBIG);
    ww_buf_free(&b);
    /* the same request fits a larger buffer */
    ww_buf_init(&b, 1024);
    assert_int_equal(ww_reflector_path(&o, &b, 1, "1", NULL, 0, 300, 1), WW_OK);
    ww_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collection),        cmocka_unit_test(test_core_group),
        cmocka_unit_test(test_list_params),       cmocka_unit_test(test_watch_params),
        cmocka_unit_test(test_selectors_escaped), cmocka_unit_test(test_too_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
