/* queue.c - mutex + two condition variables around a singly linked list. */
#include "core/queue.h"

#include <stdlib.h>
#include <time.h>

void ww_queue_init(ww_queue *q, size_t max_bytes) {
    q->head = q->tail = NULL;
    q->bytes = q->count = q->peak_bytes = 0;
    q->waits = 0;
    q->max = max_bytes;
    q->closed = 0;
    pthread_mutex_init(&q->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_full, &ca);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_condattr_destroy(&ca);
}

void ww_queue_destroy(ww_queue *q) {
    while (q->head) {
        ww_qitem *n = q->head->next;
        free(q->head);
        q->head = n;
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
}

static struct timespec deadline(double s) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long ns = ts.tv_nsec + (long)((s - (double)(long)s) * 1e9);
    ts.tv_sec += (time_t)s + ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    return ts;
}

ww_rc ww_queue_push(ww_queue *q, ww_qitem *it, ww_stop_flag *stop) {
    pthread_mutex_lock(&q->mu);
    int waited = 0;
    while (!q->closed && !(stop && *stop) && q->count > 0 && q->bytes + it->size > q->max) {
        if (!waited) q->waits++;
        waited = 1;
        struct timespec ts = deadline(0.2); /* re-check *stop, which a signal handler sets */
        pthread_cond_timedwait(&q->not_full, &q->mu, &ts);
    }
    if (q->closed || (stop && *stop)) {
        pthread_mutex_unlock(&q->mu);
        return WW_ESTOP;
    }
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->bytes += it->size;
    q->count++;
    if (q->bytes > q->peak_bytes) q->peak_bytes = q->bytes;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return WW_OK;
}

ww_qitem *ww_queue_pop(ww_queue *q, double timeout_s) {
    pthread_mutex_lock(&q->mu);
    if (!q->head && !q->closed && timeout_s > 0) {
        struct timespec ts = deadline(timeout_s);
        while (!q->head && !q->closed)
            if (pthread_cond_timedwait(&q->not_empty, &q->mu, &ts)) break;
    }
    ww_qitem *it = q->head;
    if (it) {
        q->head = it->next;
        if (!q->head) q->tail = NULL;
        q->bytes -= it->size;
        q->count--;
        pthread_cond_broadcast(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
    return it;
}

void ww_queue_close(ww_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_full);
    pthread_cond_broadcast(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
}

int ww_queue_finished(ww_queue *q) {
    pthread_mutex_lock(&q->mu);
    int f = q->closed && !q->head;
    pthread_mutex_unlock(&q->mu);
    return f;
}
