/* test_tracker.c - snapshot diffs, watch events and prepared state that is
 * applied only when committed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "track/checkpoint.h"
#include "track/status.h"
#include "track/tracker.h"

#define AV "argoproj.io/v1alpha1"

static ww_span S(const char *s) {
    ww_span v = {s, strlen(s)};
    return v;
}

/* Strings made by a test, freed at its end. */
static char *pool[512];
static size_t npool;

static char *keep(char *s) {
    assert_non_null(s);
    assert_true(npool < sizeof pool / sizeof *pool);
    pool[npool++] = s;
    return s;
}

static void pool_free(void) {
    while (npool) free(pool[--npool]);
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    assert_true(vasprintf(&s, f, ap) >= 0);
    va_end(ap);
    return keep(s);
}

/* A Workflow; ns NULL: cluster-scoped; phase NULL: no status. */
static const char *wf(const char *ns, const char *name, const char *uid, const char *rv, const char *phase) {
    char nsf[300] = "", st[300] = "";
    if (ns) snprintf(nsf, sizeof nsf, ",\"namespace\":\"%s\"", ns);
    if (phase)
        snprintf(st, sizeof st, ",\"status\":{\"phase\":\"%s\",\"nodes\":{\"%s-1\":{\"phase\":\"%s\"}}}", phase, name,
                 phase);
    return fmt("{\"apiVersion\":\"" AV "\",\"kind\":\"Workflow\",\"metadata\":{\"name\":\"%s\"%s,\"uid\":\"%s\","
               "\"resourceVersion\":\"%s\"},\"spec\":{}%s}",
               name, nsf, uid, rv, st);
}

/* What emit was called with. */
typedef struct {
    int has_change;
    ww_change_type type;
    int recovered;
    char id[512], uid[128], rv[64];
    char *line, *object; /* copies; NULL when empty */
    ww_commit op;
} rec;

typedef struct {
    ww_tracker *t;
    int commit_now; /* commit every change as it is emitted (an immediate ack) */
    ww_rc ret;      /* what emit returns */
    rec r[64];
    size_t n;
    size_t committed; /* r[0..committed) were committed */
} ctx;

static char *span_dup(ww_span s) { return s.n ? keep(strndup(s.p, s.n)) : NULL; }

static ww_rc on_change(void *ud, const ww_change *c, const ww_commit *op) {
    ctx *x = ud;
    assert_non_null(op);
    assert_true(x->n < sizeof x->r / sizeof *x->r);
    rec *r = &x->r[x->n++];
    memset(r, 0, sizeof *r);
    r->op = *op;
    if (c) {
        r->has_change = 1;
        r->type = c->type;
        r->recovered = c->recovered;
        snprintf(r->id, sizeof r->id, "%s", c->id);
        snprintf(r->uid, sizeof r->uid, "%s", c->uid);
        snprintf(r->rv, sizeof r->rv, "%s", c->rv);
        r->line = span_dup(c->line);
        r->object = span_dup(c->object);
    }
    if (x->ret) return x->ret;
    if (x->commit_now) {
        assert_int_equal(ww_tracker_commit(x->t, op), WW_OK);
        x->committed = x->n;
    }
    return WW_OK;
}

/* Commits what was emitted but not committed yet, in order (the acks). */
static void commit_upto(ctx *x, size_t k) {
    for (; x->committed < k; x->committed++) assert_int_equal(ww_tracker_commit(x->t, &x->r[x->committed].op), WW_OK);
}
static void commit_all(ctx *x) { commit_upto(x, x->n); }

static void forget(ctx *x) { x->n = x->committed = 0; }

static void setup(ww_tracker *t, ctx *x, char *const *ns, size_t n, int commit_now) {
    memset(x, 0, sizeof *x);
    x->t = t;
    x->commit_now = commit_now;
    assert_int_equal(ww_tracker_init(t, ns, n, on_change, x), WW_OK);
}

static void teardown(ww_tracker *t) {
    ww_tracker_free(t);
    pool_free();
}

/* Deltas as the reflector emits them. */
static ww_rc begin(ww_tracker *t, size_t s) {
    ww_delta d = {.type = WW_DELTA_SNAPSHOT_BEGIN, .stream = ""};
    return ww_tracker_feed(t, s, &d);
}

static ww_rc end(ww_tracker *t, size_t s, const char *rv) {
    ww_delta d = {.type = WW_DELTA_SNAPSHOT_END, .rv = rv, .stream = ""};
    return ww_tracker_feed(t, s, &d);
}

static ww_rc bookmark(ww_tracker *t, size_t s, const char *rv) {
    ww_delta d = {.type = WW_DELTA_BOOKMARK, .rv = rv, .stream = ""};
    return ww_tracker_feed(t, s, &d);
}

static ww_rc item(ww_tracker *t, size_t s, const char *obj) {
    ww_objmeta m;
    assert_int_equal(ww_objmeta_read(S(obj), &m), WW_OK);
    ww_delta d = {.type = WW_DELTA_SNAPSHOT_ITEM, .object = S(obj), .rv = m.rv, .meta = &m, .stream = ""};
    return ww_tracker_feed(t, s, &d);
}

/* A watch event; *line_out gets the line as received. */
static ww_rc event(ww_tracker *t, size_t s, ww_delta_type ty, const char *obj, const char **line_out) {
    static const char *names[] = {"ADDED", "MODIFIED", "DELETED"};
    const char *line = fmt("{\"type\":\"%s\",\"object\":%s}", names[ty], obj);
    ww_objmeta m;
    assert_int_equal(ww_objmeta_read(S(obj), &m), WW_OK);
    ww_span o = {strstr(line, "\"object\":") + 9, strlen(obj)};
    ww_delta d = {.type = ty, .line = S(line), .object = o, .rv = m.rv, .meta = &m, .stream = ""};
    if (line_out) *line_out = line;
    return ww_tracker_feed(t, s, &d);
}

