/* test_pipeline.c - the delivery contract, with a scripted sink and a
 * scripted store: per-object order whatever the sink answers, ordered
 * commits, the open-snapshot marker before a relist publishes, and the
 * first save's timing after a start from a checkpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pipeline.h"
#include "track/checkpoint.h"

static struct {
    int saves;
    ww_buf blob;    /* the last save */
    ww_buf journal; /* appended since */
    int marker_before_first_message; /* the journal held a marker when the first message went out */
} g_store;

/* ---- the scripted sink ---- */
#define MAX_CALLS 64
#define MAX_PER_CALL 32

typedef struct {
    size_t n;
    char ids[MAX_PER_CALL][64];
    char keys[MAX_PER_CALL][64];
} call;

static struct {
    call calls[MAX_CALLS];
    size_t n_calls;
    char retry_once[8][64]; /* ids answered "retry" the first time they are offered */
    int retried[8];
    size_t n_retry;
} g_sink;

static ww_rc ss_open(const char *url, void **state, char *err, size_t errsz) {
    (void)url, (void)err, (void)errsz;
    *state = &g_sink;
    return WW_OK;
}

static ww_rc ss_publish(void *state, const ww_msg *m, size_t n, ww_ack *acks) {
    (void)state;
    assert_true(g_sink.n_calls < MAX_CALLS);
    if (!g_sink.n_calls)
        g_store.marker_before_first_message = g_store.journal.len && strstr(g_store.journal.p, "#relist") != NULL;
    call *c = &g_sink.calls[g_sink.n_calls++];
    c->n = n;
    ww_rc rc = WW_OK;
    for (size_t i = 0; i < n; i++) {
        snprintf(c->ids[i], sizeof c->ids[i], "%s", m[i].id);
        snprintf(c->keys[i], sizeof c->keys[i], "%s", m[i].key ? m[i].key : "");
        acks[i] = WW_ACK_OK;
        for (size_t r = 0; r < g_sink.n_retry; r++)
            if (!strcmp(g_sink.retry_once[r], m[i].id) && !g_sink.retried[r]) {
                g_sink.retried[r] = 1;
                acks[i] = WW_ACK_RETRY;
                rc = WW_RETRY;
            }
    }
    return rc;
}

static ww_rc ss_flush(void *state) {
    (void)state;
    return WW_OK;
}
static void ss_close(void *state) { (void)state; }

/* acknowledges per message, in any combination, like SQS or Kafka */
static const ww_sink_type scripted_sink = {"scripted", ss_open, ss_publish, ss_flush, ss_close, NULL, 0};

/* ---- the scripted store ---- */

static ww_rc st_open(const char *url, const ww_store_env *env, void **state, char *err, size_t errsz) {
    (void)url, (void)env, (void)err, (void)errsz;
    *state = &g_store;
    return WW_OK;
}
static ww_rc st_load(void *state, ww_buf *out, char *err, size_t errsz) {
    (void)state, (void)out, (void)err, (void)errsz;
    return WW_ENOENT;
}
static ww_rc st_save(void *state, const char *data, size_t n, char *err, size_t errsz) {
    (void)state, (void)err, (void)errsz;
    g_store.saves++;
    ww_buf_reset(&g_store.blob);
    ww_buf_reset(&g_store.journal);
    return ww_buf_append(&g_store.blob, data, n);
}
static void st_close(void *state) { (void)state; }
static ww_rc st_journal_append(void *state, const char *data, size_t n, char *err, size_t errsz) {
    (void)state, (void)err, (void)errsz;
    return ww_buf_append(&g_store.journal, data, n);
}
static ww_rc st_journal_load(void *state, ww_buf *out, char *err, size_t errsz) {
    (void)state, (void)err, (void)errsz;
    return ww_buf_append(out, g_store.journal.p, g_store.journal.len);
}
static const ww_store_type scripted_store = {"scripted",         st_open,          st_load, st_save, st_close,
                                             st_journal_append, st_journal_load};

