/* test_buf.c - the capped growable buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

static void test_append_and_nul(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 64);
    assert_int_equal(b.len, 0);
    assert_int_equal(ww_buf_append(&b, "abc", 3), WW_OK);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.p, "abc");
    assert_int_equal(ww_buf_puts(&b, "def"), WW_OK);
    assert_int_equal(b.len, 6);
    assert_string_equal(b.p, "abcdef");
    /* binary data with an embedded NUL keeps its length */
    assert_int_equal(ww_buf_append(&b, "x\0y", 3), WW_OK);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.p, "abcdefx\0y", 10);
    ww_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void test_append_empty_on_fresh(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 16);
    assert_int_equal(ww_buf_append(&b, NULL, 0), WW_OK);
    assert_non_null(b.p);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    ww_buf_free(&b);
}

static void test_cap_enforced(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 10);
    assert_int_equal(ww_buf_append(&b, "hello", 5), WW_OK);
    /* 5 + 6 > 10: refused, content untouched */
    assert_int_equal(ww_buf_append(&b, "world!", 6), WW_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.p, "hello");
    /* exactly up to the cap is fine */
    assert_int_equal(ww_buf_append(&b, "world", 5), WW_OK);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.p, "helloworld");
    assert_true(b.cap >= 11);
    /* nothing more, not even one byte */
    assert_int_equal(ww_buf_append(&b, "x", 1), WW_ETOOBIG);
    assert_int_equal(ww_buf_puts(&b, "x"), WW_ETOOBIG);
    assert_int_equal(ww_buf_printf(&b, "%d", 1), WW_ETOOBIG);
    assert_int_equal(ww_buf_json_escape(&b, "x", 1), WW_ETOOBIG);
    assert_int_equal(b.len, 10);
    assert_string_equal(b.p, "helloworld");
    /* a zero-length append at the cap is still OK */
    assert_int_equal(ww_buf_append(&b, "", 0), WW_OK);
    assert_int_equal(b.len, 10);
    /* a huge n must not overflow the size check */
    assert_int_equal(ww_buf_append(&b, "x", SIZE_MAX), WW_ETOOBIG);
    assert_int_equal(ww_buf_append(&b, "x", SIZE_MAX - 5), WW_ETOOBIG);
    assert_string_equal(b.p, "helloworld");
    ww_buf_free(&b);
}

static void test_cap_zero(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 0);
    assert_int_equal(ww_buf_append(&b, "a", 1), WW_ETOOBIG);
    assert_int_equal(b.len, 0);
    assert_int_equal(ww_buf_append(&b, "", 0), WW_OK);
    assert_string_equal(b.p, "");
    ww_buf_free(&b);
}

static void test_growth_large(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 1 << 20);
    char chunk[100];
    for (int i = 0; i < 100; i++) chunk[i] = (char)('a' + i % 26);
    for (int i = 0; i < 1000; i++) assert_int_equal(ww_buf_append(&b, chunk, sizeof chunk), WW_OK);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    for (size_t i = 0; i < b.len; i++) assert_int_equal(b.p[i], 'a' + (int)(i % 100) % 26);
    assert_int_equal(b.p[b.len], '\0');
    ww_buf_free(&b);
}

static void test_printf_small_and_growth(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 1 << 16);
    assert_int_equal(ww_buf_printf(&b, "%s=%d;", "n", 42), WW_OK);
    assert_string_equal(b.p, "n=42;");
    /* longer than printf's 256-byte stack buffer */
    char big[1001];
    memset(big, 'z', 1000);
    big[1000] = '\0';
    assert_int_equal(ww_buf_printf(&b, "[%s]%ld", big, 7L), WW_OK);
    assert_int_equal(b.len, 5 + 1 + 1000 + 1 + 1);
    assert_memory_equal(b.p, "n=42;[", 6);
    for (size_t i = 6; i < 1006; i++) assert_int_equal(b.p[i], 'z');
    assert_string_equal(b.p + 1006, "]7");
    /* exactly 255 and 256 characters (the stack buffer boundary) */
    ww_buf_reset(&b);
    assert_int_equal(ww_buf_printf(&b, "%.255s", big), WW_OK);
    assert_int_equal(b.len, 255);
    assert_int_equal(ww_buf_printf(&b, "%.256s", big), WW_OK);
    assert_int_equal(b.len, 511);
    assert_int_equal(strlen(b.p), 511);
    ww_buf_free(&b);
}