static const char *ix_rv(ww_tracker *t, const char *uid) {
    ww_index_entry *e = ww_index_get(&t->index, uid);
    return e ? ww_index_rv(e) : NULL;
}

static const rec *find_uid(ctx *x, const char *uid) {
    const rec *found = NULL;
    for (size_t i = 0; i < x->n; i++)
        if (x->r[i].has_change && !strcmp(x->r[i].uid, uid)) {
            assert_null(found); /* once */
            found = &x->r[i];
        }
    assert_non_null(found);
    return found;
}

static void assert_op_only(const rec *r, int kind, const char *rv) {
    assert_false(r->has_change);
    assert_int_equal(r->op.kind, kind);
    assert_string_equal(r->op.rv, rv);
}

static void test_initial_snapshot(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 1);
    const char *o1 = wf("ns1", "w1", "u1", "10", "Running");
    const char *o2 = wf("ns1", "w2", "u2", "11", NULL);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(x.n, 0);
    assert_int_equal(item(&t, 0, o1), WW_OK);
    assert_int_equal(item(&t, 0, o2), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);

    assert_int_equal(x.n, 3);
    const rec *r = &x.r[0];
    assert_true(r->has_change);
    assert_int_equal(r->type, WW_CHANGE_ADDED);
    assert_false(r->recovered);
    assert_string_equal(r->id, "u1/10");
    assert_string_equal(r->uid, "u1");
    assert_string_equal(r->rv, "10");
    assert_null(r->line); /* synthesised from the list, not observed */
    assert_string_equal(r->object, o1);
    assert_int_equal(r->op.kind, WW_OP_PUT);
    assert_int_equal(r->op.stream, 0);
    assert_string_equal(r->op.rv, ""); /* a list item does not move the checkpoint */
    assert_string_equal(r->op.meta.uid, "u1");
    assert_string_equal(r->op.meta.ns, "ns1");
    assert_string_equal(r->op.meta.name, "w1");
    assert_string_equal(r->op.meta.rv, "10");
    r = &x.r[1];
    assert_true(r->has_change);
    assert_int_equal(r->type, WW_CHANGE_ADDED);
    assert_false(r->recovered);
    assert_string_equal(r->id, "u2/11");
    assert_string_equal(r->object, o2);
    assert_op_only(&x.r[2], WW_OP_NONE, "20");

    assert_int_equal(t.stats.published, 2);
    assert_int_equal(t.stats.recovered, 0);
    assert_int_equal(t.index.len, 2);
    assert_string_equal(ix_rv(&t, "u1"), "10");
    assert_string_equal(ix_rv(&t, "u2"), "11");
    assert_string_equal(ww_index_ns(ww_index_get(&t.index, "u1")), "ns1");
    assert_string_equal(ww_index_name(ww_index_get(&t.index, "u2")), "w2");
    assert_string_equal(t.streams[0].rv, "20");
    assert_null(t.streams[0].namespace_);
    teardown(&t);
}

/* A BEGIN before END restarts the snapshot (an expired continue token):
 * what the first attempt published is not published again, and what it
 * saw that is gone from the restarted list is deleted. */
static void test_restarted_snapshot(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 1);
    const char *o1 = wf("ns1", "w1", "u1", "10", NULL), *o2 = wf("ns1", "w2", "u2", "11", NULL);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, o1), WW_OK);
    assert_int_equal(item(&t, 0, o2), WW_OK);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, o2), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w3", "u3", "12", NULL)), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);
    assert_int_equal(x.n, 5);
    assert_string_equal(x.r[0].id, "u1/10");
    assert_string_equal(x.r[1].id, "u2/11");
    assert_string_equal(x.r[2].id, "u3/12");
    assert_false(x.r[2].recovered);
    assert_int_equal(x.r[3].type, WW_CHANGE_DELETED);
    assert_string_equal(x.r[3].id, "u1/deleted");
    assert_op_only(&x.r[4], WW_OP_NONE, "20");
    assert_int_equal(t.index.len, 2);
    assert_string_equal(t.streams[0].rv, "20");
    teardown(&t);
}

