/* backoff.h - client-go's reflector backoff: 0.8 s doubling, jitter 1.0
 * (a delay d becomes uniform in [d, 2d)), capped at 30 s, and reset after
 * 2 minutes without failure. */
#ifndef WW_BACKOFF_H
#define WW_BACKOFF_H

#include <stdint.h>
#include "core/rc.h"

typedef struct {
    double initial_s;
    double cap_s;
    double reset_after_s;
    double cur_s;       /* next base delay */
    double last_fail_s; /* monotonic time of the last failure, 0 if none */
    uint64_t rng;
} ww_backoff;

void ww_backoff_init(ww_backoff *b, double initial_s, double cap_s, double reset_after_s, uint64_t seed);
/* Records a failure at monotonic time now_s and returns how long to wait. */
double ww_backoff_next(ww_backoff *b, double now_s);
/* Uniform double in [0,1) from the backoff's generator. */
double ww_rand01(uint64_t *state);

/* Monotonic seconds. */
double ww_now(void);
/* Sleeps up to s seconds, waking early (returning 1) once *stop is set. */
int ww_sleep_unless(double s, ww_stop_flag *stop);

#endif
