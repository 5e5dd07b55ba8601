/* test_checkpoint.c - the tracker's committed state as a blob, and back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "track/checkpoint.h"
#include "track/status.h"

static ww_rc no_emit(void *ud, const ww_change *c, const ww_commit *op) {
    (void)ud;
    (void)c;
    (void)op;
    return WW_OK;
}

static const ww_ckpt_identity ID = {
    .server = "https://10.0.0.1:6443",
    .resource = "argoproj.io/v1alpha1/workflows",
    .selector = "team=a",
    .field_selector = NULL,
};

static void init(ww_tracker *t, char *const *ns, size_t n) {
    assert_int_equal(ww_tracker_init(t, ns, n, no_emit, NULL), WW_OK);
}

static void put(ww_tracker *t, const char *uid, const char *ns, const char *name, const char *rv, uint8_t phase,
                uint32_t digest) {
    assert_int_equal(ww_index_put(&t->index, uid, ns, name, rv, 7, phase, digest), WW_OK);
}

static void assert_entry(ww_tracker *t, const char *uid, const char *ns, const char *name, const char *rv,
                         uint8_t phase, uint32_t digest) {
    ww_index_entry *e = ww_index_get(&t->index, uid);
    assert_non_null(e);
    assert_string_equal(ww_index_ns(e), ns);
    assert_string_equal(ww_index_name(e), name);
    assert_string_equal(ww_index_rv(e), rv);
    assert_int_equal(e->phase, phase);
    assert_int_equal(e->digest, digest);
}

/* A tracker of all namespaces with a few objects, written out. */
static void sample(ww_buf *out) {
    ww_tracker t;
    init(&t, NULL, 0);
    snprintf(t.streams[0].rv, sizeof t.streams[0].rv, "%s", "12345");
    put(&t, "u1", "ns1", "w1", "100", WW_PHASE_RUNNING, 0xdeadbeef);
    put(&t, "u2", "ns2", "w2", "101", WW_PHASE_SUCCEEDED, 0);
    put(&t, "u3", "", "cluster-thing", "102", WW_PHASE_NONE, 0xffffffff); /* cluster-scoped, no phase */
    put(&t, "u4", "ns1", "w4", "103", WW_PHASE_OTHER, 1);
    ww_buf_init(out, 1 << 20);
    assert_int_equal(ww_checkpoint_write(&t, &ID, out), WW_OK);
    ww_tracker_free(&t);
}

static ww_rc read_into(ww_tracker *t, const ww_ckpt_identity *id, const char *p, size_t n, char *err, size_t errsz) {
    err[0] = 0;
    return ww_checkpoint_read(t, id, p, n, err, errsz);
}

static void test_round_trip(void **state) {
    (void)state;
    ww_buf b;
    sample(&b);
    /* the header is one JSON line, then one line per object */
    assert_non_null(strstr(b.p, "\"format\":\"workflow-watcher-checkpoint\""));
    assert_non_null(strstr(b.p, "\"version\":2"));
    assert_non_null(strstr(b.p, "\"objects\":4"));
    assert_non_null(strstr(b.p, "\"streams\":[{\"namespace\":null,\"resourceVersion\":\"12345\"}]"));
    assert_non_null(strstr(b.p, "\"server\":\"https://10.0.0.1:6443\""));
    assert_non_null(strstr(b.p, "\"selector\":\"team=a\""));
    assert_non_null(strstr(b.p, "\"fieldSelector\":\"\""));
    assert_non_null(strstr(b.p, "\nu3\t\tcluster-thing\t102\t\tffffffff\n"));
    assert_non_null(strstr(b.p, "\nu1\tns1\tw1\t100\tRunning\tdeadbeef\n"));
    size_t lines = 0;
    for (size_t i = 0; i < b.len; i++) lines += b.p[i] == '\n';
    assert_int_equal(lines, 5);
    assert_int_equal(b.p[b.len - 1], '\n');

    ww_tracker t;
    init(&t, NULL, 0);
    char err[512];
    assert_int_equal(read_into(&t, &ID, b.p, b.len, err, sizeof err), WW_OK);
    assert_string_equal(t.streams[0].rv, "12345");
    assert_int_equal(t.index.len, 4);
    assert_entry(&t, "u1", "ns1", "w1", "100", WW_PHASE_RUNNING, 0xdeadbeef);
    assert_entry(&t, "u2", "ns2", "w2", "101", WW_PHASE_SUCCEEDED, 0);
    assert_entry(&t, "u3", "", "cluster-thing", "102", WW_PHASE_NONE, 0xffffffff);
    assert_entry(&t, "u4", "ns1", "w4", "103", WW_PHASE_OTHER, 1);

    /* written again, the object lines are the same */
    ww_buf b2;
    ww_buf_init(&b2, 1 << 20);
    assert_int_equal(ww_checkpoint_write(&t, &ID, &b2), WW_OK);
    const char *body1 = strchr(b.p, '\n'), *body2 = strchr(b2.p, '\n');
    assert_int_equal(b.len - (size_t)(body1 - b.p), b2.len - (size_t)(body2 - b2.p));
    for (const char *l = body1 + 1; *l;) { /* every line of the first is in the second */
        const char *le = strchr(l, '\n');
        char line[256];
        snprintf(line, sizeof line, "\n%.*s\n", (int)(le - l), l);
        assert_non_null(strstr(body2, line));
        l = le + 1;
    }
    ww_buf_free(&b2);
    ww_tracker_free(&t);
    ww_buf_free(&b);
}

