/* queue.h - a byte-bounded hand-off between threads (many producers, one
 * consumer).
 *
 * push() blocks while the queued bytes plus the new item would pass the
 * cap, so a slow consumer slows the producers down instead of anything
 * being dropped. One item larger than the cap is still accepted when the
 * queue is empty, so a single large object never deadlocks. */
#ifndef WW_QUEUE_H
#define WW_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include "core/rc.h"

typedef struct ww_qitem {
    struct ww_qitem *next;
    size_t size; /* bytes charged against the cap */
} ww_qitem;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t not_full, not_empty;
    ww_qitem *head, *tail;
    size_t bytes, max, count;
    size_t peak_bytes;
    unsigned long waits; /* pushes that had to wait for room */
    int closed;
} ww_queue;

void ww_queue_init(ww_queue *q, size_t max_bytes);
/* Frees what is still queued (with free()) and the queue's locks. */
void ww_queue_destroy(ww_queue *q);
/* Appends it; blocks while full. WW_ESTOP (it not taken) once the queue is
 * closed or *stop is set. */
ww_rc ww_queue_push(ww_queue *q, ww_qitem *it, ww_stop_flag *stop);
/* Takes the oldest item, waiting up to timeout_s; NULL on timeout, or at
 * once when the queue is closed and empty. */
ww_qitem *ww_queue_pop(ww_queue *q, double timeout_s);
/* No more pushes; wakes everyone. Items already queued can still be popped. */
void ww_queue_close(ww_queue *q);
/* 1 when closed and empty. */
int ww_queue_finished(ww_queue *q);

#endif
