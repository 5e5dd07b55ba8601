/* test_json.c - the validating skipper and span lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static ww_span S(const char *s) {
    ww_span v = {s, strlen(s)};
    return v;
}

static int span_is(ww_span v, const char *s) { return v.p && v.n == strlen(s) && memcmp(v.p, s, v.n) == 0; }

static void test_validate_valid(void **state) {
    (void)state;
    static const char *ok[] = {
        "0",
        "-0",
        "1",
        "-0.5e+3",
        "1E5",
        "1e-7",
        "3.14159",
        "-12.5E-10",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551616123456789",
        "true",
        "false",
        "null",
        "\"\"",
        "\"abc\"",
        "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\"",
        "[]",
        "{}",
        "[ ]",
        "{ }",
        " \t\r\n[1, 2 ,3 ]\n",
        "{\"a\":1}",
        "{ \"a\" : [ true , false , null ] , \"b\" : { \"c\" : \"d\" } }",
        "[[[]]]",
        "[{}, {\"\":\"\"}, [0]]",
        "\"\xc3\xa9 raw utf-8\"",
        "\"\x7f\"",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (ww_json_validate(S(ok[i])) != WW_OK) fail_msg("should be valid: %s", ok[i]);
    }
}

static void test_validate_invalid(void **state) {
    (void)state;
    static const char *bad[] = {
        "",           " ",          "\n", /* nothing */
        "01",         "-",          "+1",
        ".5",         "1.",         "1.e3",
        "1e",         "1e+",        "--1",
        "0x10",       "Infinity",   "NaN",
        "-a",         "1.5.2",      "tru",
        "nul",        "fals",       "True",
        "nulL",       "truex", /* literals */
        "\"abc",      "\"",         "\"\\",
        "\"\\\"",     "\"\\x\"",    "\"\\u12G4\"",
        "\"\\u12\"",  "\"\\u\"",    "\"\\'\"",
        "\"a\nb\"",   "\"a\tb\"",   "\"\x01\"", /* strings */
        "[",          "[1",         "[1,",
        "[1,]",       "[,1]",       "[1 2]",
        "[1,,2]",     "]",          "[}", /* arrays */
        "{",          "{\"a\"",     "{\"a\":",
        "{\"a\":1",   "{\"a\":1,}", "{\"a\" 1}",
        "{a:1}",      "{1:2}",      "{\"a\":1 \"b\":2}",
        "{,}",        "{\"a\":}",   "{\"a\"::1}",
        "{\"a\":1]",  "}",          "{'a':1}", /* objects */
        "{} x",       "1 2",        "{}}",
        "[]]",        "\"a\"\"b\"", "null,",
        "true false", "{}{}" /* trailing garbage */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ww_json_validate(S(bad[i])) != WW_EPROTO) fail_msg("should be invalid: %s", bad[i]);
    }
}

static void test_validate_truncations(void **state) {
    (void)state;
    const char *doc = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"w\\u00e9\",\"resourceVersion\":\"12\"},"
                      "\"spec\":[1,-2.5e+3,true,false,null,{}]}}";
    size_t n = strlen(doc);
    assert_int_equal(ww_json_validate(S(doc)), WW_OK);
    /* every strict prefix is invalid (the top level is an object) */
    for (size_t i = 0; i < n; i++) {
        ww_span s = {doc, i};
        if (ww_json_validate(s) != WW_EPROTO) fail_msg("prefix of length %zu accepted", i);
    }
    /* the validator must never read past the span: copy each prefix to an
     * exact-size heap block so ASan sees any overread */
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(i ? i : 1);
        assert_non_null(p);
        memcpy(p, doc, i);
        ww_span s = {p, i};
        assert_int_equal(ww_json_validate(s), WW_EPROTO);
        free(p);
    }
}

static char *nested(int depth, const char *open, const char *inner, const char *close) {
    size_t no = strlen(open), ni = strlen(inner), nc = strlen(close);
    char *s = malloc((size_t)depth * (no + nc) + ni + 1);
    char *p = s;
    for (int i = 0; i < depth; i++, p += no) memcpy(p, open, no);
    memcpy(p, inner, ni);
    p += ni;
    for (int i = 0; i < depth; i++, p += nc) memcpy(p, close, nc);
    *p = '\0';
    return s;
}