/* Pending entries (journaled, delivery not confirmed) keep their mark. */
static void test_pending_round_trip(void **state) {
    (void)state;
    ww_tracker t;
    init(&t, NULL, 0);
    put(&t, "u1", "ns1", "w1", "100", WW_PHASE_RUNNING, 5);
    put(&t, "u2", "ns1", "w2", "101", WW_PHASE_NONE, 0);
    ww_index_get(&t.index, "u2")->pending = 1;
    ww_buf b;
    ww_buf_init(&b, 1 << 20);
    assert_int_equal(ww_checkpoint_write(&t, &ID, &b), WW_OK);
    assert_non_null(strstr(b.p, "\nu2\tns1\tw2\t101\t\t00000000\tpending\n"));
    assert_non_null(strstr(b.p, "\nu1\tns1\tw1\t100\tRunning\t00000005\n"));
    ww_tracker_free(&t);
    init(&t, NULL, 0);
    char err[512];
    assert_int_equal(read_into(&t, &ID, b.p, b.len, err, sizeof err), WW_OK);
    assert_false(ww_index_get(&t.index, "u1")->pending);
    assert_true(ww_index_get(&t.index, "u2")->pending);
    ww_tracker_free(&t);
    ww_buf_free(&b);
}

static void test_empty_tracker(void **state) {
    (void)state;
    ww_tracker t;
    init(&t, NULL, 0);
    ww_buf b;
    ww_buf_init(&b, 1 << 16);
    assert_int_equal(ww_checkpoint_write(&t, &ID, &b), WW_OK);
    assert_non_null(strstr(b.p, "\"objects\":0"));
    assert_non_null(strstr(b.p, "\"resourceVersion\":\"\""));
    ww_tracker_free(&t);
    init(&t, NULL, 0);
    char err[256];
    assert_int_equal(read_into(&t, &ID, b.p, b.len, err, sizeof err), WW_OK);
    assert_int_equal(t.index.len, 0);
    assert_string_equal(t.streams[0].rv, "");
    ww_tracker_free(&t);
    ww_buf_free(&b);
}

/* A name with a tab cannot be a Kubernetes name and would break the line
 * format: it is left out and the count stays right. */
