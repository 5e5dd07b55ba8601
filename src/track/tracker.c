/* tracker.c - index upkeep, snapshot diffs and prepared state. */
#include "track/tracker.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "track/status.h"

/* apiVersion and kind, which a synthesised DELETED carries. */
static void read_kind(ww_tracker *t, ww_span obj) {
    ww_span v;
    t->kind_read = 1;
    if (ww_json_get(obj, "apiVersion", &v) == WW_OK) ww_json_str(v, t->api_version, sizeof t->api_version);
    if (ww_json_get(obj, "kind", &v) == WW_OK) ww_json_str(v, t->kind, sizeof t->kind);
}

ww_rc ww_tracker_init(ww_tracker *t, char *const *namespaces, size_t n, ww_change_fn emit, void *ud) {
    memset(t, 0, sizeof *t);
    if (n > WW_MAX_STREAMS) return WW_EINVAL;
    ww_index_init(&t->index);
    ww_buf_init(&t->scratch, 1 << 16);
    ww_buf_init(&t->dormant, 1 << 24);
    t->n_streams = n ? n : 1;
    for (size_t i = 0; i < n; i++)
        if (!(t->streams[i].namespace_ = strdup(namespaces[i]))) return WW_ENOMEM;
    t->emit = emit;
    t->ud = ud;
    return WW_OK;
}

void ww_tracker_free(ww_tracker *t) {
    ww_index_free(&t->index);
    ww_buf_free(&t->scratch);
    ww_buf_free(&t->dormant);
    for (size_t i = 0; i < t->n_streams; i++) free(t->streams[i].namespace_);
}

void ww_tracker_forget(ww_tracker *t) {
    ww_index_free(&t->index);
    ww_buf_reset(&t->dormant);
    t->loaded_written = 0;
    t->journal_damaged = 0;
    for (size_t i = 0; i < t->n_streams; i++) {
        ww_stream *s = &t->streams[i];
        s->rv[0] = s->relist_from[0] = 0;
        s->listed = s->open = s->open_durable = 0;
    }
}

static int in_stream(const ww_stream *s, const ww_index_entry *e);

void ww_tracker_drop_unwatched(ww_tracker *t) {
    size_t n = 0;
    ww_buf_reset(&t->dormant);
    for (size_t i = 0; i < t->index.cap; i++) {
        ww_index_entry *e = &t->index.slots[i];
        if (!e->key) continue;
        int w = 0;
        for (size_t k = 0; k < t->n_streams && !w; k++) w = in_stream(&t->streams[k], e);
        if (w) continue;
        ww_index_del(&t->index, e->key);
        n++;
    }
    if (n) ww_info("track", "--reset-checkpoint: forgot %zu objects of namespaces not watched now", n);
}

/* Both decimal (etcd revisions always are): 1 if a <= b. Kubernetes calls
 * resourceVersions opaque, so anything else compares as "not older". */
static int rv_not_newer(const char *a, const char *b) {
    char *ea, *eb;
    errno = 0;
    unsigned long long x = strtoull(a, &ea, 10), y = strtoull(b, &eb, 10);
    if (errno || !*a || !*b || *ea || *eb) return 0;
    return x <= y;
}

static ww_rc out(ww_tracker *t, ww_change_type type, ww_span line, ww_span obj, int recovered, ww_commit *op) {
    const ww_objmeta *m = &op->meta;
    /* The id names the object's state, so the same state published twice
     * (observed before a crash, listed after it) has one id. An object is
     * deleted once, so every DELETED of it has one id too, whether observed
     * or synthesised by a relist (which cannot know the deletion's
     * resourceVersion). */
    if (type == WW_CHANGE_DELETED)
        snprintf(t->id, sizeof t->id, "%s/deleted", m->uid);
    else
        snprintf(t->id, sizeof t->id, "%s/%s", m->uid, m->rv);
    ww_change c = {
        .type = type, .line = line, .object = obj, .recovered = recovered, .uid = m->uid, .rv = m->rv, .id = t->id};
    t->stats.published++;
    if (recovered) t->stats.recovered++;
    return t->emit(t->ud, &c, op);
}

