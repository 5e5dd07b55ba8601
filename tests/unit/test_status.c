/* test_status.c - a Workflow's phase and node-phase digest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "track/status.h"

static ww_span S(const char *s) {
    ww_span v = {s, strlen(s)};
    return v;
}

static uint8_t phase_of(const char *obj) {
    uint8_t p = 99;
    uint32_t d;
    ww_status_read(S(obj), &p, &d);
    return p;
}

static uint32_t digest_of(const char *obj) {
    uint8_t p;
    uint32_t d = 12345;
    ww_status_read(S(obj), &p, &d);
    return d;
}

static void test_phases(void **state) {
    (void)state;
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"Pending\"}}"), WW_PHASE_PENDING);
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"Running\"}}"), WW_PHASE_RUNNING);
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"Succeeded\"}}"), WW_PHASE_SUCCEEDED);
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"Failed\"}}"), WW_PHASE_FAILED);
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"Error\"}}"), WW_PHASE_ERROR);
    /* status after other fields, phase after other status fields */
    assert_int_equal(phase_of("{\"metadata\":{\"name\":\"x\",\"phase\":\"Failed\"},\"spec\":{\"phase\":\"Error\"},"
                              "\"status\":{\"startedAt\":\"2024-01-01T00:00:00Z\",\"phase\":\"Running\"}}"),
                     WW_PHASE_RUNNING);
    /* escapes are decoded */
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"Succ\\u0065eded\"}}"), WW_PHASE_SUCCEEDED);
}

static void test_unknown_and_missing_phase(void **state) {
    (void)state;
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"Paused\"}}"), WW_PHASE_OTHER);
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"running\"}}"), WW_PHASE_OTHER); /* case matters */
    assert_int_equal(phase_of("{\"status\":{\"phase\":42}}"), WW_PHASE_OTHER);
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"a phase name far too long for any buffer\"}}"), WW_PHASE_OTHER);
    assert_int_equal(phase_of("{\"status\":{}}"), WW_PHASE_NONE);
    assert_int_equal(phase_of("{\"status\":{\"nodes\":{}}}"), WW_PHASE_NONE);
    assert_int_equal(phase_of("{\"metadata\":{\"name\":\"x\"}}"), WW_PHASE_NONE);
    assert_int_equal(phase_of("{}"), WW_PHASE_NONE);
    assert_int_equal(phase_of("{\"status\":\"Running\"}"), WW_PHASE_NONE);     /* not an object */
    assert_int_equal(phase_of("{\"status\":{\"phase\":\"Run"), WW_PHASE_NONE); /* torn */
    assert_int_equal(phase_of("[1,2]"), WW_PHASE_NONE);
}

static void test_phase_names(void **state) {
    (void)state;
    static const char *names[] = {"", "Pending", "Running", "Succeeded", "Failed", "Error", "Other"};
    for (uint8_t i = 0; i <= WW_PHASE_OTHER; i++) {
        assert_string_equal(ww_phase_name(i), names[i]);
        assert_int_equal(ww_phase_parse(names[i]), i);
    }
    assert_string_equal(ww_phase_name(200), "Other");
    assert_int_equal(ww_phase_parse("Skipped"), WW_PHASE_OTHER);
}

#define WF(nodes) "{\"metadata\":{\"name\":\"w\"},\"status\":{\"phase\":\"Running\",\"nodes\":" nodes "}}"

static void test_digest_follows_node_phases(void **state) {
    (void)state;
    uint32_t a = digest_of(WF("{\"w\":{\"id\":\"w\",\"phase\":\"Running\"},\"w-1\":{\"phase\":\"Running\"}}"));
    uint32_t same = digest_of(WF("{\"w\":{\"id\":\"w\",\"phase\":\"Running\"},\"w-1\":{\"phase\":\"Running\"}}"));
    uint32_t b = digest_of(WF("{\"w\":{\"id\":\"w\",\"phase\":\"Running\"},\"w-1\":{\"phase\":\"Succeeded\"}}"));
    uint32_t c = digest_of(WF("{\"w\":{\"id\":\"w\",\"phase\":\"Running\"},\"w-1\":{\"phase\":\"Running\"},"
                              "\"w-2\":{\"phase\":\"Pending\"}}"));
    assert_int_not_equal(a, 0);
    assert_int_equal(a, same);
    assert_int_not_equal(a, b);
    assert_int_not_equal(a, c);
    assert_int_not_equal(b, c);
    /* other node fields and the workflow phase are not part of it */
    uint32_t d = digest_of("{\"status\":{\"phase\":\"Failed\",\"nodes\":{\"w\":{\"id\":\"w\",\"startedAt\":\"t\","
                           "\"phase\":\"Running\"},\"w-1\":{\"phase\":\"Running\",\"message\":\"m\"}}}}");
    assert_int_equal(a, d);
    /* nor is white space */
    uint32_t e = digest_of("{\"status\":{\"nodes\": { \"w\" : {\"phase\" : \"Running\"} ,\n"
                           " \"w-1\":{ \"phase\":\"Running\" } } } }");
    assert_int_equal(a, e);
    /* the node names are: the same phases under other names differ */
    uint32_t f = digest_of(WF("{\"w\":{\"phase\":\"Running\"},\"w-9\":{\"phase\":\"Running\"}}"));
    assert_int_not_equal(a, f);
    /* a node without a phase yet, which then gets one */
    uint32_t g = digest_of(WF("{\"w\":{\"phase\":\"Running\"},\"w-1\":{}}"));
    assert_int_not_equal(a, g);
    assert_int_not_equal(g, 0);
}

static void test_digest_compressed_nodes(void **state) {
    (void)state;
    uint32_t a = digest_of("{\"status\":{\"phase\":\"Running\",\"compressedNodes\":\"H4sIAAAAAAAA/6qqBAAAAP//\"}}");
    uint32_t same = digest_of("{\"status\":{\"compressedNodes\":\"H4sIAAAAAAAA/6qqBAAAAP//\",\"phase\":\"Failed\"}}");
    uint32_t b = digest_of("{\"status\":{\"phase\":\"Running\",\"compressedNodes\":\"H4sIAAAAAAAA/6quBAAAAP//\"}}");
    assert_int_not_equal(a, 0);
    assert_int_equal(a, same);
    assert_int_not_equal(a, b);
    /* nodes, when present, win over compressedNodes */
    uint32_t n1 = digest_of(WF("{\"w\":{\"phase\":\"Running\"}}"));
    uint32_t n2 = digest_of("{\"status\":{\"phase\":\"Running\",\"compressedNodes\":\"H4sIAAAAAAAA/6qqBAAAAP//\","
                            "\"nodes\":{\"w\":{\"phase\":\"Running\"}}}}");
    assert_int_equal(n1, n2);
}

static void test_digest_without_status(void **state) {
    (void)state;
    assert_int_equal(digest_of("{\"metadata\":{\"name\":\"w\"}}"), 0);
    assert_int_equal(digest_of("{}"), 0);
    assert_int_equal(digest_of("{\"status\":{\"phase\":\"Pending\"}}"), 0); /* no nodes yet */
    assert_int_equal(digest_of("{\"status\":null}"), 0);
    assert_int_equal(digest_of("not json"), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phases),
        cmocka_unit_test(test_unknown_and_missing_phase),
        cmocka_unit_test(test_phase_names),
        cmocka_unit_test(test_digest_follows_node_phases),
        cmocka_unit_test(test_digest_compressed_nodes),
        cmocka_unit_test(test_digest_without_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
