/* test_framer.c - newline framing across chunk boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "watch/framer.h"

#define MAXL 64

typedef struct {
    char lines[MAXL][256];
    size_t n;
    size_t fail_at; /* 1-based index of the call that fails; 0: never */
    ww_rc fail_rc;
    size_t calls;
} sink;

static ww_rc collect(void *ud, const char *line, size_t n) {
    sink *s = ud;
    s->calls++;
    if (s->fail_at && s->calls == s->fail_at) return s->fail_rc;
    /* the callback never sees the newline or an empty line */
    assert_true(n > 0);
    assert_null(memchr(line, '\n', n));
    assert_true(s->n < MAXL);
    assert_true(n < sizeof s->lines[0]);
    memcpy(s->lines[s->n], line, n);
    s->lines[s->n][n] = '\0';
    s->n++;
    return WW_OK;
}

static const char *INPUT = "alpha\nbeta\r\n\n{\"type\":\"ADDED\"}\n\r\n\r\nx\n  spaced  \n\nlast\r\n";
static const char *WANT[] = {"alpha", "beta", "{\"type\":\"ADDED\"}", "x", "  spaced  ", "last"};
#define NWANT (sizeof WANT / sizeof WANT[0])

static void check_lines(const sink *s) {
    assert_int_equal(s->n, NWANT);
    for (size_t i = 0; i < NWANT; i++) assert_string_equal(s->lines[i], WANT[i]);
}

static void test_one_chunk(void **state) {
    (void)state;
    sink s = {0};
    ww_framer f;
    ww_framer_init(&f, 1024, collect, &s);
    assert_int_equal(ww_framer_feed(&f, INPUT, strlen(INPUT)), WW_OK);
    check_lines(&s);
    assert_int_equal(ww_framer_pending(&f), 0);
    ww_framer_free(&f);
}

static void test_every_split(void **state) {
    (void)state;
    size_t n = strlen(INPUT);
    for (size_t i = 0; i <= n; i++) {
        sink s = {0};
        ww_framer f;
        ww_framer_init(&f, 1024, collect, &s);
        /* copy each part to an exact-size heap block so ASan catches reads
         * past a chunk */
        char *a = malloc(i + 1), *b = malloc(n - i + 1);
        memcpy(a, INPUT, i);
        memcpy(b, INPUT + i, n - i);
        assert_int_equal(ww_framer_feed(&f, a, i), WW_OK);
        assert_int_equal(ww_framer_feed(&f, b, n - i), WW_OK);
        free(a);
        free(b);
        if (s.n != NWANT) fail_msg("split at %zu: %zu lines", i, s.n);
        check_lines(&s);
        assert_int_equal(ww_framer_pending(&f), 0);
        ww_framer_free(&f);
    }
}

static void test_every_double_split(void **state) {
    (void)state;
    size_t n = strlen(INPUT);
    for (size_t i = 0; i <= n; i++)
        for (size_t j = i; j <= n; j++) {
            sink s = {0};
            ww_framer f;
            ww_framer_init(&f, 1024, collect, &s);
            assert_int_equal(ww_framer_feed(&f, INPUT, i), WW_OK);
            assert_int_equal(ww_framer_feed(&f, INPUT + i, j - i), WW_OK);
            assert_int_equal(ww_framer_feed(&f, INPUT + j, n - j), WW_OK);
            check_lines(&s);
            assert_int_equal(ww_framer_pending(&f), 0);
            ww_framer_free(&f);
        }
}

static void test_byte_by_byte(void **state) {
    (void)state;
    sink s = {0};
    ww_framer f;
    ww_framer_init(&f, 1024, collect, &s);
    for (const char *p = INPUT; *p; p++) assert_int_equal(ww_framer_feed(&f, p, 1), WW_OK);
    check_lines(&s);
    ww_framer_free(&f);
}

static void test_crlf_and_lone_cr(void **state) {
    (void)state;
    sink s = {0};
    ww_framer f;
    ww_framer_init(&f, 64, collect, &s);
    /* only a CR right before the LF is removed */
    const char *in = "a\rb\r\n\rc\n\r\r\n";
    assert_int_equal(ww_framer_feed(&f, in, strlen(in)), WW_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.lines[0], "a\rb");
    assert_string_equal(s.lines[1], "\rc");
    assert_string_equal(s.lines[2], "\r");
    ww_framer_free(&f);
}

static void test_empty_lines_only(void **state) {
    (void)state;
    sink s = {0};
    ww_framer f;
    ww_framer_init(&f, 8, collect, &s);
    assert_int_equal(ww_framer_feed(&f, "\n\n\r\n\n", 5), WW_OK);
    assert_int_equal(ww_framer_feed(&f, "", 0), WW_OK);
    assert_int_equal(s.calls, 0);
    assert_int_equal(ww_framer_pending(&f), 0);
    ww_framer_free(&f);
}

static void test_max_line(void **state) {
    (void)state;
    /* max 8: "12345678" fits at every split, "123456789" never does */
    const char *fits = "12345678\nok\n";
    const char *over = "123456789\nok\n";
    for (size_t i = 0; i <= strlen(fits); i++) {
        sink s = {0};
        ww_framer f;
        ww_framer_init(&f, 8, collect, &s);
        assert_int_equal(ww_framer_feed(&f, fits, i), WW_OK);
        assert_int_equal(ww_framer_feed(&f, fits + i, strlen(fits) - i), WW_OK);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.lines[0], "12345678");
        assert_string_equal(s.lines[1], "ok");
        ww_framer_free(&f);
    }
    for (size_t i = 0; i <= strlen(over); i++) {
        sink s = {0};
        ww_framer f;
        ww_framer_init(&f, 8, collect, &s);
        ww_rc r1 = ww_framer_feed(&f, over, i);
        ww_rc r2 = r1 == WW_OK ? ww_framer_feed(&f, over + i, strlen(over) - i) : r1;
        if (r2 != WW_ETOOBIG) fail_msg("split at %zu: rc %d", i, (int)r2);
        /* the long line never reached the callback */
        assert_int_equal(s.n, 0);
        ww_framer_free(&f);
    }
}