static void test_unwritable_names_left_out(void **state) {
    (void)state;
    ww_tracker t;
    init(&t, NULL, 0);
    put(&t, "u1", "ns1", "w\t1", "100", WW_PHASE_RUNNING, 1);
    put(&t, "u2", "ns1", "w2", "101", WW_PHASE_RUNNING, 2);
    put(&t, "u3", "ns1", "w\n3", "102", WW_PHASE_RUNNING, 3);
    ww_buf b;
    ww_buf_init(&b, 1 << 16);
    assert_int_equal(ww_checkpoint_write(&t, &ID, &b), WW_OK);
    ww_tracker_free(&t);
    assert_non_null(strstr(b.p, "\"objects\":1"));
    init(&t, NULL, 0);
    char err[256];
    assert_int_equal(read_into(&t, &ID, b.p, b.len, err, sizeof err), WW_OK);
    assert_int_equal(t.index.len, 1);
    assert_entry(&t, "u2", "ns1", "w2", "101", WW_PHASE_RUNNING, 2);
    ww_tracker_free(&t);
    ww_buf_free(&b);
}

static void test_flipped_byte(void **state) {
    (void)state;
    ww_buf b;
    sample(&b);
    const char *body = strchr(b.p, '\n') + 1;
    size_t off[] = {(size_t)(body - b.p), (size_t)(body - b.p) + 5, b.len - 3, b.len - 1};
    for (size_t k = 0; k < sizeof off / sizeof *off; k++) {
        char *copy = malloc(b.len);
        assert_non_null(copy);
        memcpy(copy, b.p, b.len);
        copy[off[k]] ^= 0x01;
        ww_tracker t;
        init(&t, NULL, 0);
        char err[512];
        assert_int_equal(read_into(&t, &ID, copy, b.len, err, sizeof err), WW_EPROTO);
        assert_non_null(strstr(err, "damaged"));
        assert_int_equal(t.index.len, 0);
        assert_string_equal(t.streams[0].rv, ""); /* nothing taken from it */
        ww_tracker_free(&t);
        free(copy);
    }
    ww_buf_free(&b);
}

static void test_truncated(void **state) {
    (void)state;
    ww_buf b;
    sample(&b);
    size_t header = (size_t)(strchr(b.p, '\n') - b.p);
    /* cut anywhere: in the header, at its end, in an object line, at a line end */
    size_t cuts[] = {0, 1, header / 2, header, header + 1, header + 4, b.len - 1, b.len - 2};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        ww_tracker t;
        init(&t, NULL, 0);
        char err[512];
        assert_int_equal(read_into(&t, &ID, b.p, cuts[k], err, sizeof err), WW_EPROTO);
        assert_true(err[0] != 0);
        ww_tracker_free(&t);
    }
    /* a whole last line missing */
    size_t last = b.len - 1;
    while (b.p[last - 1] != '\n') last--;
    ww_tracker t;
    init(&t, NULL, 0);
    char err[512];
    assert_int_equal(read_into(&t, &ID, b.p, last, err, sizeof err), WW_EPROTO);
    ww_tracker_free(&t);
    ww_buf_free(&b);
}

static void test_not_ours(void **state) {
    (void)state;
    static const char *blobs[] = {
        "",
        "hello\nworld\n",
        "{\"format\":\"something-else\",\"version\":1}\n",
        "{\"version\":1,\"objects\":0,\"streams\":[],\"crc32\":\"00000000\"}\n",
        "[\"workflow-watcher-checkpoint\"]\n",
        "\x1f\x8b\x08\x08gz\n",
        /* ours, but a format version we do not know */
        "{\"format\":\"workflow-watcher-checkpoint\",\"version\":2,\"resource\":\"argoproj.io/v1alpha1/workflows\","
        "\"selector\":\"team=a\",\"fieldSelector\":\"\",\"streams\":[],\"objects\":0,\"crc32\":\"00000000\"}\n",
        /* ours, header incomplete */
        "{\"format\":\"workflow-watcher-checkpoint\",\"version\":1}\n",
    };
    for (size_t k = 0; k < sizeof blobs / sizeof *blobs; k++) {
        ww_tracker t;
        init(&t, NULL, 0);
        char err[512];
        assert_int_equal(read_into(&t, &ID, blobs[k], strlen(blobs[k]), err, sizeof err), WW_EPROTO);
        assert_true(err[0] != 0);
        assert_int_equal(t.index.len, 0);
        ww_tracker_free(&t);
    }
}

