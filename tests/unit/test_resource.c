/* test_resource.c - what --resource means. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "watch/resource.h"

static void expect(const char *in, const char *g, const char *v, const char *res, int cluster) {
    ww_resource r;
    char err[512] = "untouched";
    ww_rc rc = ww_resource_parse(in, &r, err, sizeof err);
    if (rc != WW_OK) fail_msg("\"%s\": rc %d: %s", in, (int)rc, err);
    assert_string_equal(r.group, g);
    assert_string_equal(r.version, v);
    assert_string_equal(r.resource, res);
    assert_int_equal(r.cluster_scoped, cluster);
}

static void reject(const char *in) {
    ww_resource r;
    char err[512] = "";
    ww_rc rc = ww_resource_parse(in, &r, err, sizeof err);
    if (rc != WW_EINVAL) fail_msg("\"%s\" accepted (rc %d, %s/%s/%s)", in, (int)rc, r.group, r.version, r.resource);
    assert_non_null(strstr(err, "--resource"));
    /* the message quotes what was given (when it fits) */
    if (strlen(in) < 100) {
        char quoted[128];
        snprintf(quoted, sizeof quoted, "\"%s\"", in);
        if (!strstr(err, quoted)) fail_msg("message does not quote the input: %s", err);
    }
}

static void test_argo_names(void **state) {
    (void)state;
    static const struct {
        const char *in, *plural;
        int cluster;
    } t[] = {
        {"workflows", "workflows", 0},
        {"workflow", "workflows", 0},
        {"wf", "workflows", 0},
        {"cronworkflows", "cronworkflows", 0},
        {"cronworkflow", "cronworkflows", 0},
        {"cwf", "cronworkflows", 0},
        {"workflowtemplates", "workflowtemplates", 0},
        {"workflowtemplate", "workflowtemplates", 0},
        {"wftmpl", "workflowtemplates", 0},
        {"clusterworkflowtemplates", "clusterworkflowtemplates", 1},
        {"clusterworkflowtemplate", "clusterworkflowtemplates", 1},
        {"cwftmpl", "clusterworkflowtemplates", 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        expect(t[i].in, "argoproj.io", "v1alpha1", t[i].plural, t[i].cluster);
}

static void test_gvr(void **state) {
    (void)state;
    expect("argoproj.io/v1alpha1/workflows", "argoproj.io", "v1alpha1", "workflows", 0);
    expect("apps/v1/deployments", "apps", "v1", "deployments", 0);
    expect("batch/v1/jobs", "batch", "v1", "jobs", 0);
    expect("my-group.example.com/v2beta3/some-things", "my-group.example.com", "v2beta3", "some-things", 0);
}

static void test_core_version_resource(void **state) {
    (void)state;
    expect("v1/configmaps", "", "v1", "configmaps", 0);
    expect("v1/pods", "", "v1", "pods", 0);
}

static void test_result_is_reset(void **state) {
    (void)state;
    /* a second parse into the same struct leaves nothing of the first */
    ww_resource r;
    char err[256];
    assert_int_equal(ww_resource_parse("cwftmpl", &r, err, sizeof err), WW_OK);
    assert_int_equal(r.cluster_scoped, 1);
    assert_int_equal(ww_resource_parse("v1/secrets", &r, err, sizeof err), WW_OK);
    assert_string_equal(r.group, "");
    assert_int_equal(r.cluster_scoped, 0);
}

static void test_invalid(void **state) {
    (void)state;
    static const char *bad[] = {
        "",
        "a/b/c/d",
        "Foo/v1/x",
        "/v1/x",
        "v1/",
        "/x",
        "a//b",
        "a/b/",
        "//",
        "/",
        "workflowz",
        "WF",
        "Workflows",
        "apps/V1/deployments",
        "apps/v1/Deployments",
        "v1/config maps",
        "v1/pods?x",
        "apps/v1/deploy_ments",
        "a/b/c/",
        "v1//pods",
        "x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) reject(bad[i]);
}

static void test_long_segments(void **state) {
    (void)state;
    /* segments that do not fit the struct are rejected, never truncated */
    char s[512];
    char longseg[201];
    memset(longseg, 'g', 200);
    longseg[200] = '\0';
    snprintf(s, sizeof s, "%s/v1/things", longseg);
    reject(s);
    snprintf(s, sizeof s, "apps/%.100s/things", longseg);
    reject(s);
    snprintf(s, sizeof s, "apps/v1/%s", longseg);
    reject(s);
    snprintf(s, sizeof s, "%.100s/things", longseg);
    reject(s);
    snprintf(s, sizeof s, "v1/%s", longseg);
    reject(s);
    /* the longest that fit are accepted whole */
    snprintf(s, sizeof s, "%.127s/%.63s/%.127s", longseg, longseg, longseg);
    ww_resource r;
    char err[256];
    assert_int_equal(ww_resource_parse(s, &r, err, sizeof err), WW_OK);
    assert_int_equal(strlen(r.group), 127);
    assert_int_equal(strlen(r.version), 63);
    assert_int_equal(strlen(r.resource), 127);
}

static void test_small_err_buffer(void **state) {
    (void)state;
    ww_resource r;
    char err[8];
    memset(err, 'X', sizeof err);
    assert_int_equal(ww_resource_parse("a/b/c/d", &r, err, sizeof err), WW_EINVAL);
    assert_int_equal(strlen(err), 7); /* truncated, NUL-terminated */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argo_names),
        cmocka_unit_test(test_gvr),
        cmocka_unit_test(test_core_version_resource),
        cmocka_unit_test(test_result_is_reset),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_long_segments),
        cmocka_unit_test(test_small_err_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