static void test_depth_limit(void **state) {
    (void)state;
    struct {
        const char *open, *inner, *close;
    } shapes[] = {
        {"[", "", "]"},         {"[", "1", "]"},       {"[", "\"x\"", "]"},
        {"{\"a\":", "{}", "}"}, {"{\"a\":", "0", "}"}, {"[{\"k\":", "[]", "}]"},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        /* {"a":{}} with depth d has d+1 levels; [{"k":...}] adds two per step */
        int per = strcmp(shapes[i].open, "[{\"k\":") == 0 ? 2 : 1;
        int extra = strcmp(shapes[i].inner, "{}") == 0 || strcmp(shapes[i].inner, "[]") == 0 ? 1 : 0;
        /* nesting exactly 256 is accepted */
        int d = (256 - extra) / per;
        char *s = nested(d, shapes[i].open, shapes[i].inner, shapes[i].close);
        if (d * per + extra == 256 && ww_json_validate(S(s)) != WW_OK) fail_msg("shape %zu: nesting 256 rejected", i);
        free(s);
        /* 257 and more is rejected */
        d = (257 - extra + per - 1) / per;
        s = nested(d, shapes[i].open, shapes[i].inner, shapes[i].close);
        if (ww_json_validate(S(s)) != WW_EPROTO) fail_msg("shape %zu: nesting %d accepted", i, d * per + extra);
        free(s);
    }
    /* the simplest case, spelled out */
    char *s = nested(256, "[", "", "]");
    assert_int_equal(ww_json_validate(S(s)), WW_OK);
    free(s);
    s = nested(257, "[", "", "]");
    assert_int_equal(ww_json_validate(S(s)), WW_EPROTO);
    free(s);
    /* very deep input must not blow the stack */
    s = nested(100000, "[", "", "]");
    assert_int_equal(ww_json_validate(S(s)), WW_EPROTO);
    free(s);
    /* unbalanced deep input too */
    s = malloc(200001);
    memset(s, '[', 200000);
    s[200000] = 0;
    assert_int_equal(ww_json_validate(S(s)), WW_EPROTO);
    free(s);
}

static void test_skip_next(void **state) {
    (void)state;
    const char *s = "  [1, {\"a\":\"]\"}]  rest";
    const char *next = NULL;
    assert_int_equal(ww_json_skip(s, s + strlen(s), &next), WW_OK);
    assert_string_equal(next, "  rest");
    s = "-0.5e+3,";
    assert_int_equal(ww_json_skip(s, s + strlen(s), &next), WW_OK);
    assert_string_equal(next, ",");
    s = "9223372036854775807}";
    assert_int_equal(ww_json_skip(s, s + strlen(s), &next), WW_OK);
    assert_string_equal(next, "}");
    s = "\"a\\\"b\" x";
    assert_int_equal(ww_json_skip(s, s + strlen(s), &next), WW_OK);
    assert_string_equal(next, " x");
    /* the end bound is honoured: "12345" cut to "12" */
    s = "12345";
    assert_int_equal(ww_json_skip(s, s + 2, &next), WW_OK);
    assert_ptr_equal(next, s + 2);
    s = "true";
    next = NULL;
    assert_int_equal(ww_json_skip(s, s + 3, &next), WW_EPROTO);
    assert_null(next);
    s = "   ";
    assert_int_equal(ww_json_skip(s, s + 3, &next), WW_EPROTO);
}

static const char *DOC =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Workflow\",\"metadata\":{\"name\":\"wf-1\","
    "\"namespace\":\"argo\",\"resourceVersion\":\"12345\",\"generation\":9223372036854775807,"
    "\"labels\":{\"app\":\"etl\",\"type\":\"inner\"}},\"status\":{\"phase\":\"Running\",\"n\":-0.5e+3}},"
    " \"nam\" : 1 , \"name\" : \"top\" }";