static void test_relist_diff(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 1);
    const char *o1 = wf("ns1", "w1", "u1", "10", "Running");
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, o1), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w2", "u2", "11", "Running")), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w3", "u3", "12", "Running")), WW_OK);
    assert_int_equal(item(&t, 0, wf(NULL, "c5", "u5", "13", NULL)), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);
    assert_int_equal(x.n, 5);
    forget(&x);

    /* a relist: u1 unchanged, u2 changed, u4 new, u3 and u5 gone */
    const char *o2 = wf("ns1", "w2", "u2", "15", "Succeeded");
    const char *o4 = wf("ns1", "w4", "u4", "16", "Pending");
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, o1), WW_OK);
    assert_int_equal(x.n, 0); /* unchanged: nothing */
    assert_int_equal(item(&t, 0, o2), WW_OK);
    assert_int_equal(item(&t, 0, o4), WW_OK);
    assert_int_equal(end(&t, 0, "30"), WW_OK);

    assert_int_equal(x.n, 5);
    const rec *r = &x.r[0];
    assert_true(r->has_change);
    assert_int_equal(r->type, WW_CHANGE_MODIFIED);
    assert_true(r->recovered);
    assert_string_equal(r->id, "u2/15");
    assert_string_equal(r->object, o2);
    assert_null(r->line);
    assert_int_equal(r->op.kind, WW_OP_PUT);
    assert_string_equal(r->op.rv, "");
    r = &x.r[1];
    assert_int_equal(r->type, WW_CHANGE_ADDED);
    assert_true(r->recovered);
    assert_string_equal(r->id, "u4/16");
    assert_string_equal(r->object, o4);

    r = find_uid(&x, "u3");
    assert_true(r == &x.r[2] || r == &x.r[3]);
    assert_int_equal(r->type, WW_CHANGE_DELETED);
    assert_true(r->recovered);
    assert_string_equal(r->id, "u3/deleted");
    assert_string_equal(r->rv, "12");
    assert_null(r->line);
    assert_string_equal(r->object, "{\"apiVersion\":\"" AV "\",\"kind\":\"Workflow\",\"metadata\":{\"name\":\"w3\","
                                   "\"namespace\":\"ns1\",\"uid\":\"u3\",\"resourceVersion\":\"12\"}}");
    assert_int_equal(ww_json_validate(S(r->object)), WW_OK);
    assert_int_equal(r->op.kind, WW_OP_DEL);
    assert_string_equal(r->op.meta.uid, "u3");
    assert_string_equal(r->op.rv, "");

    r = find_uid(&x, "u5"); /* cluster-scoped: no namespace field */
    assert_true(r == &x.r[2] || r == &x.r[3]);
    assert_int_equal(r->type, WW_CHANGE_DELETED);
    assert_true(r->recovered);
    assert_string_equal(r->id, "u5/deleted");
    assert_string_equal(r->object, "{\"apiVersion\":\"" AV "\",\"kind\":\"Workflow\",\"metadata\":{\"name\":\"c5\","
                                   "\"uid\":\"u5\",\"resourceVersion\":\"13\"}}");
    assert_int_equal(r->op.kind, WW_OP_DEL);

    assert_op_only(&x.r[4], WW_OP_NONE, "30");
    assert_int_equal(t.stats.published, 4 + 4);
    assert_int_equal(t.stats.recovered, 4);

    assert_int_equal(t.index.len, 3);
    assert_string_equal(ix_rv(&t, "u1"), "10");
    assert_string_equal(ix_rv(&t, "u2"), "15");
    assert_string_equal(ix_rv(&t, "u4"), "16");
    assert_null(ix_rv(&t, "u3"));
    assert_null(ix_rv(&t, "u5"));
    assert_string_equal(t.streams[0].rv, "30");

    /* a third identical list publishes nothing */
    forget(&x);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, o1), WW_OK);
    assert_int_equal(item(&t, 0, o2), WW_OK);
    assert_int_equal(item(&t, 0, o4), WW_OK);
    assert_int_equal(end(&t, 0, "31"), WW_OK);
    assert_int_equal(x.n, 1);
    assert_op_only(&x.r[0], WW_OP_NONE, "31");
    teardown(&t);
}

/* List items without apiVersion/kind (core resources): the synthesised
 * DELETED then has only metadata, and is still valid JSON. */
static void test_vanished_without_kind(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 1);
    const char *o = "{\"metadata\":{\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"u\",\"resourceVersion\":\"3\"}}";
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, o), WW_OK);
    assert_int_equal(end(&t, 0, "4"), WW_OK);
    forget(&x);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(end(&t, 0, "5"), WW_OK);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.r[0].object, o);
    assert_string_equal(x.r[0].id, "u/deleted");
    teardown(&t);
}

static void test_nothing_committed_until_ack(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 0);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "10", "Running")), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w2", "u2", "11", "Running")), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);
    assert_int_equal(x.n, 3);
    assert_int_equal(t.index.len, 0);
    assert_string_equal(t.streams[0].rv, "");

    commit_upto(&x, 1);
    assert_int_equal(t.index.len, 1);
    assert_string_equal(ix_rv(&t, "u1"), "10");
    assert_null(ix_rv(&t, "u2"));
    assert_string_equal(t.streams[0].rv, ""); /* list items do not move it */
    commit_upto(&x, 2);
    assert_int_equal(t.index.len, 2);
    assert_string_equal(t.streams[0].rv, "");
    commit_upto(&x, 3);
    assert_string_equal(t.streams[0].rv, "20"); /* the end of the list does */

    /* watch events: index and checkpoint follow the commits only */
    assert_int_equal(event(&t, 0, WW_DELTA_ADDED, wf("ns1", "w3", "u3", "25", "Pending"), NULL), WW_OK);
    assert_null(ix_rv(&t, "u3"));
    assert_string_equal(t.streams[0].rv, "20");
    assert_int_equal(event(&t, 0, WW_DELTA_MODIFIED, wf("ns1", "w1", "u1", "26", "Succeeded"), NULL), WW_OK);
    assert_int_equal(event(&t, 0, WW_DELTA_DELETED, wf("ns1", "w2", "u2", "27", "Running"), NULL), WW_OK);
    assert_int_equal(x.n, 6);
    assert_string_equal(x.r[3].op.rv, "25");
    assert_string_equal(x.r[4].op.rv, "26");
    assert_string_equal(x.r[5].op.rv, "27");
    assert_null(ix_rv(&t, "u3"));
    assert_string_equal(ix_rv(&t, "u1"), "10");
    assert_string_equal(ix_rv(&t, "u2"), "11");
    assert_string_equal(t.streams[0].rv, "20");

    commit_upto(&x, 4);
    assert_string_equal(ix_rv(&t, "u3"), "25");
    assert_string_equal(ix_rv(&t, "u1"), "10");
    assert_string_equal(t.streams[0].rv, "25");
    commit_upto(&x, 5);
    assert_string_equal(ix_rv(&t, "u1"), "26");
    assert_string_equal(ix_rv(&t, "u2"), "11");
    assert_string_equal(t.streams[0].rv, "26");
    commit_upto(&x, 6);
    assert_null(ix_rv(&t, "u2"));
    assert_int_equal(t.index.len, 2);
    assert_string_equal(t.streams[0].rv, "27");

    /* a relist that is not acknowledged changes nothing */
    forget(&x);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "30", "Succeeded")), WW_OK);
    assert_int_equal(end(&t, 0, "40"), WW_OK);
    assert_int_equal(x.n, 3); /* u1 modified, u3 deleted, end */
    assert_string_equal(ix_rv(&t, "u1"), "26");
    assert_string_equal(ix_rv(&t, "u3"), "25");
    assert_string_equal(t.streams[0].rv, "27");
    commit_all(&x);
    assert_string_equal(ix_rv(&t, "u1"), "30");
    assert_null(ix_rv(&t, "u3"));
    assert_string_equal(t.streams[0].rv, "40");
    teardown(&t);
}