static void test_printf_past_cap(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 300);
    assert_int_equal(ww_buf_puts(&b, "ab"), WW_OK);
    char big[400];
    memset(big, 'q', 399);
    big[399] = '\0';
    /* large path (> 256) past the cap */
    assert_int_equal(ww_buf_printf(&b, "%.299s", big), WW_ETOOBIG);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.p, "ab");
    /* small path past the cap */
    ww_buf c;
    ww_buf_init(&c, 8);
    assert_int_equal(ww_buf_puts(&c, "12345"), WW_OK);
    assert_int_equal(ww_buf_printf(&c, "%s", "6789"), WW_ETOOBIG);
    assert_string_equal(c.p, "12345");
    assert_int_equal(ww_buf_printf(&c, "%s", "678"), WW_OK);
    assert_string_equal(c.p, "12345678");
    /* large path exactly to the cap */
    assert_int_equal(ww_buf_printf(&b, "%.298s", big), WW_OK);
    assert_int_equal(b.len, 300);
    assert_int_equal(b.p[300], '\0');
    ww_buf_free(&b);
    ww_buf_free(&c);
}

static void test_json_escape(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 1024);
    const char in[] = "a\"b\\c/\n\t\r\x01\x1f\x7f\xc3\xa9";
    assert_int_equal(ww_buf_json_escape(&b, in, sizeof in - 1), WW_OK);
    assert_string_equal(b.p, "a\\\"b\\\\c/\\n\\t\\r\\u0001\\u001f\x7f\xc3\xa9");
    /* n, not the NUL, bounds the input: an embedded NUL is escaped */
    ww_buf_reset(&b);
    assert_int_equal(ww_buf_json_escape(&b, "x\0y", 3), WW_OK);
    assert_string_equal(b.p, "x\\u0000y");
    /* every control character is escaped, nothing >= 0x20 (but " and \) is */
    for (int c = 0; c < 0x20; c++) {
        ww_buf_reset(&b);
        char ch = (char)c;
        assert_int_equal(ww_buf_json_escape(&b, &ch, 1), WW_OK);
        assert_int_equal(b.p[0], '\\');
        assert_true(b.len == 2 || b.len == 6);
    }
    for (int c = 0x20; c < 0x100; c++) {
        if (c == '"' || c == '\\') continue;
        ww_buf_reset(&b);
        char ch = (char)c;
        assert_int_equal(ww_buf_json_escape(&b, &ch, 1), WW_OK);
        assert_int_equal(b.len, 1);
        assert_int_equal((unsigned char)b.p[0], c);
    }
    /* empty input appends nothing */
    ww_buf_reset(&b);
    assert_int_equal(ww_buf_json_escape(&b, "", 0), WW_OK);
    assert_int_equal(b.len, 0);
    ww_buf_free(&b);
}

static void test_json_escape_cap(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 5);
    /* "\u0001" is 6 bytes: does not fit in 5 */
    assert_int_equal(ww_buf_json_escape(&b, "\x01", 1), WW_ETOOBIG);
    assert_true(b.len <= 5);
    ww_buf_free(&b);
}

static void test_consume(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 64);
    ww_buf_consume(&b, 3); /* on an empty, unallocated buffer */
    assert_int_equal(b.len, 0);
    assert_int_equal(ww_buf_puts(&b, "abcdef"), WW_OK);
    ww_buf_consume(&b, 0);
    assert_string_equal(b.p, "abcdef");
    ww_buf_consume(&b, 2);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.p, "cdef");
    ww_buf_consume(&b, 3);
    assert_int_equal(b.len, 1);
    assert_string_equal(b.p, "f");
    ww_buf_consume(&b, 1);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    assert_int_equal(ww_buf_puts(&b, "xyz"), WW_OK);
    ww_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    /* after consuming, the freed space counts again against the cap */
    ww_buf c;
    ww_buf_init(&c, 4);
    assert_int_equal(ww_buf_puts(&c, "1234"), WW_OK);
    assert_int_equal(ww_buf_puts(&c, "5"), WW_ETOOBIG);
    ww_buf_consume(&c, 2);
    assert_int_equal(ww_buf_puts(&c, "56"), WW_OK);
    assert_string_equal(c.p, "3456");
    ww_buf_free(&b);
    ww_buf_free(&c);
}

static void test_reset_and_reuse(void **state) {
    (void)state;
    ww_buf b;
    ww_buf_init(&b, 32);
    ww_buf_reset(&b); /* no allocation yet */
    assert_int_equal(ww_buf_puts(&b, "hello"), WW_OK);
    ww_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    assert_int_equal(ww_buf_puts(&b, "again"), WW_OK);
    assert_string_equal(b.p, "again");
    ww_buf_free(&b);
    ww_buf_free(&b); /* freeing twice is harmless */
    ww_buf_free(NULL);
    assert_int_equal(ww_buf_puts(&b, "reuse"), WW_OK);
    assert_string_equal(b.p, "reuse");
    ww_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_nul),  cmocka_unit_test(test_append_empty_on_fresh),
        cmocka_unit_test(test_cap_enforced),    cmocka_unit_test(test_cap_zero),
        cmocka_unit_test(test_growth_large),    cmocka_unit_test(test_printf_small_and_growth),
        cmocka_unit_test(test_printf_past_cap), cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_json_escape_cap), cmocka_unit_test(test_consume),
        cmocka_unit_test(test_reset_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