static void test_get(void **state) {
    (void)state;
    ww_span v;
    assert_int_equal(ww_json_get(S(DOC), "type", &v), WW_OK);
    assert_true(span_is(v, "\"ADDED\""));
    /* a key nested deeper does not match at the top level */
    assert_int_equal(ww_json_get(S(DOC), "kind", &v), WW_EINVAL);
    assert_null(v.p);
    assert_int_equal(v.n, 0);
    /* prefixes do not match; the exact key does, whitespace around it */
    assert_int_equal(ww_json_get(S(DOC), "na", &v), WW_EINVAL);
    assert_int_equal(ww_json_get(S(DOC), "nam", &v), WW_OK);
    assert_true(span_is(v, "1"));
    assert_int_equal(ww_json_get(S(DOC), "name", &v), WW_OK);
    assert_true(span_is(v, "\"top\""));
    /* object value span is the raw bytes */
    ww_span obj;
    assert_int_equal(ww_json_get(S(DOC), "object", &obj), WW_OK);
    assert_int_equal(obj.p[0], '{');
    assert_int_equal(obj.p[obj.n - 1], '}');
    assert_int_equal(ww_json_validate(obj), WW_OK);
    assert_int_equal(ww_json_get(obj, "kind", &v), WW_OK);
    assert_true(span_is(v, "\"Workflow\""));
    /* not objects */
    assert_int_equal(ww_json_get(S("[1,2]"), "a", &v), WW_EINVAL);
    assert_int_equal(ww_json_get(S("\"a\""), "a", &v), WW_EINVAL);
    assert_int_equal(ww_json_get(S("{}"), "a", &v), WW_EINVAL);
    assert_int_equal(ww_json_get(S(""), "a", &v), WW_EINVAL);
    /* malformed before the key is found */
    assert_int_equal(ww_json_get(S("{\"a\":1,"), "b", &v), WW_EPROTO);
    assert_int_equal(ww_json_get(S("{\"a\" 1}"), "a", &v), WW_EPROTO);
    assert_int_equal(ww_json_get(S("{\"a\":[1,}"), "b", &v), WW_EPROTO);
    assert_int_equal(ww_json_get(S("{\"a\":1 \"b\":2}"), "b", &v), WW_EPROTO);
    /* an escaped key never matches */
    assert_int_equal(ww_json_get(S("{\"\\u0061\":1}"), "a", &v), WW_EINVAL);
    /* an empty key */
    assert_int_equal(ww_json_get(S("{\"\":5}"), "", &v), WW_OK);
    assert_true(span_is(v, "5"));
}

static void test_path(void **state) {
    (void)state;
    ww_span v;
    assert_int_equal(ww_json_path(S(DOC), &v, "object", "metadata", "resourceVersion", NULL), WW_OK);
    assert_true(span_is(v, "\"12345\""));
    /* big int64 comes back byte for byte */
    assert_int_equal(ww_json_path(S(DOC), &v, "object", "metadata", "generation", NULL), WW_OK);
    assert_true(span_is(v, "9223372036854775807"));
    assert_int_equal(ww_json_path(S(DOC), &v, "object", "status", "n", NULL), WW_OK);
    assert_true(span_is(v, "-0.5e+3"));
    assert_int_equal(ww_json_path(S(DOC), &v, "object", "metadata", "labels", "type", NULL), WW_OK);
    assert_true(span_is(v, "\"inner\""));
    /* missing in the middle, and a path through a non-object */
    v.p = "junk";
    v.n = 4;
    assert_int_equal(ww_json_path(S(DOC), &v, "object", "nope", "name", NULL), WW_EINVAL);
    assert_null(v.p);
    assert_int_equal(v.n, 0);
    assert_int_equal(ww_json_path(S(DOC), &v, "type", "x", NULL), WW_EINVAL);
    assert_null(v.p);
    /* no keys: the object itself */
    assert_int_equal(ww_json_path(S(DOC), &v, NULL), WW_OK);
    assert_ptr_equal(v.p, DOC);
    assert_int_equal(v.n, strlen(DOC));
}

static void test_array_iter(void **state) {
    (void)state;
    const char *a = " [ 1 , \"two\",{\"x\":[3,4]} ,null,[],-0.5e+3 ] ";
    const char *want[] = {"1", "\"two\"", "{\"x\":[3,4]}", "null", "[]", "-0.5e+3"};
    ww_json_iter it = {0};
    ww_span e;
    size_t i = 0;
    ww_rc rc;
    while ((rc = ww_json_array_next(S(a), &it, &e)) == WW_OK) {
        assert_true(i < 6);
        if (!span_is(e, want[i])) fail_msg("element %zu: got %.*s", i, (int)e.n, e.p);
        i++;
    }
    assert_int_equal(rc, WW_EINVAL);
    assert_int_equal(i, 6);
    /* calling again after the end stays at the end */
    assert_int_equal(ww_json_array_next(S(a), &it, &e), WW_EINVAL);

    /* empty arrays */
    ww_json_iter it2 = {0};
    assert_int_equal(ww_json_array_next(S("[]"), &it2, &e), WW_EINVAL);
    ww_json_iter it3 = {0};
    assert_int_equal(ww_json_array_next(S(" [ \n ] "), &it3, &e), WW_EINVAL);

    /* malformed: first element fine, then an error */
    ww_json_iter it4 = {0};
    assert_int_equal(ww_json_array_next(S("[1 2]"), &it4, &e), WW_OK);
    assert_true(span_is(e, "1"));
    assert_int_equal(ww_json_array_next(S("[1 2]"), &it4, &e), WW_EPROTO);
    ww_json_iter it5 = {0};
    assert_int_equal(ww_json_array_next(S("[1,"), &it5, &e), WW_OK);
    assert_int_equal(ww_json_array_next(S("[1,"), &it5, &e), WW_EPROTO);
    ww_json_iter it6 = {0};
    assert_int_equal(ww_json_array_next(S("[1"), &it6, &e), WW_OK);
    assert_int_equal(ww_json_array_next(S("[1"), &it6, &e), WW_EPROTO);
    ww_json_iter it7 = {0};
    assert_int_equal(ww_json_array_next(S("[,]"), &it7, &e), WW_EPROTO);

    /* not an array at all: never OK */
    ww_json_iter it8 = {0};
    assert_int_not_equal(ww_json_array_next(S("{\"a\":1}"), &it8, &e), WW_OK);
    ww_json_iter it9 = {0};
    assert_int_not_equal(ww_json_array_next(S(""), &it9, &e), WW_OK);
}