static void test_watch_events(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 1);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(end(&t, 0, "5"), WW_OK);
    forget(&x);

    const char *line, *o = wf("ns1", "w1", "u1", "6", "Pending");
    assert_int_equal(event(&t, 0, WW_DELTA_ADDED, o, &line), WW_OK);
    assert_int_equal(x.n, 1);
    const rec *r = &x.r[0];
    assert_true(r->has_change);
    assert_int_equal(r->type, WW_CHANGE_ADDED);
    assert_false(r->recovered);
    assert_string_equal(r->id, "u1/6");
    assert_string_equal(r->line, line); /* exactly as received */
    assert_string_equal(r->object, o);
    assert_int_equal(r->op.kind, WW_OP_PUT);
    assert_string_equal(r->op.rv, "6");
    assert_string_equal(ix_rv(&t, "u1"), "6");
    assert_string_equal(t.streams[0].rv, "6");

    o = wf("ns1", "w1", "u1", "7", "Running");
    assert_int_equal(event(&t, 0, WW_DELTA_MODIFIED, o, &line), WW_OK);
    r = &x.r[1];
    assert_int_equal(r->type, WW_CHANGE_MODIFIED);
    assert_false(r->recovered);
    assert_string_equal(r->id, "u1/7");
    assert_string_equal(r->line, line);
    assert_string_equal(ix_rv(&t, "u1"), "7");

    o = wf("ns1", "w1", "u1", "8", "Running");
    assert_int_equal(event(&t, 0, WW_DELTA_DELETED, o, &line), WW_OK);
    r = &x.r[2];
    assert_int_equal(r->type, WW_CHANGE_DELETED);
    assert_false(r->recovered);
    assert_string_equal(r->id, "u1/deleted");
    assert_string_equal(r->line, line);
    assert_string_equal(r->object, o);
    assert_int_equal(r->op.kind, WW_OP_DEL);
    assert_string_equal(r->op.rv, "8");
    assert_null(ix_rv(&t, "u1"));
    assert_int_equal(t.index.len, 0);
    assert_string_equal(t.streams[0].rv, "8");
    assert_int_equal(t.stats.published, 3);
    assert_int_equal(t.stats.recovered, 0);
    assert_int_equal(t.stats.stale, 0);
    teardown(&t);
}

static void test_bookmark(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 0);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "3", NULL)), WW_OK);
    assert_int_equal(end(&t, 0, "5"), WW_OK);
    commit_all(&x);
    forget(&x);
    unsigned long published = t.stats.published;
    assert_int_equal(bookmark(&t, 0, "40"), WW_OK);
    assert_int_equal(x.n, 1);
    assert_op_only(&x.r[0], WW_OP_NONE, "40");
    assert_int_equal(x.r[0].op.stream, 0);
    assert_int_equal(t.stats.published, published);
    assert_string_equal(t.streams[0].rv, "5");
    commit_all(&x);
    assert_string_equal(t.streams[0].rv, "40");
    assert_string_equal(ix_rv(&t, "u1"), "3"); /* the index is untouched */
    assert_int_equal(t.index.len, 1);
    teardown(&t);
}

static void test_skip_initial(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 1);
    t.skip_initial = 1;
    t.read_status = 1;
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "10", "Running")), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w2", "u2", "11", "Running")), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);
    assert_int_equal(x.n, 3);
    /* recorded, not published */
    assert_false(x.r[0].has_change);
    assert_int_equal(x.r[0].op.kind, WW_OP_PUT);
    assert_string_equal(x.r[0].op.meta.uid, "u1");
    assert_int_equal(x.r[0].op.phase, WW_PHASE_RUNNING);
    assert_false(x.r[1].has_change);
    assert_int_equal(x.r[1].op.kind, WW_OP_PUT);
    assert_string_equal(x.r[1].op.meta.uid, "u2");
    assert_op_only(&x.r[2], WW_OP_NONE, "20");
    assert_int_equal(t.stats.skipped, 2);
    assert_int_equal(t.stats.published, 0);
    assert_string_equal(ix_rv(&t, "u1"), "10");
    assert_string_equal(ix_rv(&t, "u2"), "11");
    assert_string_equal(t.streams[0].rv, "20");
    forget(&x);

    /* what happens afterwards is published */
    assert_int_equal(event(&t, 0, WW_DELTA_MODIFIED, wf("ns1", "w1", "u1", "21", "Succeeded"), NULL), WW_OK);
    assert_int_equal(event(&t, 0, WW_DELTA_ADDED, wf("ns1", "w9", "u9", "22", NULL), NULL), WW_OK);
    assert_int_equal(x.n, 2);
    assert_true(x.r[0].has_change);
    assert_string_equal(x.r[0].id, "u1/21");
    assert_true(x.r[1].has_change);
    assert_string_equal(x.r[1].id, "u9/22");
    forget(&x);

    /* and so is what a later relist finds */
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "21", "Succeeded")), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w2", "u2", "23", "Failed")), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w3", "u3", "24", NULL)), WW_OK);
    assert_int_equal(end(&t, 0, "30"), WW_OK);
    assert_int_equal(x.n, 4);
    assert_true(x.r[0].has_change);
    assert_string_equal(x.r[0].id, "u2/23");
    assert_true(x.r[1].has_change);
    assert_string_equal(x.r[1].id, "u3/24");
    assert_true(x.r[2].has_change);
    assert_string_equal(x.r[2].id, "u9/deleted");
    assert_op_only(&x.r[3], WW_OP_NONE, "30");
    assert_int_equal(t.stats.skipped, 2);
    assert_int_equal(t.stats.published, 5);
    teardown(&t);
}

