/* test_queue.c - the byte-bounded many-producer, one-consumer queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/queue.h"

typedef struct {
    ww_qitem q; /* first: ww_queue_destroy frees items with free() */
    int val;
} item;

static item *mk(int val, size_t size) {
    item *it = calloc(1, sizeof *it);
    assert_non_null(it);
    it->q.size = size;
    it->val = val;
    return it;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(void) {
    struct timespec ts = {0, 1000000}; /* 1 ms, only between polls of a condition */
    nanosleep(&ts, NULL);
}

static unsigned long waits_of(ww_queue *q) {
    pthread_mutex_lock(&q->mu);
    unsigned long w = q->waits;
    pthread_mutex_unlock(&q->mu);
    return w;
}

/* Polls until the queue has counted `n` waiting pushes: the producer is then
 * inside push()'s wait loop. Fails after 5 s. */
static void await_waits(ww_queue *q, unsigned long n) {
    double end = now_s() + 5;
    while (waits_of(q) < n) {
        assert_true(now_s() < end);
        nap();
    }
}

static int pop_val(ww_queue *q, double timeout) {
    item *it = (item *)ww_queue_pop(q, timeout);
    assert_non_null(it);
    int v = it->val;
    free(it);
    return v;
}

/* A producer thread pushing one item. */
typedef struct {
    ww_queue *q;
    item *it;
    ww_stop_flag *stop;
    ww_rc rc;
    atomic_int done;
} pusher;

static void *push_thread(void *arg) {
    pusher *p = arg;
    p->rc = ww_queue_push(p->q, &p->it->q, p->stop);
    atomic_store(&p->done, 1);
    return NULL;
}

static void start_push(pthread_t *th, pusher *p, ww_queue *q, item *it, ww_stop_flag *stop) {
    p->q = q;
    p->it = it;
    p->stop = stop;
    p->rc = WW_AGAIN;
    atomic_store(&p->done, 0);
    assert_int_equal(pthread_create(th, NULL, push_thread, p), 0);
}

static void test_fifo(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 1000);
    for (int i = 0; i < 10; i++) assert_int_equal(ww_queue_push(&q, &mk(i, 10)->q, NULL), WW_OK);
    assert_int_equal(q.count, 10);
    assert_int_equal(q.bytes, 100);
    for (int i = 0; i < 5; i++) assert_int_equal(pop_val(&q, 0), i);
    assert_int_equal(q.bytes, 50);
    /* interleaved pushes go behind what is queued */
    assert_int_equal(ww_queue_push(&q, &mk(10, 10)->q, NULL), WW_OK);
    for (int i = 5; i <= 10; i++) assert_int_equal(pop_val(&q, 0), i);
    assert_int_equal(q.count, 0);
    assert_int_equal(q.bytes, 0);
    assert_null(ww_queue_pop(&q, 0));
    /* empty again: head and tail were reset, a new push is the only item */
    assert_int_equal(ww_queue_push(&q, &mk(11, 1)->q, NULL), WW_OK);
    assert_int_equal(pop_val(&q, 0), 11);
    assert_int_equal(q.waits, 0);
    ww_queue_destroy(&q);
}

static void test_destroy_frees_queued(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 1000);
    for (int i = 0; i < 3; i++) assert_int_equal(ww_queue_push(&q, &mk(i, 1)->q, NULL), WW_OK);
    ww_queue_destroy(&q); /* LeakSanitizer checks the items were freed */
}