static void test_object_iter(void **state) {
    (void)state;
    const char *o = "{ \"a\" : 1 ,\"b\":[2,{\"z\":0}], \"c\":{\"d\":null},\"\":\"e\\\"\"}";
    const char *keys[] = {"\"a\"", "\"b\"", "\"c\"", "\"\""};
    const char *vals[] = {"1", "[2,{\"z\":0}]", "{\"d\":null}", "\"e\\\"\""};
    ww_json_iter it = {0};
    ww_span k, v;
    size_t i = 0;
    ww_rc rc;
    while ((rc = ww_json_object_next(S(o), &it, &k, &v)) == WW_OK) {
        assert_true(i < 4);
        if (!span_is(k, keys[i])) fail_msg("key %zu: got %.*s", i, (int)k.n, k.p);
        if (!span_is(v, vals[i])) fail_msg("value %zu: got %.*s", i, (int)v.n, v.p);
        i++;
    }
    assert_int_equal(rc, WW_EINVAL);
    assert_int_equal(i, 4);
    assert_int_equal(ww_json_object_next(S(o), &it, &k, &v), WW_EINVAL);

    ww_json_iter e1 = {0};
    assert_int_equal(ww_json_object_next(S("{ }"), &e1, &k, &v), WW_EINVAL);
    ww_json_iter e2 = {0};
    assert_int_equal(ww_json_object_next(S("[1]"), &e2, &k, &v), WW_EINVAL);
    ww_json_iter e3 = {0};
    assert_int_equal(ww_json_object_next(S("{\"a\":1,}"), &e3, &k, &v), WW_OK);
    assert_int_equal(ww_json_object_next(S("{\"a\":1,}"), &e3, &k, &v), WW_EPROTO);
    ww_json_iter e4 = {0};
    assert_int_equal(ww_json_object_next(S("{\"a\":}"), &e4, &k, &v), WW_EPROTO);
    ww_json_iter e5 = {0};
    assert_int_equal(ww_json_object_next(S("{\"a\""), &e5, &k, &v), WW_EPROTO);
    ww_json_iter e6 = {0};
    assert_int_equal(ww_json_object_next(S("{1:2}"), &e6, &k, &v), WW_EPROTO);
    ww_json_iter e7 = {0};
    assert_int_equal(ww_json_object_next(S("{\"a\":1"), &e7, &k, &v), WW_OK);
    assert_int_equal(ww_json_object_next(S("{\"a\":1"), &e7, &k, &v), WW_EPROTO);
}

static void test_str_decode(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(ww_json_str(S("\"plain\""), out, sizeof out), WW_OK);
    assert_string_equal(out, "plain");
    assert_int_equal(ww_json_str(S("\"\""), out, sizeof out), WW_OK);
    assert_string_equal(out, "");
    assert_int_equal(ww_json_str(S("\"q\\\"b\\\\s\\/n\\nr\\rt\\tb\\bf\\f\""), out, sizeof out), WW_OK);
    assert_string_equal(out, "q\"b\\s/n\nr\rt\tb\bf\f");
    assert_int_equal(ww_json_str(S("\"caf\\u00e9\""), out, sizeof out), WW_OK);
    assert_string_equal(out, "caf\xc3\xa9");
    assert_int_equal(ww_json_str(S("\"\\u00E9\\u0041\\u20ac\\u007f\""), out, sizeof out), WW_OK);
    assert_string_equal(out, "\xc3\xa9"
                             "A"
                             "\xe2\x82\xac"
                             "\x7f");
    /* a surrogate pair becomes one 4-byte UTF-8 sequence */
    assert_int_equal(ww_json_str(S("\"<\\ud83d\\ude00>\""), out, sizeof out), WW_OK);
    assert_string_equal(out, "<\xf0\x9f\x98\x80>");
    assert_int_equal(ww_json_str(S("\"\\uD834\\uDD1E\""), out, sizeof out), WW_OK);
    assert_string_equal(out, "\xf0\x9d\x84\x9e");
    /* raw UTF-8 passes through */
    assert_int_equal(ww_json_str(S("\"\xc3\xa9\xf0\x9f\x98\x80\""), out, sizeof out), WW_OK);
    assert_string_equal(out, "\xc3\xa9\xf0\x9f\x98\x80");
    /* a lone high surrogate followed by an ordinary escape: the escape still decodes */
    assert_int_equal(ww_json_str(S("\"\\ud83d\\u0041\""), out, sizeof out), WW_OK);
    assert_int_equal(out[strlen(out) - 1], 'A');
}