/* A watch replayed after a crash: the index already holds a newer state of
 * the object (a recovered change was acknowledged, the end of that relist
 * was not). */
static void test_stale_replay(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 0);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "10", "Running")), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);
    commit_all(&x);
    forget(&x);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "25", "Succeeded")), WW_OK);
    assert_int_equal(end(&t, 0, "30"), WW_OK);
    assert_int_equal(x.n, 2);
    commit_upto(&x, 1); /* the recovered MODIFIED is acknowledged, the end is not */
    forget(&x);
    assert_string_equal(ix_rv(&t, "u1"), "25");
    assert_string_equal(t.streams[0].rv, "20");

    /* the watch resumes from 20 and replays */
    unsigned long published = t.stats.published;
    assert_int_equal(event(&t, 0, WW_DELTA_MODIFIED, wf("ns1", "w1", "u1", "22", "Running"), NULL), WW_OK);
    assert_int_equal(event(&t, 0, WW_DELTA_MODIFIED, wf("ns1", "w1", "u1", "25", "Succeeded"), NULL), WW_OK);
    assert_int_equal(x.n, 2);
    assert_op_only(&x.r[0], WW_OP_NONE, "22"); /* the checkpoint still moves */
    assert_op_only(&x.r[1], WW_OP_NONE, "25");
    assert_int_equal(t.stats.stale, 2);
    assert_int_equal(t.stats.published, published);
    /* an object the index does not know is never stale, whatever its rv */
    assert_int_equal(event(&t, 0, WW_DELTA_ADDED, wf("ns1", "w7", "u7", "23", NULL), NULL), WW_OK);
    assert_true(x.r[2].has_change);
    assert_string_equal(x.r[2].id, "u7/23");
    /* newer than the index: published */
    assert_int_equal(event(&t, 0, WW_DELTA_DELETED, wf("ns1", "w1", "u1", "26", "Succeeded"), NULL), WW_OK);
    assert_true(x.r[3].has_change);
    assert_int_equal(x.r[3].type, WW_CHANGE_DELETED);
    assert_string_equal(x.r[3].id, "u1/deleted");
    assert_int_equal(t.stats.stale, 2);
    assert_int_equal(t.stats.published, published + 2);

    commit_upto(&x, 2);
    assert_string_equal(ix_rv(&t, "u1"), "25"); /* stale events do not touch the index */
    assert_string_equal(t.streams[0].rv, "25");
    commit_all(&x);
    assert_null(ix_rv(&t, "u1"));
    assert_string_equal(ix_rv(&t, "u7"), "23");
    assert_string_equal(t.streams[0].rv, "26");

    /* a replayed DELETED is not published either */
    forget(&x);
    assert_int_equal(event(&t, 0, WW_DELTA_DELETED, wf("ns1", "w7", "u7", "23", NULL), NULL), WW_OK);
    assert_int_equal(x.n, 1);
    assert_op_only(&x.r[0], WW_OP_NONE, "23");
    commit_all(&x);
    assert_string_equal(ix_rv(&t, "u7"), "23");
    assert_int_equal(t.stats.stale, 3);
    teardown(&t);
}