static void test_too_long_one_chunk(void **state) {
    (void)state;
    sink s = {0};
    ww_framer f;
    ww_framer_init(&f, 8, collect, &s);
    /* earlier lines are delivered, then the long one fails */
    const char *in = "first\n0123456789abcdef\nnever\n";
    assert_int_equal(ww_framer_feed(&f, in, strlen(in)), WW_ETOOBIG);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.lines[0], "first");
    /* a long unterminated tail in one chunk also fails and holds nothing */
    ww_framer_reset(&f);
    assert_int_equal(ww_framer_feed(&f, "0123456789", 10), WW_ETOOBIG);
    assert_int_equal(ww_framer_pending(&f), 0);
    /* after a reset the framer works again */
    ww_framer_reset(&f);
    assert_int_equal(ww_framer_feed(&f, "again\n", 6), WW_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.lines[1], "again");
    ww_framer_free(&f);
}

static void test_too_long_across_chunks(void **state) {
    (void)state;
    sink s = {0};
    ww_framer f;
    ww_framer_init(&f, 8, collect, &s);
    /* assembled from pieces without any newline */
    assert_int_equal(ww_framer_feed(&f, "12345", 5), WW_OK);
    assert_int_equal(ww_framer_pending(&f), 5);
    assert_int_equal(ww_framer_feed(&f, "678", 3), WW_OK);
    assert_int_equal(ww_framer_pending(&f), 8);
    assert_int_equal(ww_framer_feed(&f, "9", 1), WW_ETOOBIG);
    /* the partial line is dropped, not kept half */
    assert_int_equal(ww_framer_pending(&f), 0);
    assert_int_equal(s.n, 0);
    /* assembled, the newline arriving with the overflowing piece */
    assert_int_equal(ww_framer_feed(&f, "abcdef", 6), WW_OK);
    assert_int_equal(ww_framer_feed(&f, "ghi\nnext\n", 9), WW_ETOOBIG);
    assert_int_equal(ww_framer_pending(&f), 0);
    assert_int_equal(s.n, 0);
    ww_framer_free(&f);
}

static void test_callback_error(void **state) {
    (void)state;
    /* fails on the second line, inside one chunk */
    sink s = {.fail_at = 2, .fail_rc = WW_ESTOP};
    ww_framer f;
    ww_framer_init(&f, 64, collect, &s);
    assert_int_equal(ww_framer_feed(&f, "one\ntwo\nthree\n", 14), WW_ESTOP);
    assert_int_equal(s.calls, 2);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.lines[0], "one");
    ww_framer_free(&f);

    /* fails on a line assembled across chunks */
    sink t = {.fail_at = 1, .fail_rc = WW_EPROTO};
    ww_framer_init(&f, 64, collect, &t);
    assert_int_equal(ww_framer_feed(&f, "to", 2), WW_OK);
    assert_int_equal(t.calls, 0);
    assert_int_equal(ww_framer_feed(&f, "rn\nmore\n", 8), WW_EPROTO);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.n, 0);
    ww_framer_free(&f);

    /* any non-OK value comes back unchanged */
    sink u = {.fail_at = 3, .fail_rc = WW_EGONE};
    ww_framer_init(&f, 64, collect, &u);
    assert_int_equal(ww_framer_feed(&f, "a\nb\n", 4), WW_OK);
    assert_int_equal(ww_framer_feed(&f, "c\nd\n", 4), WW_EGONE);
    assert_int_equal(u.n, 2);
    ww_framer_free(&f);
}

static void test_pending(void **state) {
    (void)state;
    sink s = {0};
    ww_framer f;
    ww_framer_init(&f, 64, collect, &s);
    assert_int_equal(ww_framer_pending(&f), 0);
    assert_int_equal(ww_framer_feed(&f, "line1\nhalf", 10), WW_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(ww_framer_pending(&f), 4);
    assert_int_equal(ww_framer_feed(&f, "-more", 5), WW_OK);
    assert_int_equal(ww_framer_pending(&f), 9);
    assert_int_equal(ww_framer_feed(&f, "\n", 1), WW_OK);
    assert_int_equal(ww_framer_pending(&f), 0);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.lines[1], "half-more");
    /* a torn last line at EOF stays pending until a reset */
    assert_int_equal(ww_framer_feed(&f, "{\"type\":\"MOD", 12), WW_OK);
    assert_int_equal(ww_framer_pending(&f), 12);
    assert_int_equal(s.n, 2);
    ww_framer_reset(&f);
    assert_int_equal(ww_framer_pending(&f), 0);
    /* and the next stream does not see it */
    assert_int_equal(ww_framer_feed(&f, "fresh\n", 6), WW_OK);
    assert_string_equal(s.lines[2], "fresh");
    ww_framer_free(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_chunk),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_every_double_split),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_crlf_and_lone_cr),
        cmocka_unit_test(test_empty_lines_only),
        cmocka_unit_test(test_max_line),
        cmocka_unit_test(test_too_long_one_chunk),
        cmocka_unit_test(test_too_long_across_chunks),
        cmocka_unit_test(test_callback_error),
        cmocka_unit_test(test_pending),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