static void test_str_errors(void **state) {
    (void)state;
    char out[16];
    memset(out, 'X', sizeof out);
    /* not strings */
    assert_int_equal(ww_json_str(S("123"), out, sizeof out), WW_EINVAL);
    assert_int_equal(ww_json_str(S("null"), out, sizeof out), WW_EINVAL);
    assert_int_equal(ww_json_str(S("{\"a\":1}"), out, sizeof out), WW_EINVAL);
    assert_int_equal(ww_json_str(S("\"abc"), out, sizeof out), WW_EINVAL);
    assert_int_equal(ww_json_str(S("\""), out, sizeof out), WW_EINVAL);
    assert_int_equal(ww_json_str(S("\"a\\x\""), out, sizeof out), WW_EINVAL);
    assert_int_equal(ww_json_str(S("\"\\u12\""), out, sizeof out), WW_EINVAL);
    assert_int_equal(ww_json_str(S("\"abc\" "), out, sizeof out), WW_EINVAL);
    assert_int_equal(ww_json_str(S("\"a\"b\""), out, sizeof out), WW_EINVAL);
    ww_span none = {NULL, 0};
    assert_int_equal(ww_json_str(none, out, sizeof out), WW_EINVAL);

    /* too small: "abc" needs 4 bytes with the NUL */
    assert_int_equal(ww_json_str(S("\"abc\""), out, 3), WW_ETOOBIG);
    assert_int_equal(ww_json_str(S("\"abc\""), out, 4), WW_OK);
    assert_string_equal(out, "abc");
    /* a multi-byte character is not split */
    assert_int_equal(ww_json_str(S("\"\\u00e9\""), out, 2), WW_ETOOBIG);
    assert_int_equal(ww_json_str(S("\"\\u00e9\""), out, 3), WW_OK);
    assert_string_equal(out, "\xc3\xa9");
    assert_int_equal(ww_json_str(S("\"\\ud83d\\ude00\""), out, 4), WW_ETOOBIG);
    assert_int_equal(ww_json_str(S("\"\\ud83d\\ude00\""), out, 5), WW_OK);
    /* nothing fits in zero bytes, not even the empty string's NUL */
    out[0] = 'X';
    assert_int_equal(ww_json_str(S("\"\""), out, 0), WW_ETOOBIG);
    assert_int_equal(out[0], 'X');
    assert_int_equal(ww_json_str(S("\"\""), out, 1), WW_OK);
    assert_int_equal(out[0], '\0');
}

static void test_strdup(void **state) {
    (void)state;
    char *s = ww_json_strdup(S("\"a\\u00e9\\ud83d\\ude00\\n\""));
    assert_non_null(s);
    assert_string_equal(s, "a\xc3\xa9\xf0\x9f\x98\x80\n");
    free(s);
    s = ww_json_strdup(S("\"\""));
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    assert_null(ww_json_strdup(S("42")));
    assert_null(ww_json_strdup(S("\"open")));
    ww_span none = {NULL, 0};
    assert_null(ww_json_strdup(none));
    /* worst-case expansion of escapes still fits the allocation */
    s = ww_json_strdup(S("\"\\u0800\\u0800\\u0800\""));
    assert_non_null(s);
    assert_int_equal(strlen(s), 9);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_valid),
        cmocka_unit_test(test_validate_invalid),
        cmocka_unit_test(test_validate_truncations),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_skip_next),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_array_iter),
        cmocka_unit_test(test_object_iter),
        cmocka_unit_test(test_str_decode),
        cmocka_unit_test(test_str_errors),
        cmocka_unit_test(test_strdup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