static void test_multi_stream(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    char *ns[] = {"a", "b"};
    setup(&t, &x, ns, 2, 1);
    assert_int_equal(t.n_streams, 2);
    assert_string_equal(t.streams[0].namespace_, "a");
    assert_string_equal(t.streams[1].namespace_, "b");
    const char *a1 = wf("a", "w1", "ua1", "10", NULL), *b1 = wf("b", "w1", "ub1", "11", NULL);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, a1), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);
    assert_int_equal(begin(&t, 1), WW_OK);
    assert_int_equal(item(&t, 1, b1), WW_OK);
    assert_int_equal(end(&t, 1, "21"), WW_OK);
    assert_int_equal(x.n, 4);
    assert_int_equal(x.r[2].op.stream, 1);
    assert_string_equal(t.streams[0].rv, "20");
    assert_string_equal(t.streams[1].rv, "21");
    assert_int_equal(t.index.len, 2);
    forget(&x);

    /* stream a relists: b's object is not a's to delete */
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, a1), WW_OK);
    assert_int_equal(end(&t, 0, "30"), WW_OK);
    assert_int_equal(x.n, 1);
    assert_op_only(&x.r[0], WW_OP_NONE, "30");
    assert_int_equal(x.r[0].op.stream, 0);
    assert_string_equal(t.streams[0].rv, "30");
    assert_string_equal(t.streams[1].rv, "21");
    forget(&x);

    /* b relists a few times (its generation moves on alone) */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(begin(&t, 1), WW_OK);
        assert_int_equal(item(&t, 1, b1), WW_OK);
        assert_int_equal(end(&t, 1, "31"), WW_OK);
    }
    assert_int_equal(x.n, 3);
    forget(&x);

    /* a's object vanished: only it is deleted */
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(end(&t, 0, "40"), WW_OK);
    assert_int_equal(x.n, 2);
    assert_true(x.r[0].has_change);
    assert_int_equal(x.r[0].type, WW_CHANGE_DELETED);
    assert_string_equal(x.r[0].id, "ua1/deleted");
    assert_int_equal(x.r[0].op.stream, 0);
    assert_op_only(&x.r[1], WW_OP_NONE, "40");
    assert_null(ix_rv(&t, "ua1"));
    assert_string_equal(ix_rv(&t, "ub1"), "11");
    assert_string_equal(t.streams[0].rv, "40");
    assert_string_equal(t.streams[1].rv, "31");
    forget(&x);

    /* and an empty list of b deletes b's object only */
    assert_int_equal(event(&t, 0, WW_DELTA_ADDED, wf("a", "w2", "ua2", "41", NULL), NULL), WW_OK);
    assert_int_equal(begin(&t, 1), WW_OK);
    assert_int_equal(end(&t, 1, "50"), WW_OK);
    assert_int_equal(x.n, 3);
    assert_string_equal(x.r[1].id, "ub1/deleted");
    assert_int_equal(x.r[1].op.stream, 1);
    assert_string_equal(ix_rv(&t, "ua2"), "41");
    assert_null(ix_rv(&t, "ub1"));
    assert_string_equal(t.streams[0].rv, "41");
    assert_string_equal(t.streams[1].rv, "50");
    teardown(&t);
}

/* Without a format that needs it, status is not read at all (it costs more
 * than the rest of the event's handling). */
static void test_status_not_read_by_default(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 0);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "10", "Running")), WW_OK);
    assert_int_equal(x.r[0].op.phase, WW_PHASE_NONE);
    assert_int_equal(x.r[0].op.digest, 0);
    teardown(&t);
}

static void test_status_in_index(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 0);
    t.read_status = 1;
    const char *o1 = wf("ns1", "w1", "u1", "10", "Running");
    uint8_t ph;
    uint32_t dg1, dg2;
    ww_status_read(S(o1), &ph, &dg1);
    assert_int_equal(ph, WW_PHASE_RUNNING);
    assert_int_not_equal(dg1, 0);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, o1), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w2", "u2", "11", NULL)), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);
    assert_int_equal(x.r[0].op.phase, WW_PHASE_RUNNING);
    assert_int_equal(x.r[0].op.digest, dg1);
    commit_all(&x);
    ww_index_entry *e = ww_index_get(&t.index, "u1");
    assert_non_null(e);
    assert_int_equal(e->phase, WW_PHASE_RUNNING);
    assert_int_equal(e->digest, dg1);
    e = ww_index_get(&t.index, "u2");
    assert_non_null(e);
    assert_int_equal(e->phase, WW_PHASE_NONE);
    assert_int_equal(e->digest, 0);
    forget(&x);

    const char *o2 = wf("ns1", "w1", "u1", "21", "Succeeded");
    ww_status_read(S(o2), &ph, &dg2);
    assert_int_not_equal(dg1, dg2);
    assert_int_equal(event(&t, 0, WW_DELTA_MODIFIED, o2, NULL), WW_OK);
    assert_int_equal(x.r[0].op.phase, WW_PHASE_SUCCEEDED);
    assert_int_equal(x.r[0].op.digest, dg2);
    e = ww_index_get(&t.index, "u1");
    assert_int_equal(e->phase, WW_PHASE_RUNNING); /* not before the commit */
    assert_int_equal(e->digest, dg1);
    commit_all(&x);
    e = ww_index_get(&t.index, "u1");
    assert_int_equal(e->phase, WW_PHASE_SUCCEEDED);
    assert_int_equal(e->digest, dg2);
    teardown(&t);
}

static void test_emit_result_returned(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 1);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "10", NULL)), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);
    x.ret = WW_ESTOP;
    assert_int_equal(event(&t, 0, WW_DELTA_MODIFIED, wf("ns1", "w1", "u1", "21", NULL), NULL), WW_ESTOP);
    assert_int_equal(bookmark(&t, 0, "22"), WW_ESTOP);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(end(&t, 0, "23"), WW_ESTOP); /* the first vanished object's emit */
    assert_string_equal(ix_rv(&t, "u1"), "10");
    assert_string_equal(t.streams[0].rv, "20");
    teardown(&t);
}

static void test_too_many_streams(void **state) {
    (void)state;
    ww_tracker t;
    char *ns[WW_MAX_STREAMS + 1];
    for (size_t i = 0; i <= WW_MAX_STREAMS; i++) ns[i] = "x";
    assert_int_equal(ww_tracker_init(&t, ns, WW_MAX_STREAMS + 1, on_change, NULL), WW_EINVAL);
}