static void test_bound_blocks_producer(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 100);
    assert_int_equal(ww_queue_push(&q, &mk(1, 60)->q, NULL), WW_OK);
    assert_int_equal(ww_queue_push(&q, &mk(2, 40)->q, NULL), WW_OK); /* exactly up to the cap */
    assert_int_equal(q.waits, 0);

    pthread_t th;
    pusher p;
    start_push(&th, &p, &q, mk(3, 30), NULL); /* 100 + 30 > 100: must wait */
    await_waits(&q, 1);
    assert_int_equal(atomic_load(&p.done), 0);
    assert_int_equal(q.count, 2);

    /* popping 60 bytes makes room: 40 + 30 <= 100 */
    assert_int_equal(pop_val(&q, 0), 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.rc, WW_OK);
    assert_int_equal(q.count, 2);
    assert_int_equal(q.bytes, 70);
    assert_int_equal(q.waits, 1);
    assert_int_equal(q.peak_bytes, 100);
    assert_int_equal(pop_val(&q, 0), 2);
    assert_int_equal(pop_val(&q, 0), 3);
    ww_queue_destroy(&q);
}

static void test_blocked_until_enough_room(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 100);
    for (int i = 0; i < 4; i++) assert_int_equal(ww_queue_push(&q, &mk(i, 25)->q, NULL), WW_OK);
    pthread_t th;
    pusher p;
    start_push(&th, &p, &q, mk(9, 50), NULL);
    await_waits(&q, 1);
    /* 25 bytes of room are not enough for 50: still blocked */
    assert_int_equal(pop_val(&q, 0), 0);
    double end = now_s() + 0.3; /* longer than push's 0.2 s re-check */
    while (now_s() < end) {
        assert_int_equal(atomic_load(&p.done), 0);
        nap();
    }
    assert_int_equal(q.waits, 1); /* one push counted once, however often it woke */
    assert_int_equal(pop_val(&q, 0), 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.rc, WW_OK);
    assert_int_equal(pop_val(&q, 0), 2);
    assert_int_equal(pop_val(&q, 0), 3);
    assert_int_equal(pop_val(&q, 0), 9);
    ww_queue_destroy(&q);
}

static void test_oversized_item_when_empty(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 10);
    /* larger than the cap but the queue is empty: taken at once */
    assert_int_equal(ww_queue_push(&q, &mk(1, 50)->q, NULL), WW_OK);
    assert_int_equal(q.waits, 0);
    assert_int_equal(q.bytes, 50);
    assert_int_equal(q.peak_bytes, 50);

    /* anything behind it waits until it is gone */
    pthread_t th;
    pusher p;
    start_push(&th, &p, &q, mk(2, 1), NULL);
    await_waits(&q, 1);
    assert_int_equal(atomic_load(&p.done), 0);
    assert_int_equal(pop_val(&q, 0), 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.rc, WW_OK);
    assert_int_equal(pop_val(&q, 0), 2);

    /* a second oversized item also waits for an empty queue */
    assert_int_equal(ww_queue_push(&q, &mk(3, 5)->q, NULL), WW_OK);
    start_push(&th, &p, &q, mk(4, 500), NULL);
    await_waits(&q, 2);
    assert_int_equal(atomic_load(&p.done), 0);
    assert_int_equal(pop_val(&q, 0), 3);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.rc, WW_OK);
    assert_int_equal(q.peak_bytes, 500);
    assert_int_equal(pop_val(&q, 0), 4);
    ww_queue_destroy(&q);
}

static void test_push_after_close(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 100);
    ww_queue_close(&q);
    item *it = mk(1, 1);
    assert_int_equal(ww_queue_push(&q, &it->q, NULL), WW_ESTOP);
    assert_int_equal(q.count, 0);
    assert_null(ww_queue_pop(&q, 0));
    free(it); /* not taken: still ours */
    ww_queue_destroy(&q);
}

static void test_push_with_stop_set(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 100);
    ww_stop_flag stop = 1;
    item *it = mk(1, 1);
    assert_int_equal(ww_queue_push(&q, &it->q, &stop), WW_ESTOP);
    assert_int_equal(q.count, 0);
    stop = 0;
    assert_int_equal(ww_queue_push(&q, &it->q, &stop), WW_OK);
    assert_int_equal(pop_val(&q, 0), 1);
    ww_queue_destroy(&q);
}