/* ---- helpers ---- */
static ww_sink g_ww_sink = {&scripted_sink, &g_sink};
static ww_store g_ww_store = {&scripted_store, &g_store, "scripted://"};
static ww_stop_flag g_stop;

static char *wf(const char *uid, const char *rv) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 512,
             "{\"apiVersion\":\"argoproj.io/v1alpha1\",\"kind\":\"Workflow\",\"metadata\":{\"name\":\"w-%s\","
             "\"namespace\":\"ns\",\"uid\":\"%s\",\"resourceVersion\":\"%s\"}}",
             uid, uid, rv);
    return b;
}

static void push(ww_queue *q, ww_delta_type type, const char *uid, const char *rv) {
    ww_objmeta m;
    char line[1024];
    ww_delta d = {.type = type};
    if (uid) {
        const char *o = wf(uid, rv);
        ww_span obj = {o, strlen(o)};
        assert_int_equal(ww_objmeta_read(obj, &m), WW_OK);
        d.meta = &m;
        d.object = obj;
        if (type <= WW_DELTA_DELETED) {
            const char *t = type == WW_DELTA_ADDED ? "ADDED" : type == WW_DELTA_MODIFIED ? "MODIFIED" : "DELETED";
            int n = snprintf(line, sizeof line, "{\"type\":\"%s\",\"object\":%s}", t, o);
            d.line = (ww_span){line, (size_t)n};
            d.object = (ww_span){strstr(line, "\"object\":") + 9, obj.n};
        }
    }
    d.rv = rv;
    assert_int_equal(ww_pipeline_enqueue(q, 0, &d, &g_stop), WW_OK);
}

static void reset_doubles(void) {
    memset(&g_sink, 0, sizeof g_sink);
    ww_buf_free(&g_store.blob);
    ww_buf_free(&g_store.journal);
    memset(&g_store, 0, sizeof g_store);
    ww_buf_init(&g_store.blob, 1 << 24);
    ww_buf_init(&g_store.journal, 1 << 24);
    g_stop = 0;
}

static ww_pipeline_opts opts(void) {
    ww_pipeline_opts o = {.batch_messages = 100,
                          .batch_bytes = 1 << 20,
                          .linger_s = 10, /* batches end on the queue's close, not on time */
                          .max_message = 1 << 16,
                          .save_interval_s = 1000,
                          .save_changes = 1000000,
                          .grace_s = 10,
                          .ident = {"https://k", "argoproj.io/v1alpha1/workflows", NULL, NULL}};
    return o;
}

/* Runs the pipeline over what was pushed, then the queue's close. */
static void run(ww_tracker *t, ww_queue *q, const ww_pipeline_opts *o) {
    ww_pipeline *p = NULL;
    char err[256];
    ww_queue_close(q);
    assert_int_equal(ww_pipeline_new(o, t, &g_ww_sink, &g_ww_store, q, &g_stop, &p, err, sizeof err), WW_OK);
    assert_int_equal(ww_pipeline_run(p), WW_OK);
    ww_pipeline_free(p);
}

/* Fresh doubles, an empty queue and a tracker of namespaces ns (n == 0:
 * all) whose first stream is at rv ("" or NULL: none yet). */
static void fresh(ww_queue *q, ww_tracker *t, char *const *ns, size_t n, const char *rv, int listed) {
    reset_doubles();
    ww_queue_init(q, 1 << 24);
    assert_int_equal(ww_tracker_init(t, ns, n, NULL, NULL), WW_OK);
    snprintf(t->streams[0].rv, sizeof t->streams[0].rv, "%s", rv ? rv : "");
    t->streams[0].listed = listed;
}

static void finish(ww_tracker *t, ww_queue *q) {
    ww_tracker_free(t);
    ww_queue_destroy(q);
}

