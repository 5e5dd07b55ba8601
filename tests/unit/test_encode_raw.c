/* test_encode_raw.c - the raw watch-event format with the change's id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "encode/encode.h"

static ww_span S(const char *s) {
    ww_span v = {s, strlen(s)};
    return v;
}

#define OBJ "{\"kind\":\"Workflow\",\"metadata\":{\"name\":\"w\",\"uid\":\"u1\",\"resourceVersion\":\"7\"},\"n\":1.50}"

static void encode_ok(const ww_change *c, const char *want) {
    ww_buf b;
    ww_buf_init(&b, 1 << 16);
    assert_int_equal(ww_encode_raw(c, &b), WW_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.p, want, b.len);
    assert_int_equal(ww_json_validate(S(b.p)), WW_OK);
    ww_buf_free(&b);
}

static void test_observed_line(void **state) {
    (void)state;
    const char *line = "{\"type\":\"MODIFIED\",\"object\":" OBJ "}";
    ww_change c = {.type = WW_CHANGE_MODIFIED, .line = S(line), .object = S(OBJ), .id = "u1/7"};
    encode_ok(&c, "{\"type\":\"MODIFIED\",\"object\":" OBJ ",\"id\":\"u1/7\"}");
    /* bytes of the line are kept as they came, numbers and spacing included */
    line = "{ \"type\" : \"ADDED\", \"object\" : {\"a\": 1.0e3 , \"b\":\"\\u00e9\"} }";
    c.type = WW_CHANGE_ADDED;
    c.line = S(line);
    encode_ok(&c, "{ \"type\" : \"ADDED\", \"object\" : {\"a\": 1.0e3 , \"b\":\"\\u00e9\"} ,\"id\":\"u1/7\"}");
    /* the type comes from the line, not from c->type */
    c.type = WW_CHANGE_DELETED;
    encode_ok(&c, "{ \"type\" : \"ADDED\", \"object\" : {\"a\": 1.0e3 , \"b\":\"\\u00e9\"} ,\"id\":\"u1/7\"}");
}

static void test_observed_line_trailing_bytes(void **state) {
    (void)state;
    /* a line that still carries its line end: the id goes inside the object */
    const char *line = "{\"type\":\"ADDED\",\"object\":{}}\r\n";
    ww_change c = {.type = WW_CHANGE_ADDED, .line = S(line), .object = S("{}"), .id = "u/1"};
    encode_ok(&c, "{\"type\":\"ADDED\",\"object\":{},\"id\":\"u/1\"}");
    /* no closing brace at all: refused, not written past */
    line = "not an object";
    c.line = S(line);
    ww_buf b;
    ww_buf_init(&b, 1024);
    assert_int_equal(ww_encode_raw(&c, &b), WW_EPROTO);
    ww_buf_free(&b);
}

static void test_synthesised(void **state) {
    (void)state;
    /* from the first list: what a watch would have sent, no recovered flag */
    ww_change c = {.type = WW_CHANGE_ADDED, .object = S(OBJ), .id = "u1/7"};
    encode_ok(&c, "{\"type\":\"ADDED\",\"object\":" OBJ ",\"id\":\"u1/7\"}");
    /* from a relist diff */
    c.type = WW_CHANGE_MODIFIED;
    c.recovered = 1;
    c.id = "u1/7";
    encode_ok(&c, "{\"type\":\"MODIFIED\",\"object\":" OBJ ",\"recovered\":true,\"id\":\"u1/7\"}");
    const char *min = "{\"apiVersion\":\"argoproj.io/v1alpha1\",\"kind\":\"Workflow\",\"metadata\":{\"name\":\"w\","
                      "\"namespace\":\"n\",\"uid\":\"u1\",\"resourceVersion\":\"7\"}}";
    c.type = WW_CHANGE_DELETED;
    c.object = S(min);
    c.id = "u1/deleted";
    char want[1024];
    snprintf(want, sizeof want,
             "{\"type\":\"DELETED\",\"object\":%s,\"recovered\":true,\"id\":\"u1/deleted\"}", min);
    encode_ok(&c, want);
}

static void test_id_escaped(void **state) {
    (void)state;
    ww_change c = {.type = WW_CHANGE_ADDED, .object = S("{}"), .id = "a\"b\\c/\n1"};
    encode_ok(&c, "{\"type\":\"ADDED\",\"object\":{},\"id\":\"a\\\"b\\\\c/\\n1\"}");
    const char *line = "{\"type\":\"ADDED\",\"object\":{}}";
    c.line = S(line);
    encode_ok(&c, "{\"type\":\"ADDED\",\"object\":{},\"id\":\"a\\\"b\\\\c/\\n1\"}");
    /* and the decoded id is the original */
    ww_buf b;
    ww_buf_init(&b, 1024);
    assert_int_equal(ww_encode_raw(&c, &b), WW_OK);
    ww_span v;
    char id[64];
    assert_int_equal(ww_json_get(S(b.p), "id", &v), WW_OK);
    assert_int_equal(ww_json_str(v, id, sizeof id), WW_OK);
    assert_string_equal(id, "a\"b\\c/\n1");
    ww_buf_free(&b);
}

/* The pipeline encodes a batch into one buffer: the encoder appends. */
static void test_appends(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 1024);
    assert_int_equal(ww_buf_puts(&b, "X\n"), WW_OK);
    ww_change c = {.type = WW_CHANGE_ADDED, .object = S("{}"), .id = "u/1"};
    assert_int_equal(ww_encode_raw(&c, &b), WW_OK);
    assert_string_equal(b.p, "X\n{\"type\":\"ADDED\",\"object\":{},\"id\":\"u/1\"}");
    ww_buf_free(&b);
}

static void test_cap(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 20);
    ww_change c = {.type = WW_CHANGE_ADDED, .object = S(OBJ), .id = "u1/7"};
    assert_int_equal(ww_encode_raw(&c, &b), WW_ETOOBIG);
    const char *line = "{\"type\":\"MODIFIED\",\"object\":" OBJ "}";
    c.line = S(line);
    ww_buf_reset(&b);
    assert_int_equal(ww_encode_raw(&c, &b), WW_ETOOBIG);
    ww_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observed_line), cmocka_unit_test(test_observed_line_trailing_bytes),
        cmocka_unit_test(test_synthesised),   cmocka_unit_test(test_id_escaped),
        cmocka_unit_test(test_appends),       cmocka_unit_test(test_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