static void test_stop_while_blocked(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 10);
    assert_int_equal(ww_queue_push(&q, &mk(1, 10)->q, NULL), WW_OK);
    ww_stop_flag stop = 0;
    pthread_t th;
    pusher p;
    item *it = mk(2, 5);
    start_push(&th, &p, &q, it, &stop);
    await_waits(&q, 1);
    assert_int_equal(atomic_load(&p.done), 0);
    /* set as a signal handler would: no broadcast, push must notice on its own */
    stop = 1;
    double t0 = now_s();
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(now_s() - t0 < 2.0);
    assert_int_equal(p.rc, WW_ESTOP);
    assert_int_equal(q.count, 1);
    assert_int_equal(q.bytes, 10);
    free(it);
    assert_int_equal(pop_val(&q, 0), 1);
    ww_queue_destroy(&q);
}

static void test_close_while_blocked(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 10);
    assert_int_equal(ww_queue_push(&q, &mk(1, 10)->q, NULL), WW_OK);
    pthread_t th;
    pusher p;
    item *it = mk(2, 5);
    start_push(&th, &p, &q, it, NULL);
    await_waits(&q, 1);
    ww_queue_close(&q);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.rc, WW_ESTOP);
    free(it);
    /* what was queued before the close is still delivered */
    assert_int_equal(pop_val(&q, 0), 1);
    assert_null(ww_queue_pop(&q, 0));
    ww_queue_destroy(&q);
}

static void test_pop_timeout(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 100);
    double t0 = now_s();
    assert_null(ww_queue_pop(&q, 0));
    assert_null(ww_queue_pop(&q, -1));
    assert_true(now_s() - t0 < 0.1);
    t0 = now_s();
    assert_null(ww_queue_pop(&q, 0.15));
    double dt = now_s() - t0;
    assert_true(dt >= 0.14);
    assert_true(dt < 3.0);
    /* a fractional timeout above one second is honoured too */
    t0 = now_s();
    assert_null(ww_queue_pop(&q, 1.1));
    dt = now_s() - t0;
    assert_true(dt >= 1.09);
    assert_true(dt < 4.0);
    ww_queue_destroy(&q);
}

static void test_pop_wakes_on_push(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 100);
    pthread_t th;
    pusher p;
    start_push(&th, &p, &q, mk(7, 1), NULL);
    double t0 = now_s();
    assert_int_equal(pop_val(&q, 10), 7); /* waits for the producer, not for the timeout */
    assert_true(now_s() - t0 < 5);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(p.rc, WW_OK);
    ww_queue_destroy(&q);
}

/* A consumer blocked in pop() is woken by close(). */
static void *pop_thread(void *arg) {
    ww_queue *q = arg;
    return ww_queue_pop(q, 30);
}

static void test_close_wakes_pop(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 100);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pop_thread, &q), 0);
    /* pop() does not count anything: give it a moment, then close; it must
     * return well before its 30 s timeout either way */
    struct timespec ts = {0, 50000000};
    nanosleep(&ts, NULL);
    double t0 = now_s();
    ww_queue_close(&q);
    void *r = (void *)1;
    assert_int_equal(pthread_join(th, &r), 0);
    assert_null(r);
    assert_true(now_s() - t0 < 5);
    ww_queue_destroy(&q);
}

static void test_drain_after_close(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 100);
    for (int i = 0; i < 3; i++) assert_int_equal(ww_queue_push(&q, &mk(i, 1)->q, NULL), WW_OK);
    ww_queue_close(&q);
    assert_int_equal(ww_queue_finished(&q), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(pop_val(&q, 5), i);
    assert_int_equal(ww_queue_finished(&q), 1);
    double t0 = now_s();
    assert_null(ww_queue_pop(&q, 5)); /* at once, not after 5 s */
    assert_true(now_s() - t0 < 1);
    ww_queue_destroy(&q);
}