/* A well-formed header with a valid crc32 over a body we choose. */
static char *craft(const char *streams, const char *objects, const char *body) {
    char *s = NULL;
    uLong crc = crc32(0L, (const Bytef *)body, (uInt)strlen(body));
    assert_true(asprintf(&s,
                         "{\"format\":\"workflow-watcher-checkpoint\",\"version\":1,\"written\":\"x\","
                         "\"server\":\"s\",\"resource\":\"argoproj.io/v1alpha1/workflows\",\"selector\":\"team=a\","
                         "\"fieldSelector\":\"\",\"streams\":%s,\"objects\":%s,\"crc32\":\"%08lx\"}\n%s",
                         streams, objects, crc, body) > 0);
    return s;
}

static void test_bad_lines_with_good_crc(void **state) {
    (void)state;
    static const struct {
        const char *objects;
        const char *body;
        ww_rc want;
    } cases[] = {
        {"1", "u1\tns\tn\t1\tRunning\t0\n", WW_OK},
        {"2", "u1\tns\tn\t1\tRunning\t0\n", WW_EPROTO},        /* count mismatch */
        {"0", "u1\tns\tn\t1\tRunning\t0\n", WW_EPROTO},        /* count mismatch */
        {"1", "u1\tns\tn\t1\tRunning\n", WW_EPROTO},           /* five fields */
        {"1", "u1\tns\tn\t1\tRunning\t0\textra\n", WW_EPROTO}, /* seven, not "pending" */
        {"1", "u1\tns\tn\t1\tRunning\t0\tpending\n", WW_OK},
        {"1", "u1\tns\tn\t1\tRunning\t0\tpending\tx\n", WW_EPROTO}, /* eight */
        {"1", "\tns\tn\t1\tRunning\t0\n", WW_EPROTO},               /* no uid */
        {"1", "u1\tns\tn\t\tRunning\t0\n", WW_EPROTO},              /* no rv */
        {"1", "u1\tns\tn\t1\tRunning\t0", WW_EPROTO},               /* no final newline */
        {"0", "u1\tns\tn\t1\tRunning\t0", WW_EPROTO},               /* nothing but a torn line */
        {"2", "u1\tns\tn\t1\tRunning\t0\n\n", WW_EPROTO},           /* an empty line */
        {"-1", "u1\tns\tn\t1\tRunning\t0\n", WW_EPROTO},
        {"1e300", "u1\tns\tn\t1\tRunning\t0\n", WW_EPROTO},
        {"\"1\"", "u1\tns\tn\t1\tRunning\t0\n", WW_EPROTO},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char *blob = craft("[{\"namespace\":null,\"resourceVersion\":\"9\"}]", cases[k].objects, cases[k].body);
        ww_tracker t;
        init(&t, NULL, 0);
        char err[512];
        ww_rc rc = read_into(&t, &ID, blob, strlen(blob), err, sizeof err);
        if (rc != cases[k].want) fail_msg("case %zu: %s (%s)", k, ww_strerror(rc), err);
        if (rc == WW_OK) {
            assert_non_null(ww_index_get(&t.index, "u1"));
            assert_string_equal(t.streams[0].rv, "9");
        } else {
            assert_true(err[0] != 0);
        }
        ww_tracker_free(&t);
        free(blob);
    }
}

static void test_foreign(void **state) {
    (void)state;
    ww_buf b;
    sample(&b);
    ww_ckpt_identity other[] = {
        {.server = ID.server, .resource = "argoproj.io/v1alpha1/cronworkflows", .selector = ID.selector},
        {.server = ID.server, .resource = ID.resource, .selector = "team=b"},
        {.server = ID.server, .resource = ID.resource, .selector = NULL},
        {.server = ID.server, .resource = ID.resource, .selector = ID.selector, .field_selector = "metadata.name=x"},
    };
    for (size_t k = 0; k < sizeof other / sizeof *other; k++) {
        ww_tracker t;
        init(&t, NULL, 0);
        char err[512];
        assert_int_equal(read_into(&t, &other[k], b.p, b.len, err, sizeof err), WW_EINVAL);
        assert_non_null(strstr(err, "another watch"));
        assert_int_equal(t.index.len, 0);
        assert_string_equal(t.streams[0].rv, "");
        ww_tracker_free(&t);
    }
    /* an empty field selector is the same as none */
    ww_ckpt_identity same = ID;
    same.field_selector = "";
    ww_tracker t;
    init(&t, NULL, 0);
    char err[512];
    assert_int_equal(read_into(&t, &same, b.p, b.len, err, sizeof err), WW_OK);
    ww_tracker_free(&t);
    ww_buf_free(&b);
}