/* Journal: an object published but not yet acknowledged or saved. */
static void test_pending_entries(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 0);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(end(&t, 0, "10"), WW_OK);
    commit_all(&x);
    forget(&x);
    /* A new object is unknown until marked; its journal record names it. */
    assert_int_equal(event(&t, 0, WW_DELTA_ADDED, wf("ns1", "w1", "u1", "11", "Pending"), NULL), WW_OK);
    assert_int_equal(event(&t, 0, WW_DELTA_ADDED, wf("ns1", "w2", "u2", "12", NULL), NULL), WW_OK);
    assert_true(ww_tracker_unknown(&t, &x.r[0].op));
    ww_buf b;
    ww_buf_init(&b, 4096);
    assert_int_equal(ww_checkpoint_journal_record(&x.r[0].op, &b), WW_OK);
    assert_string_equal(b.p, "u1\tns1\tw1\t11\td69f23ea\n"); /* crc32 of the fields, as zlib.crc32 gives */
    assert_int_equal(ww_tracker_mark_pending(&t, &x.r[0].op), WW_OK);
    assert_int_equal(ww_tracker_mark_pending(&t, &x.r[1].op), WW_OK);
    assert_false(ww_tracker_unknown(&t, &x.r[0].op));
    assert_true(ww_index_get(&t.index, "u1")->pending);
    /* The ack makes it an ordinary entry. */
    commit_upto(&x, 1);
    assert_false(ww_index_get(&t.index, "u1")->pending);
    assert_true(ww_index_get(&t.index, "u2")->pending);
    forget(&x);
    /* A replay of a pending object is not suppressed (it may never have
     * been delivered); one of an acknowledged object is. */
    assert_int_equal(event(&t, 0, WW_DELTA_ADDED, wf("ns1", "w2", "u2", "12", NULL), NULL), WW_OK);
    assert_int_equal(event(&t, 0, WW_DELTA_ADDED, wf("ns1", "w1", "u1", "11", "Pending"), NULL), WW_OK);
    assert_true(x.r[0].has_change);
    assert_false(x.r[1].has_change);
    forget(&x);
    /* A relist: a pending object still there is published again (same id),
     * one that is gone gets a recovered DELETED. */
    assert_int_equal(ww_tracker_mark_pending(&t, &(ww_commit){.kind = WW_OP_PUT, .meta = {"u3", "ns1", "w3", "13"}}),
                     WW_OK);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "11", "Pending")), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w2", "u2", "12", NULL)), WW_OK);
    assert_int_equal(end(&t, 0, "20"), WW_OK);
    assert_int_equal(x.n, 3);
    assert_int_equal(x.r[0].type, WW_CHANGE_ADDED);
    assert_string_equal(x.r[0].id, "u2/12");
    assert_int_equal(x.r[1].type, WW_CHANGE_DELETED);
    assert_string_equal(x.r[1].id, "u3/deleted");
    assert_true(x.r[1].recovered);
    assert_op_only(&x.r[2], WW_OP_NONE, "20");
    ww_buf_free(&b);
    teardown(&t);
}

/* Appends the journal record of uid/ns/name/rv to b. */
static void jrec(ww_buf *b, const char *uid, const char *ns, const char *name, const char *rv) {
    ww_commit op;
    memset(&op, 0, sizeof op);
    op.kind = WW_OP_PUT;
    snprintf(op.meta.uid, sizeof op.meta.uid, "%s", uid);
    snprintf(op.meta.ns, sizeof op.meta.ns, "%s", ns);
    snprintf(op.meta.name, sizeof op.meta.name, "%s", name);
    snprintf(op.meta.rv, sizeof op.meta.rv, "%s", rv);
    assert_int_equal(ww_checkpoint_journal_record(&op, b), WW_OK);
}

static void test_load_journal(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    char *ns[] = {"ns1"};
    setup(&t, &x, ns, 1, 1);
    snprintf(t.streams[0].rv, sizeof t.streams[0].rv, "40");
    t.streams[0].listed = 1;
    assert_int_equal(ww_index_put(&t.index, "u1", "ns1", "w1", "5", 0, 0, 0), WW_OK);
    ww_buf b;
    ww_buf_init(&b, 1 << 20);
    jrec(&b, "u1", "ns1", "w1", "9");
    jrec(&b, "u2", "ns1", "w2", "10");
    jrec(&b, "u3", "other", "w3", "11");
    jrec(&b, "u4", "ns1", "w4", "12");
    b.len--; /* u4 torn: no newline */
    size_t n = 0, bad = 0;
    assert_int_equal(ww_checkpoint_read_journal(&t, b.p, b.len, &n, &bad), WW_OK);
    assert_int_equal(n, 2); /* u1 known, u4 torn; u3 kept though its namespace is not watched */
    assert_int_equal(bad, 0);
    assert_string_equal(ix_rv(&t, "u1"), "5");
    assert_false(ww_index_get(&t.index, "u1")->pending);
    assert_true(ww_index_get(&t.index, "u2")->pending);
    assert_true(ww_index_get(&t.index, "u3")->pending);
    assert_null(ix_rv(&t, "u4"));
    assert_string_equal(t.streams[0].rv, "40"); /* no marker, nothing damaged: resume the watch */
    /* the kind record fills in what a synthesised DELETED carries */
    ww_tracker k;
    assert_int_equal(ww_tracker_init(&k, NULL, 0, NULL, NULL), WW_OK);
    snprintf(k.api_version, sizeof k.api_version, "argoproj.io/v1alpha1");
    snprintf(k.kind, sizeof k.kind, "Workflow");
    ww_buf_reset(&b);
    assert_int_equal(ww_checkpoint_journal_kind(&k, &b), WW_OK);
    ww_tracker_free(&k);
    assert_string_equal(t.kind, "");
    assert_int_equal(ww_checkpoint_read_journal(&t, b.p, b.len, &n, &bad), WW_OK);
    assert_int_equal(bad, 0);
    assert_string_equal(t.api_version, "argoproj.io/v1alpha1");
    assert_string_equal(t.kind, "Workflow");
    ww_buf_free(&b);
    teardown(&t);
}