static void test_counters(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 100);
    assert_int_equal(q.peak_bytes, 0);
    assert_int_equal(q.waits, 0);
    assert_int_equal(ww_queue_push(&q, &mk(1, 30)->q, NULL), WW_OK);
    assert_int_equal(ww_queue_push(&q, &mk(2, 50)->q, NULL), WW_OK);
    assert_int_equal(q.peak_bytes, 80);
    assert_int_equal(pop_val(&q, 0), 1);
    assert_int_equal(ww_queue_push(&q, &mk(3, 20)->q, NULL), WW_OK);
    assert_int_equal(q.bytes, 70);
    assert_int_equal(q.peak_bytes, 80); /* a high-water mark: does not go down */
    assert_int_equal(ww_queue_push(&q, &mk(4, 30)->q, NULL), WW_OK);
    assert_int_equal(q.peak_bytes, 100);
    assert_int_equal(q.waits, 0);
    /* two pushes that wait: two waits (each fits once one item is popped) */
    static const size_t sizes[] = {0, 50, 20};
    for (unsigned long k = 1; k <= 2; k++) {
        pthread_t th;
        pusher p;
        start_push(&th, &p, &q, mk(10 + (int)k, sizes[k]), NULL);
        await_waits(&q, k);
        assert_int_equal(pop_val(&q, 0), 1 + (int)k);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(p.rc, WW_OK);
    }
    assert_int_equal(q.waits, 2);
    assert_int_equal(q.peak_bytes, 100);
    ww_queue_destroy(&q);
}

/* Several producers through a small queue: every item arrives once, in
 * each producer's order, and the byte bound is never passed. */
#define PRODUCERS 4
#define PER_PRODUCER 2000

typedef struct {
    ww_queue *q;
    int id;
    ww_rc rc;
} producer;

static void *produce(void *arg) {
    producer *p = arg;
    p->rc = WW_OK;
    for (int i = 0; i < PER_PRODUCER && !p->rc; i++) {
        item *it = mk(p->id * PER_PRODUCER + i, 1 + (size_t)(i % 7));
        p->rc = ww_queue_push(p->q, &it->q, NULL);
        if (p->rc) free(it);
    }
    return NULL;
}

static void test_many_producers(void **state) {
    (void)state;
    ww_queue q;
    ww_queue_init(&q, 16);
    pthread_t th[PRODUCERS];
    producer pr[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        pr[i] = (producer){.q = &q, .id = i, .rc = WW_AGAIN};
        assert_int_equal(pthread_create(&th[i], NULL, produce, &pr[i]), 0);
    }
    int next[PRODUCERS] = {0};
    for (int n = 0; n < PRODUCERS * PER_PRODUCER; n++) {
        int v = pop_val(&q, 10);
        int who = v / PER_PRODUCER, seq = v % PER_PRODUCER;
        assert_true(who >= 0 && who < PRODUCERS);
        assert_int_equal(seq, next[who]);
        next[who]++;
    }
    for (int i = 0; i < PRODUCERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(pr[i].rc, WW_OK);
        assert_int_equal(next[i], PER_PRODUCER);
    }
    assert_null(ww_queue_pop(&q, 0));
    assert_true(q.peak_bytes <= 16);
    ww_queue_destroy(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_destroy_frees_queued),
        cmocka_unit_test(test_bound_blocks_producer),
        cmocka_unit_test(test_blocked_until_enough_room),
        cmocka_unit_test(test_oversized_item_when_empty),
        cmocka_unit_test(test_push_after_close),
        cmocka_unit_test(test_push_with_stop_set),
        cmocka_unit_test(test_stop_while_blocked),
        cmocka_unit_test(test_close_while_blocked),
        cmocka_unit_test(test_pop_timeout),
        cmocka_unit_test(test_pop_wakes_on_push),
        cmocka_unit_test(test_close_wakes_pop),
        cmocka_unit_test(test_drain_after_close),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_many_producers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