/* Appends ,"key":"value" (without the comma for the first field). */
static ww_rc field(ww_buf *b, int first, const char *key, const char *value) {
    ww_rc rc = ww_buf_printf(b, "%s\"%s\":\"", first ? "" : ",", key);
    if (!rc) rc = ww_buf_json_escape(b, value, strlen(value));
    if (!rc) rc = ww_buf_puts(b, "\"");
    return rc;
}

/* A prepared state change for stream: kind, the object (m, or none) and
 * the stream's new checkpoint rv ("" or NULL leaves it). */
static void prepare(ww_commit *op, int kind, size_t stream, const ww_objmeta *m, const char *rv) {
    memset(op, 0, offsetof(ww_commit, meta));
    op->kind = (uint8_t)kind;
    op->stream = (uint16_t)stream;
    if (m)
        op->meta = *m;
    else
        op->meta.uid[0] = 0;
    snprintf(op->rv, sizeof op->rv, "%s", rv ? rv : "");
}

/* PUT of an object; its phase and node digest only when a format needs
 * them (walking status costs more than the rest of an event's handling). */
static void prepare_put(const ww_tracker *t, ww_commit *op, size_t stream, const ww_objmeta *m, ww_span obj,
                        uint32_t gen, const char *rv) {
    prepare(op, WW_OP_PUT, stream, m, rv);
    op->gen = gen;
    if (t->read_status) ww_status_read(obj, &op->phase, &op->digest);
}

/* DELETED for an object that vanished while we were not watching: all we
 * know is its identity and last resourceVersion. */
static ww_rc vanished(ww_tracker *t, size_t stream, const char *rec) {
    ww_commit op = {.kind = WW_OP_DEL, .stream = (uint16_t)stream};
    ww_objmeta *m = &op.meta;
    const char *p = rec;
    snprintf(m->uid, sizeof m->uid, "%s", p);
    p += strlen(p) + 1;
    snprintf(m->ns, sizeof m->ns, "%s", p);
    p += strlen(p) + 1;
    snprintf(m->name, sizeof m->name, "%s", p);
    p += strlen(p) + 1;
    snprintf(m->rv, sizeof m->rv, "%s", p);
    ww_buf *b = &t->scratch;
    ww_buf_reset(b);
    ww_rc rc = ww_buf_puts(b, "{");
    if (t->api_version[0])
        rc |= field(b, 1, "apiVersion", t->api_version) | field(b, 0, "kind", t->kind) | ww_buf_puts(b, ",");
    rc |= ww_buf_puts(b, "\"metadata\":{") | field(b, 1, "name", m->name);
    if (m->ns[0]) rc |= field(b, 0, "namespace", m->ns);
    rc |= field(b, 0, "uid", m->uid) | field(b, 0, "resourceVersion", m->rv) | ww_buf_puts(b, "}}");
    if (rc) return WW_ENOMEM;
    ww_span none = {NULL, 0}, obj = {b->p, b->len};
    ww_info("track", "%s/%s (uid %s) vanished while not watching: publishing a recovered DELETED", m->ns, m->name,
            m->uid);
    return out(t, WW_CHANGE_DELETED, none, obj, 1, &op);
}

static int in_stream(const ww_stream *s, const ww_index_entry *e) {
    return !s->namespace_ || !strcmp(s->namespace_, ww_index_ns(e));
}

/* The end of a snapshot: everything of this stream known but not listed was
 * deleted meanwhile. The records are copied first, because publishing may
 * commit (and so change the index) while we go. */
