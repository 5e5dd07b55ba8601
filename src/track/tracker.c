/* tracker.c - index upkeep and snapshot diffs. */
#include "track/tracker.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

/* apiVersion and kind, which a synthesised DELETED carries. */
static void read_kind(ww_tracker *t, ww_span obj) {
    ww_span v;
    t->kind_read = 1;
    if (ww_json_get(obj, "apiVersion", &v) == WW_OK) ww_json_str(v, t->api_version, sizeof t->api_version);
    if (ww_json_get(obj, "kind", &v) == WW_OK) ww_json_str(v, t->kind, sizeof t->kind);
}

void ww_tracker_init(ww_tracker *t, ww_change_fn emit, void *ud) {
    memset(t, 0, sizeof *t);
    ww_index_init(&t->index);
    ww_buf_init(&t->scratch, 1 << 16);
    t->emit = emit;
    t->ud = ud;
}

void ww_tracker_free(ww_tracker *t) {
    ww_index_free(&t->index);
    ww_buf_free(&t->scratch);
}

static ww_rc out(ww_tracker *t, ww_change_type type, ww_span line, ww_span obj, int recovered, const ww_objmeta *m) {
    ww_change c = {.type = type, .line = line, .object = obj, .recovered = recovered, .uid = m->uid, .rv = m->rv};
    return t->emit(t->ud, &c);
}

/* Appends ,"key":"value" (without the comma for the first field). */
static ww_rc field(ww_buf *b, int first, const char *key, const char *value) {
    ww_rc rc = ww_buf_printf(b, "%s\"%s\":\"", first ? "" : ",", key);
    if (!rc) rc = ww_buf_json_escape(b, value, strlen(value));
    if (!rc) rc = ww_buf_puts(b, "\"");
    return rc;
}

/* DELETED for an object that vanished while we were not watching: all we
 * know is its identity and last resourceVersion. */
static ww_rc vanished(ww_tracker *t, ww_index_entry *e) {
    ww_objmeta m;
    snprintf(m.uid, sizeof m.uid, "%s", ww_index_uid(e));
    snprintf(m.ns, sizeof m.ns, "%s", ww_index_ns(e));
    snprintf(m.name, sizeof m.name, "%s", ww_index_name(e));
    snprintf(m.rv, sizeof m.rv, "%s", ww_index_rv(e));
    ww_buf *b = &t->scratch;
    ww_buf_reset(b);
    ww_rc rc = ww_buf_puts(b, "{");
    if (t->api_version[0])
        rc |= field(b, 1, "apiVersion", t->api_version) | field(b, 0, "kind", t->kind) | ww_buf_puts(b, ",");
    rc |= ww_buf_puts(b, "\"metadata\":{") | field(b, 1, "name", m.name);
    if (m.ns[0]) rc |= field(b, 0, "namespace", m.ns);
    rc |= field(b, 0, "uid", m.uid) | field(b, 0, "resourceVersion", m.rv) | ww_buf_puts(b, "}}");
    if (rc) return WW_ENOMEM;
    ww_span none = {NULL, 0}, obj = {b->p, b->len};
    ww_info("track", "%s/%s (uid %s) vanished while not watching: publishing a recovered DELETED", m.ns, m.name, m.uid);
    return out(t, WW_CHANGE_DELETED, none, obj, 1, &m);
}

ww_rc ww_tracker_feed(ww_tracker *t, const ww_delta *d) {
    ww_span none = {NULL, 0};
    const ww_objmeta *m = d->meta; /* set by the reflector for every object */
    /* Watch events always carry kind; list items of core resources may not,
     * so those are looked at only once. */
    if (m && !t->kind[0] && (!t->kind_read || d->type != WW_DELTA_SNAPSHOT_ITEM)) read_kind(t, d->object);
    switch (d->type) {
    case WW_DELTA_SNAPSHOT_BEGIN: t->gen++; return WW_OK;
    case WW_DELTA_SNAPSHOT_ITEM: {
        if (!m->uid[0]) {
            ww_warn("track", "a listed object has no metadata.uid; passing it on unindexed");
            return WW_OK;
        }
        int relist = t->snapshots > 0;
        ww_index_entry *e = ww_index_get(&t->index, m->uid);
        if (e && strcmp(ww_index_rv(e), m->rv) == 0) {
            e->seen_gen = t->gen;
            return WW_OK;
        }
        ww_change_type ty = e ? WW_CHANGE_MODIFIED : WW_CHANGE_ADDED;
        ww_rc rc = out(t, ty, none, d->object, relist, m);
        if (rc) return rc;
        return ww_index_put(&t->index, m->uid, m->ns, m->name, m->rv, t->gen);
    }
    case WW_DELTA_SNAPSHOT_END: {
        /* Everything known but not in this snapshot was deleted meanwhile. */
        for (size_t i = 0; i < t->index.cap; i++) {
            ww_index_entry *e = &t->index.slots[i];
            if (!e->key || e->seen_gen == t->gen) continue;
            ww_rc rc = vanished(t, e);
            if (rc) return rc;
            ww_index_del(&t->index, ww_index_uid(e));
        }
        t->snapshots++;
        return WW_OK;
    }
    case WW_DELTA_ADDED:
    case WW_DELTA_MODIFIED:
    case WW_DELTA_DELETED: {
        if (!m->uid[0]) ww_warn("track", "a watch event has no metadata.uid; passing it on unindexed");
        ww_change_type ty = d->type == WW_DELTA_ADDED      ? WW_CHANGE_ADDED
                            : d->type == WW_DELTA_MODIFIED ? WW_CHANGE_MODIFIED
                                                           : WW_CHANGE_DELETED;
        ww_rc rc = out(t, ty, d->line, d->object, 0, m);
        if (rc || !m->uid[0]) return rc;
        if (ty == WW_CHANGE_DELETED)
            ww_index_del(&t->index, m->uid);
        else
            rc = ww_index_put(&t->index, m->uid, m->ns, m->name, m->rv, t->gen);
        return rc;
    }
    case WW_DELTA_BOOKMARK: return WW_OK;
    }
    return WW_OK;
}