static void test_other_server(void **state) {
    (void)state;
    ww_buf b;
    sample(&b);
    ww_ckpt_identity other = ID;
    other.server = "https://kubernetes.default.svc";
    ww_tracker t;
    init(&t, NULL, 0);
    char err[512];
    assert_int_equal(read_into(&t, &other, b.p, b.len, err, sizeof err), WW_OK);
    assert_string_equal(t.streams[0].rv, "12345");
    assert_int_equal(t.index.len, 4);
    ww_tracker_free(&t);
    other.server = NULL;
    init(&t, NULL, 0);
    assert_int_equal(read_into(&t, &other, b.p, b.len, err, sizeof err), WW_OK);
    assert_int_equal(t.index.len, 4);
    ww_tracker_free(&t);
    ww_buf_free(&b);
}

static void test_streams_by_namespace(void **state) {
    (void)state;
    ww_tracker t;
    char *ab[] = {"a", "b"};
    init(&t, ab, 2);
    snprintf(t.streams[0].rv, sizeof t.streams[0].rv, "%s", "100");
    snprintf(t.streams[1].rv, sizeof t.streams[1].rv, "%s", "200");
    put(&t, "ua", "a", "wa", "90", WW_PHASE_RUNNING, 5);
    put(&t, "ub", "b", "wb", "190", WW_PHASE_FAILED, 6);
    ww_buf b;
    ww_buf_init(&b, 1 << 16);
    assert_int_equal(ww_checkpoint_write(&t, &ID, &b), WW_OK);
    assert_non_null(strstr(b.p, "\"streams\":[{\"namespace\":\"a\",\"resourceVersion\":\"100\"},"
                                "{\"namespace\":\"b\",\"resourceVersion\":\"200\"}]"));
    ww_tracker_free(&t);

    /* now watching c and b (in another order): b resumes, c starts fresh,
     * a's objects and stream are kept (undiffed) for when a is watched again */
    char *cb[] = {"c", "b"};
    init(&t, cb, 2);
    char err[512];
    assert_int_equal(read_into(&t, &ID, b.p, b.len, err, sizeof err), WW_OK);
    assert_string_equal(t.streams[0].namespace_, "c");
    assert_string_equal(t.streams[0].rv, "");
    assert_string_equal(t.streams[1].rv, "200");
    assert_int_equal(t.index.len, 2);
    assert_entry(&t, "ua", "a", "wa", "90", WW_PHASE_RUNNING, 5);
    assert_entry(&t, "ub", "b", "wb", "190", WW_PHASE_FAILED, 6);
    ww_buf b2;
    ww_buf_init(&b2, 1 << 16);
    assert_int_equal(ww_checkpoint_write(&t, &ID, &b2), WW_OK);
    ww_tracker_free(&t);
    /* ... and a is watched again: it resumes where it was */
    init(&t, ab, 2);
    assert_int_equal(read_into(&t, &ID, b2.p, b2.len, err, sizeof err), WW_OK);
    assert_string_equal(t.streams[0].rv, "100");
    assert_string_equal(t.streams[1].rv, "200");
    assert_int_equal(t.index.len, 2);
    ww_tracker_free(&t);
    /* --reset-checkpoint forgets what is not watched */
    init(&t, cb, 2);
    assert_int_equal(read_into(&t, &ID, b2.p, b2.len, err, sizeof err), WW_OK);
    ww_tracker_drop_unwatched(&t);
    assert_int_equal(t.index.len, 1);
    assert_null(ww_index_get(&t.index, "ua"));
    ww_buf_reset(&b2);
    assert_int_equal(ww_checkpoint_write(&t, &ID, &b2), WW_OK);
    assert_null(strstr(b2.p, "\"namespace\":\"a\""));
    ww_tracker_free(&t);
    ww_buf_free(&b2);

    /* all namespaces now: every object kept, but no stream to resume */
    init(&t, NULL, 0);
    assert_int_equal(read_into(&t, &ID, b.p, b.len, err, sizeof err), WW_OK);
    assert_string_equal(t.streams[0].rv, "");
    assert_int_equal(t.index.len, 2);
    ww_tracker_free(&t);
    ww_buf_free(&b);

    /* an all-namespaces checkpoint read for one namespace: every object kept
     * (only ns1's are diffed), the stream lists first, as a diff (the
     * all-namespaces stream had listed) */
    sample(&b);
    char *ns1[] = {"ns1"};
    init(&t, ns1, 1);
    assert_int_equal(read_into(&t, &ID, b.p, b.len, err, sizeof err), WW_OK);
    assert_string_equal(t.streams[0].rv, "");
    assert_true(t.streams[0].listed);
    assert_int_equal(t.index.len, 4);
    assert_non_null(ww_index_get(&t.index, "u1"));
    assert_non_null(ww_index_get(&t.index, "u4"));
    ww_tracker_free(&t);
    ww_buf_free(&b);
}