static ww_rc snapshot_end(ww_tracker *t, size_t stream, const ww_delta *d) {
    ww_stream *s = &t->streams[stream];
    ww_buf gone;
    ww_buf_init(&gone, (size_t)1 << 40);
    ww_rc rc = WW_OK;
    size_t n = 0;
    for (size_t i = 0; i < t->index.cap && !rc; i++) {
        ww_index_entry *e = &t->index.slots[i];
        if (!e->key || (e->seen_stream == stream && e->seen_gen == s->gen) || !in_stream(s, e)) continue;
        const char *r = ww_index_rv(e);
        rc = ww_buf_append(&gone, e->key, (size_t)(r + strlen(r) + 1 - e->key));
        n++;
    }
    for (size_t off = 0, k = 0; !rc && k < n; k++) {
        const char *rec = gone.p + off;
        for (int f = 0; f < 4; f++) off += strlen(gone.p + off) + 1;
        rc = vanished(t, stream, rec);
    }
    ww_buf_free(&gone);
    if (rc) return rc;
    ww_commit op;
    prepare(&op, WW_OP_NONE, stream, NULL, d->rv);
    op.end = 1;
    return t->emit(t->ud, NULL, &op);
}

ww_rc ww_tracker_feed(ww_tracker *t, size_t stream, const ww_delta *d) {
    ww_span none = {NULL, 0};
    ww_stream *s = &t->streams[stream];
    const ww_objmeta *m = d->meta; /* set by the reflector for every object */
    /* Watch events always carry kind; list items of core resources may not,
     * so those are looked at only once. */
    if (m && !t->kind[0] && (!t->kind_read || d->type != WW_DELTA_SNAPSHOT_ITEM)) read_kind(t, d->object);
    ww_commit op;
    switch (d->type) {
    case WW_DELTA_SNAPSHOT_BEGIN:
        s->gen++;
        s->recovering = s->listed || s->rv[0] != 0;
        /* Over a checkpoint RV a crash must relist; a stream without one
         * lists at the next start anyway. */
        s->open = s->rv[0] != 0;
        s->open_durable = 0;
        return WW_OK;
    case WW_DELTA_SNAPSHOT_ITEM: {
        if (!m->uid[0]) {
            /* Not a real Kubernetes object; published, never indexed (so a
             * relist publishes it again). */
            ww_warn("track", "a listed object has no metadata.uid; passing it on unindexed");
            prepare(&op, WW_OP_NONE, stream, m, NULL);
            return out(t, WW_CHANGE_ADDED, none, d->object, s->recovering, &op);
        }
        ww_index_entry *e = ww_index_get(&t->index, m->uid);
        ww_change_type ty = e ? WW_CHANGE_MODIFIED : WW_CHANGE_ADDED;
        /* Known and changed: the states between were not observed, even in
         * a stream's first list (objects journaled before a crash in it). */
        int recovered = s->recovering;
        if (e) {
            e->seen_gen = s->gen;
            e->seen_stream = (uint8_t)stream;
            int same = !strcmp(ww_index_rv(e), m->rv);
            if (!e->pending && same) return WW_OK;
            /* Journaled, maybe never delivered: publish it again, as the
             * ADDED it was first published as, or as a later state. */
            if (e->pending && same) ty = WW_CHANGE_ADDED;
            if (!same) recovered = 1;
        }
        prepare_put(t, &op, stream, m, d->object, s->gen, NULL);
        /* --initial-state=skip: only what the index does not know, in a
         * stream's first list; a known object's change is a real change. */
        if (!e && !s->listed && t->skip_initial) {
            t->stats.skipped++;
            return t->emit(t->ud, NULL, &op);
        }
        return out(t, ty, none, d->object, recovered, &op);
    }
    case WW_DELTA_SNAPSHOT_END: return snapshot_end(t, stream, d);
    case WW_DELTA_ADDED:
    case WW_DELTA_MODIFIED:
    case WW_DELTA_DELETED: {
        ww_change_type ty = d->type == WW_DELTA_ADDED      ? WW_CHANGE_ADDED
                            : d->type == WW_DELTA_MODIFIED ? WW_CHANGE_MODIFIED
                                                           : WW_CHANGE_DELETED;
        if (!m->uid[0]) ww_warn("track", "a watch event has no metadata.uid; passing it on unindexed");
        ww_index_entry *e = m->uid[0] ? ww_index_get(&t->index, m->uid) : NULL;
        if (e && !e->pending && rv_not_newer(m->rv, ww_index_rv(e))) {
            /* Replayed after a restart: this object was already published at
             * a newer state (a recovered change); publishing the older one
             * now would break per-object order. */
            ww_debug("track", "%s/%s at %s: already published at %s; not publishing again", m->ns, m->name, m->rv,
                     ww_index_rv(e));
            t->stats.stale++;
            prepare(&op, WW_OP_NONE, stream, m, m->rv);
            return t->emit(t->ud, NULL, &op);
        }
        if (!m->uid[0])
            prepare(&op, WW_OP_NONE, stream, m, m->rv);
        else if (ty == WW_CHANGE_DELETED)
            prepare(&op, WW_OP_DEL, stream, m, m->rv);
        else
            prepare_put(t, &op, stream, m, d->object, s->gen, m->rv);
        return out(t, ty, d->line, d->object, 0, &op);
    }
    case WW_DELTA_BOOKMARK: prepare(&op, WW_OP_NONE, stream, NULL, d->rv); return t->emit(t->ud, NULL, &op);
    }
    return WW_OK;
}