/* Where (call, position) id was first sent; -1 if never. */
static int first_call(const char *id) {
    for (size_t c = 0; c < g_sink.n_calls; c++)
        for (size_t i = 0; i < g_sink.calls[c].n; i++)
            if (!strcmp(g_sink.calls[c].ids[i], id)) return (int)c;
    return -1;
}

/* ---- tests ---- */

/* The review's case: the sink answers retry for X@1 and would acknowledge
 * X@2 of the same call, putting X@2 at the broker before X@1. Now X@2 is
 * not offered before X@1 is acknowledged, no call holds two messages of one
 * key, and nothing acknowledged is sent again. */
static void test_per_object_order_whatever_the_sink_answers(void **state) {
    (void)state;
    ww_queue q;
    ww_tracker t;
    fresh(&q, &t, NULL, 0, "1", 1);
    push(&q, WW_DELTA_ADDED, "x", "2");
    push(&q, WW_DELTA_ADDED, "y", "3");
    push(&q, WW_DELTA_MODIFIED, "x", "4");
    push(&q, WW_DELTA_MODIFIED, "y", "5");
    push(&q, WW_DELTA_MODIFIED, "x", "6");
    snprintf(g_sink.retry_once[0], 64, "x/2");
    g_sink.n_retry = 1;
    ww_pipeline_opts o = opts();
    run(&t, &q, &o);
    for (size_t c = 0; c < g_sink.n_calls; c++)
        for (size_t i = 0; i < g_sink.calls[c].n; i++)
            for (size_t j = i + 1; j < g_sink.calls[c].n; j++)
                assert_string_not_equal(g_sink.calls[c].keys[i], g_sink.calls[c].keys[j]);
    /* x/4 only after the call in which x/2 was acknowledged (the second) */
    assert_int_equal(first_call("x/2"), 0);
    assert_true(first_call("x/4") > 1);
    assert_true(first_call("x/6") > first_call("x/4"));
    assert_true(first_call("y/5") > first_call("y/3"));
    /* every message once acknowledged, y/3 not sent again after x/2's retry */
    int y3 = 0;
    for (size_t c = 0; c < g_sink.n_calls; c++)
        for (size_t i = 0; i < g_sink.calls[c].n; i++) y3 += !strcmp(g_sink.calls[c].ids[i], "y/3");
    assert_int_equal(y3, 1);
    assert_string_equal(t.streams[0].rv, "6");
    finish(&t, &q);
}

/* The review's first scenario: a relist without 410 over stream RV 100;
 * what it publishes (recovered changes newer than the history after 100)
 * must never be followed, after a crash, by a watch from 100 replaying
 * older states. So the journal holds the stream's "#relist" marker before
 * the snapshot's first message goes out, a save while the snapshot is open
 * says "relist", and either one makes a restart list instead of watch. */