/* What a resumed tracker does with its first list: unchanged objects are
 * not published again, vanished ones are recovered DELETED. */
typedef struct {
    int n;
    char ids[8][256];
} seen;

static ww_rc record(void *ud, const ww_change *c, const ww_commit *op) {
    (void)op;
    seen *s = ud;
    if (c && s->n < 8) snprintf(s->ids[s->n++], sizeof s->ids[0], "%s", c->id);
    return WW_OK;
}

static void test_resume_then_relist(void **state) {
    (void)state;
    ww_buf b;
    sample(&b);
    ww_tracker t;
    seen s = {0};
    assert_int_equal(ww_tracker_init(&t, NULL, 0, record, &s), WW_OK);
    char err[512];
    assert_int_equal(read_into(&t, &ID, b.p, b.len, err, sizeof err), WW_OK);
    static const char *objs[] = {
        "{\"metadata\":{\"name\":\"w1\",\"namespace\":\"ns1\",\"uid\":\"u1\",\"resourceVersion\":\"100\"}}",
        "{\"metadata\":{\"name\":\"w2\",\"namespace\":\"ns2\",\"uid\":\"u2\",\"resourceVersion\":\"150\"}}",
        "{\"metadata\":{\"name\":\"cluster-thing\",\"uid\":\"u3\",\"resourceVersion\":\"102\"}}",
    };
    ww_delta d = {.type = WW_DELTA_SNAPSHOT_BEGIN, .stream = ""};
    assert_int_equal(ww_tracker_feed(&t, 0, &d), WW_OK);
    for (size_t i = 0; i < 3; i++) {
        ww_objmeta m;
        ww_span o = {objs[i], strlen(objs[i])};
        assert_int_equal(ww_objmeta_read(o, &m), WW_OK);
        ww_delta it = {.type = WW_DELTA_SNAPSHOT_ITEM, .object = o, .rv = m.rv, .meta = &m, .stream = ""};
        assert_int_equal(ww_tracker_feed(&t, 0, &it), WW_OK);
    }
    ww_delta e = {.type = WW_DELTA_SNAPSHOT_END, .rv = "20000", .stream = ""};
    assert_int_equal(ww_tracker_feed(&t, 0, &e), WW_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "u2/150");
    assert_string_equal(s.ids[1], "u4/deleted");
    ww_tracker_free(&t);
    ww_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_pending_round_trip),
        cmocka_unit_test(test_empty_tracker),
        cmocka_unit_test(test_unwritable_names_left_out),
        cmocka_unit_test(test_flipped_byte),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_not_ours),
        cmocka_unit_test(test_bad_lines_with_good_crc),
        cmocka_unit_test(test_foreign),
        cmocka_unit_test(test_other_server),
        cmocka_unit_test(test_streams_by_namespace),
        cmocka_unit_test(test_resume_then_relist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