ww_rc ww_tracker_commit(ww_tracker *t, const ww_commit *op) {
    ww_rc rc = WW_OK;
    const ww_objmeta *m = &op->meta;
    if (op->kind == WW_OP_PUT) {
        rc = ww_index_put(&t->index, m->uid, m->ns, m->name, m->rv, op->gen, op->phase, op->digest);
        if (!rc) ww_index_get(&t->index, m->uid)->seen_stream = (uint8_t)op->stream;
    } else if (op->kind == WW_OP_DEL)
        ww_index_del(&t->index, m->uid);
    if (!rc && op->stream < t->n_streams) {
        ww_stream *s = &t->streams[op->stream];
        if (op->rv[0]) memcpy(s->rv, op->rv, sizeof s->rv);
        if (op->end) {
            s->listed = 1;
            s->open = s->open_durable = 0;
        }
    }
    return rc;
}

int ww_tracker_needs_open_marker(const ww_tracker *t, const ww_commit *op) {
    if (op->stream >= t->n_streams) return 0;
    const ww_stream *s = &t->streams[op->stream];
    return s->open && !s->open_durable;
}

void ww_tracker_relist(ww_tracker *t, size_t stream) {
    ww_stream *s = &t->streams[stream];
    if (!s->rv[0]) return;
    memcpy(s->relist_from, s->rv, sizeof s->relist_from);
    s->listed = 1;
    s->rv[0] = 0;
}

void ww_tracker_open_durable(ww_tracker *t, size_t stream) {
    if (stream < t->n_streams && t->streams[stream].open) t->streams[stream].open_durable = 1;
}

int ww_tracker_unknown(ww_tracker *t, const ww_commit *op) {
    return op->kind == WW_OP_PUT && op->meta.uid[0] && !ww_index_get(&t->index, op->meta.uid);
}

ww_rc ww_tracker_mark_pending(ww_tracker *t, const ww_commit *op) {
    const ww_objmeta *m = &op->meta;
    if (ww_index_get(&t->index, m->uid)) return WW_OK;
    ww_rc rc = ww_index_put(&t->index, m->uid, m->ns, m->name, m->rv, op->gen, op->phase, op->digest);
    if (!rc) {
        ww_index_entry *e = ww_index_get(&t->index, m->uid);
        e->pending = 1;
        e->seen_stream = (uint8_t)op->stream;
    }
    return rc;
}