static void test_open_snapshot_is_durable_before_it_publishes(void **state) {
    (void)state;
    char *ns[] = {"ns"};
    ww_pipeline_opts o = opts();
    char err[256];
    for (int ended = 0; ended < 2; ended++) {
        ww_queue q;
        ww_tracker t;
        fresh(&q, &t, ns, 1, "100", 1);
        t.loaded_written = (long long)time(NULL);
        assert_int_equal(ww_index_put(&t.index, "u1", "ns", "w-u1", "90", 0, 0, 0), WW_OK);
        push(&q, WW_DELTA_SNAPSHOT_BEGIN, NULL, NULL);
        push(&q, WW_DELTA_SNAPSHOT_ITEM, "u2", "125");
        if (ended) push(&q, WW_DELTA_SNAPSHOT_END, NULL, "130");
        run(&t, &q, &o);
        assert_true(g_store.marker_before_first_message);
        ww_tracker t2;
        assert_int_equal(ww_tracker_init(&t2, ns, 1, NULL, NULL), WW_OK);
        assert_int_equal(ww_checkpoint_read(&t2, &o.ident, g_store.blob.p, g_store.blob.len, err, sizeof err), WW_OK);
        if (!ended) {
            /* the final save came while the snapshot was open */
            assert_non_null(strstr(g_store.blob.p, "\"relist\":true"));
            assert_string_equal(t2.streams[0].rv, "");
        } else {
            assert_null(strstr(g_store.blob.p, "\"relist\""));
            assert_string_equal(t2.streams[0].rv, "130");
            assert_null(ww_index_get(&t2.index, "u1")); /* its recovered DELETED was committed */
        }
        assert_true(t2.streams[0].listed);
        ww_tracker_free(&t2);
        ww_tracker_free(&t);
        ww_queue_destroy(&q);
    }
    /* a crash before any save: the journal alone relists */
    ww_tracker t3;
    assert_int_equal(ww_tracker_init(&t3, ns, 1, NULL, NULL), WW_OK);
    snprintf(t3.streams[0].rv, sizeof t3.streams[0].rv, "100");
    ww_buf j;
    ww_buf_init(&j, 1 << 16);
    assert_int_equal(ww_checkpoint_journal_open_marker(&t3, 0, &j), WW_OK);
    size_t applied, damaged;
    assert_int_equal(ww_checkpoint_read_journal(&t3, j.p, j.len, &applied, &damaged), WW_OK);
    assert_int_equal(damaged, 0);
    assert_string_equal(t3.streams[0].rv, "");
    assert_true(t3.streams[0].listed);
    ww_buf_free(&j);
    ww_tracker_free(&t3);
}

/* The first save after a start from a checkpoint counts from that
 * checkpoint's save, not from the start (duplicates after a kill are bounded
 * by one interval, not two). */
static void test_first_save_counts_from_the_loaded_checkpoint(void **state) {
    (void)state;
    ww_queue q;
    ww_tracker t;
    fresh(&q, &t, NULL, 0, "1", 1);
    t.loaded_written = (long long)time(NULL) - 2000; /* older than the interval */
    push(&q, WW_DELTA_ADDED, "x", "2");
    push(&q, WW_DELTA_BOOKMARK, NULL, "3");
    ww_pipeline_opts o = opts(); /* interval 1000 s */
    o.linger_s = 0;
    run(&t, &q, &o);
    /* one save when the first batch was committed, one at the end */
    assert_int_equal(g_store.saves, 2);
    finish(&t, &q);

    fresh(&q, &t, NULL, 0, "1", 0);
    t.loaded_written = (long long)time(NULL); /* just saved: only the final save */
    push(&q, WW_DELTA_ADDED, "x", "2");
    push(&q, WW_DELTA_BOOKMARK, NULL, "3");
    run(&t, &q, &o);
    assert_int_equal(g_store.saves, 1);
    finish(&t, &q);
}

/* A stream's first complete list is saved at once, whatever the interval:
 * a restart before that save would list again as if for the first time. */
static void test_first_complete_list_is_saved_at_once(void **state) {
    (void)state;
    ww_queue q;
    ww_tracker t;
    fresh(&q, &t, NULL, 0, NULL, 0);
    t.loaded_written = (long long)time(NULL); /* the interval (1000 s) is not due */
    push(&q, WW_DELTA_SNAPSHOT_BEGIN, NULL, NULL);
    push(&q, WW_DELTA_SNAPSHOT_ITEM, "x", "2");
    push(&q, WW_DELTA_SNAPSHOT_END, NULL, "3");
    push(&q, WW_DELTA_ADDED, "y", "4");
    ww_pipeline_opts o = opts();
    o.linger_s = 0;
    run(&t, &q, &o);
    assert_int_equal(g_store.saves, 2); /* at the list's end, and the final one */
    finish(&t, &q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_per_object_order_whatever_the_sink_answers),
        cmocka_unit_test(test_open_snapshot_is_durable_before_it_publishes),
        cmocka_unit_test(test_first_save_counts_from_the_loaded_checkpoint),
        cmocka_unit_test(test_first_complete_list_is_saved_at_once),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    ww_buf_free(&g_store.blob);
    ww_buf_free(&g_store.journal);
    return rc;
}
