/* backoff.c - exponential backoff with jitter, and monotonic time. */
#include "core/backoff.h"

#include <time.h>

void ww_backoff_init(ww_backoff *b, double initial_s, double cap_s, double reset_after_s, uint64_t seed) {
    b->initial_s = initial_s;
    b->cap_s = cap_s;
    b->reset_after_s = reset_after_s;
    b->cur_s = initial_s;
    b->last_fail_s = 0;
    b->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
}

double ww_rand01(uint64_t *s) {
    /* xorshift64*: enough for jitter, no shared state between threads. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

double ww_backoff_next(ww_backoff *b, double now_s) {
    if (b->last_fail_s > 0 && now_s - b->last_fail_s >= b->reset_after_s) b->cur_s = b->initial_s;
    b->last_fail_s = now_s;
    double d = b->cur_s;
    double wait = d + d * ww_rand01(&b->rng);
    if (wait > b->cap_s) wait = b->cap_s;
    b->cur_s = d * 2 > b->cap_s ? b->cap_s : d * 2;
    return wait;
}

double ww_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ww_sleep_unless(double s, ww_stop_flag *stop) {
    double until = ww_now() + s;
    while (!*stop) {
        double left = until - ww_now();
        if (left <= 0) return 0;
        if (left > 0.1) left = 0.1;
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        nanosleep(&ts, NULL);
    }
    return 1;
}