/* The review's torn journal: an append cut inside the uid, then the whole
 * record appended after the fragment. The merged line has four fields and
 * used to be taken as a real object (a false DELETED later); now its
 * checksum fails, it is skipped, and every stream lists again. */
static void test_journal_merged_record_is_damaged(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    char *ns[] = {"ns"};
    setup(&t, &x, ns, 1, 1);
    snprintf(t.streams[0].rv, sizeof t.streams[0].rv, "290");
    ww_buf b;
    ww_buf_init(&b, 1 << 20);
    assert_int_equal(ww_buf_puts(&b, "c47bb6ca-4d36-"), WW_OK);
    jrec(&b, "c47bb6ca-4d36-480b-9bfa-826b600139db", "ns", "name", "291");
    size_t n = 0, bad = 0;
    assert_int_equal(ww_checkpoint_read_journal(&t, b.p, b.len, &n, &bad), WW_OK);
    assert_int_equal(bad, 1);
    assert_int_equal(n, 0);
    assert_int_equal(t.index.len, 0);
    assert_string_equal(t.streams[0].rv, ""); /* lists first */
    assert_true(t.streams[0].listed);         /* and diffs: not an initial list */
    assert_true(t.journal_damaged);
    /* cut inside the name: six fields, also damaged, never fatal */
    ww_buf_reset(&b);
    assert_int_equal(ww_buf_puts(&b, "u9\tns\tna"), WW_OK);
    jrec(&b, "u9", "ns", "name", "300");
    jrec(&b, "u10", "ns", "n10", "301");
    assert_int_equal(ww_checkpoint_read_journal(&t, b.p, b.len, &n, &bad), WW_OK);
    assert_int_equal(bad, 1);
    assert_int_equal(n, 1);
    assert_true(ww_index_get(&t.index, "u10")->pending);
    ww_buf_free(&b);
    teardown(&t);
}

/* --initial-state=skip skips only what the index does not know: after the
 * namespace set changed (a stream without RV whose objects the index knows),
 * a known object's change is a real change. */
static void test_skip_only_unknown_objects(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    char *ns[] = {"ns1"};
    setup(&t, &x, ns, 1, 1);
    t.skip_initial = 1;
    assert_int_equal(ww_index_put(&t.index, "u1", "ns1", "w1", "5", 0, 0, 0), WW_OK);
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "7", NULL)), WW_OK); /* known, changed */
    assert_int_equal(item(&t, 0, wf("ns1", "w2", "u2", "8", NULL)), WW_OK); /* unknown: initial state */
    assert_int_equal(end(&t, 0, "9"), WW_OK);
    assert_int_equal(x.n, 3);
    assert_true(x.r[0].has_change);
    assert_int_equal(x.r[0].type, WW_CHANGE_MODIFIED);
    assert_true(x.r[0].recovered);
    assert_string_equal(x.r[0].id, "u1/7");
    assert_false(x.r[1].has_change); /* recorded only */
    assert_string_equal(ix_rv(&t, "u2"), "8");
    assert_true(t.streams[0].listed);
    teardown(&t);
}

/* A crash in the first list left journaled (pending) objects; the next
 * first list finds one changed: published as recovered, since states
 * between were not observed, though the stream has no RV yet. */
static void test_changed_pending_object_in_a_first_list_is_recovered(void **state) {
    (void)state;
    ww_tracker t;
    ctx x;
    setup(&t, &x, NULL, 0, 1);
    assert_int_equal(ww_index_put(&t.index, "u1", "ns1", "w1", "5", 0, 0, 0), WW_OK);
    ww_index_get(&t.index, "u1")->pending = 1;
    assert_int_equal(ww_index_put(&t.index, "u2", "ns1", "w2", "6", 0, 0, 0), WW_OK);
    ww_index_get(&t.index, "u2")->pending = 1;
    assert_int_equal(begin(&t, 0), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w1", "u1", "7", NULL)), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w2", "u2", "6", NULL)), WW_OK);
    assert_int_equal(item(&t, 0, wf("ns1", "w3", "u3", "8", NULL)), WW_OK);
    assert_int_equal(x.r[0].type, WW_CHANGE_MODIFIED);
    assert_true(x.r[0].recovered);
    assert_int_equal(x.r[1].type, WW_CHANGE_ADDED); /* the same state again: as first published */
    assert_false(x.r[1].recovered);
    assert_int_equal(x.r[2].type, WW_CHANGE_ADDED); /* initial state */
    assert_false(x.r[2].recovered);
    teardown(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_snapshot),
        cmocka_unit_test(test_restarted_snapshot),
        cmocka_unit_test(test_relist_diff),
        cmocka_unit_test(test_vanished_without_kind),
        cmocka_unit_test(test_nothing_committed_until_ack),
        cmocka_unit_test(test_watch_events),
        cmocka_unit_test(test_bookmark),
        cmocka_unit_test(test_skip_initial),
        cmocka_unit_test(test_stale_replay),
        cmocka_unit_test(test_multi_stream),
        cmocka_unit_test(test_status_in_index),
        cmocka_unit_test(test_status_not_read_by_default),
        cmocka_unit_test(test_emit_result_returned),
        cmocka_unit_test(test_too_many_streams),
        cmocka_unit_test(test_pending_entries),
        cmocka_unit_test(test_load_journal),
        cmocka_unit_test(test_skip_only_unknown_objects),
        cmocka_unit_test(test_changed_pending_object_in_a_first_list_is_recovered),
        cmocka_unit_test(test_journal_merged_record_is_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
