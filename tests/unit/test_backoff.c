/* test_backoff.c - exponential backoff with jitter, driven by explicit times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/backoff.h"

#define EPS 1e-9

static void assert_close(double a, double b) {
    if (a - b > EPS || b - a > EPS) fail_msg("%.12f != %.12f", a, b);
}

static void assert_in(double v, double lo, double hi_excl) {
    if (!(v >= lo && v < hi_excl)) fail_msg("%.12f not in [%.12f, %.12f)", v, lo, hi_excl);
}

static void test_doubling_and_jitter(void **state) {
    (void)state;
    ww_backoff b;
    ww_backoff_init(&b, 0.8, 30, 120, 42);
    const double base[] = {0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30, 30, 30};
    double now = 1000;
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        assert_close(b.cur_s, base[i]);
        double w = ww_backoff_next(&b, now);
        double hi = 2 * base[i];
        if (hi > 30) {
            /* capped: within [d, cap] */
            if (!(w >= base[i] && w <= 30)) fail_msg("step %zu: %.6f", i, w);
        } else {
            assert_in(w, base[i], hi);
        }
        assert_close(b.last_fail_s, now);
        now += 1; /* well within reset_after */
    }
    assert_close(b.cur_s, 30);
}

static void test_deterministic_seed(void **state) {
    (void)state;
    ww_backoff a, b, c;
    ww_backoff_init(&a, 0.8, 30, 120, 7);
    ww_backoff_init(&b, 0.8, 30, 120, 7);
    ww_backoff_init(&c, 0.8, 30, 120, 8);
    int differs = 0;
    for (int i = 0; i < 5; i++) {
        double wa = ww_backoff_next(&a, 10 + i), wb = ww_backoff_next(&b, 10 + i), wc = ww_backoff_next(&c, 10 + i);
        assert_true(wa == wb);
        differs |= wa != wc;
    }
    assert_true(differs);
}

static void test_jitter_spread(void **state) {
    (void)state;
    /* over many first delays the jitter covers most of [d, 2d) */
    double lo = 1e9, hi = 0, sum = 0;
    const int N = 2000;
    for (int i = 0; i < N; i++) {
        ww_backoff b;
        ww_backoff_init(&b, 0.8, 30, 120, (uint64_t)i + 1);
        double w = ww_backoff_next(&b, 5);
        assert_in(w, 0.8, 1.6);
        if (w < lo) lo = w;
        if (w > hi) hi = w;
        sum += w;
    }
    assert_true(lo < 0.85);
    assert_true(hi > 1.55);
    double mean = sum / N;
    assert_true(mean > 1.1 && mean < 1.3);

    uint64_t st = 99;
    double s = 0;
    for (int i = 0; i < 10000; i++) {
        double r = ww_rand01(&st);
        assert_in(r, 0, 1);
        s += r;
    }
    assert_true(s / 10000 > 0.45 && s / 10000 < 0.55);
}

static void test_zero_seed(void **state) {
    (void)state;
    ww_backoff b;
    ww_backoff_init(&b, 1, 10, 60, 0);
    assert_true(b.rng != 0); /* xorshift would be stuck at 0 */
    double r1 = ww_rand01(&b.rng), r2 = ww_rand01(&b.rng);
    assert_true(r1 != r2);
}

static void test_small_cap(void **state) {
    (void)state;
    ww_backoff b;
    ww_backoff_init(&b, 1, 5, 60, 3);
    const double base[] = {1, 2, 4, 5, 5};
    for (size_t i = 0; i < 5; i++) {
        assert_close(b.cur_s, base[i]);
        double w = ww_backoff_next(&b, 100 + (double)i);
        assert_true(w >= base[i] && w <= 5);
        if (base[i] == 5) assert_close(w, 5);
    }
}

static void test_reset_after_quiet(void **state) {
    (void)state;
    ww_backoff b;
    ww_backoff_init(&b, 0.8, 30, 120, 11);
    ww_backoff_next(&b, 200);
    ww_backoff_next(&b, 201);
    ww_backoff_next(&b, 202);
    assert_close(b.cur_s, 6.4);
    /* 119.5 s since the last failure: no reset, the delay keeps growing */
    double w = ww_backoff_next(&b, 321.5);
    assert_in(w, 6.4, 12.8);
    assert_close(b.cur_s, 12.8);
    /* exactly reset_after since the last failure: back to the start */
    w = ww_backoff_next(&b, 441.5);
    assert_in(w, 0.8, 1.6);
    assert_close(b.cur_s, 1.6);
    /* and it grows again from there */
    w = ww_backoff_next(&b, 442);
    assert_in(w, 1.6, 3.2);
    /* a much longer quiet period also resets */
    ww_backoff_next(&b, 443);
    ww_backoff_next(&b, 444);
    w = ww_backoff_next(&b, 10000);
    assert_in(w, 0.8, 1.6);
    assert_close(b.last_fail_s, 10000);
}

static void test_no_reset_while_failing(void **state) {
    (void)state;
    /* failures every 100 s never let it reset (reset_after 120) */
    ww_backoff b;
    ww_backoff_init(&b, 0.8, 30, 120, 5);
    double now = 50;
    for (int i = 0; i < 10; i++, now += 100) ww_backoff_next(&b, now);
    assert_close(b.cur_s, 30);
    double w = ww_backoff_next(&b, now);
    assert_close(w, 30);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubling_and_jitter),
        cmocka_unit_test(test_deterministic_seed),
        cmocka_unit_test(test_jitter_spread),
        cmocka_unit_test(test_zero_seed),
        cmocka_unit_test(test_small_cap),
        cmocka_unit_test(test_reset_after_quiet),
        cmocka_unit_test(test_no_reset_while_failing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
