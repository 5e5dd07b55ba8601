/* tracker.c - index upkeep and snapshot diffs. */
#include "track/tracker.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

#define ID_MAX 256

typedef struct {
    char uid[ID_MAX], ns[ID_MAX], name[ID_MAX], rv[64];
} ident;

static int get(ww_span obj, const char *key, char *out, size_t n) {
    ww_span v;
    out[0] = 0;
    if (ww_json_path(obj, &v, "metadata", key, NULL)) return -1;
    return ww_json_str(v, out, n) ? -1 : 0;
}

static int identify(ww_tracker *t, const ww_delta *d, ident *id) {
    ww_span obj = d->object;
    if (d->meta) {
        snprintf(id->uid, sizeof id->uid, "%s", d->meta->uid);
        snprintf(id->ns, sizeof id->ns, "%s", d->meta->ns);
        snprintf(id->name, sizeof id->name, "%s", d->meta->name);
        snprintf(id->rv, sizeof id->rv, "%s", d->meta->rv);
    } else {
        get(obj, "uid", id->uid, sizeof id->uid);
        get(obj, "namespace", id->ns, sizeof id->ns);
        get(obj, "name", id->name, sizeof id->name);
        get(obj, "resourceVersion", id->rv, sizeof id->rv);
    }
    if (!id->uid[0]) return -1;
    if (!t->kind[0]) {
        ww_span v;
        if (ww_json_get(obj, "apiVersion", &v) == WW_OK) ww_json_str(v, t->api_version, sizeof t->api_version);
        if (ww_json_get(obj, "kind", &v) == WW_OK) ww_json_str(v, t->kind, sizeof t->kind);
    }
    return 0;
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

static ww_rc out(ww_tracker *t, ww_change_type type, ww_span line, ww_span obj, int recovered, const ident *id) {
    ww_change c = {.type = type, .line = line, .object = obj, .recovered = recovered, .uid = id->uid, .rv = id->rv};
    return t->emit(t->ud, &c);
}

/* DELETED for an object that vanished while we were not watching: all we
 * know is its identity and last resourceVersion. */
static ww_rc vanished(ww_tracker *t, ww_index_entry *e) {
    ww_buf *b = &t->scratch;
    ww_buf_reset(b);
    ident id;
    snprintf(id.uid, sizeof id.uid, "%s", ww_index_uid(e));
    snprintf(id.ns, sizeof id.ns, "%s", ww_index_ns(e));
    snprintf(id.name, sizeof id.name, "%s", ww_index_name(e));
    snprintf(id.rv, sizeof id.rv, "%s", ww_index_rv(e));
    ww_rc rc = ww_buf_puts(b, "{");
    if (t->api_version[0]) {
        rc |= ww_buf_puts(b, "\"apiVersion\":\"");
        rc |= ww_buf_json_escape(b, t->api_version, strlen(t->api_version));
        rc |= ww_buf_puts(b, "\",\"kind\":\"");
        rc |= ww_buf_json_escape(b, t->kind, strlen(t->kind));
        rc |= ww_buf_puts(b, "\",");
    }
    rc |= ww_buf_puts(b, "\"metadata\":{\"name\":\"");
    rc |= ww_buf_json_escape(b, id.name, strlen(id.name));
    if (id.ns[0]) {
        rc |= ww_buf_puts(b, "\",\"namespace\":\"");
        rc |= ww_buf_json_escape(b, id.ns, strlen(id.ns));
    }
    rc |= ww_buf_puts(b, "\",\"uid\":\"");
    rc |= ww_buf_json_escape(b, id.uid, strlen(id.uid));
    rc |= ww_buf_puts(b, "\",\"resourceVersion\":\"");
    rc |= ww_buf_json_escape(b, id.rv, strlen(id.rv));
    rc |= ww_buf_puts(b, "\"}}");
    if (rc) return WW_ENOMEM;
    ww_span none = {NULL, 0}, obj = {b->p, b->len};
    ww_info("track", "%s/%s (uid %s) vanished while not watching: publishing a recovered DELETED", id.ns, id.name,
            id.uid);
    return out(t, WW_CHANGE_DELETED, none, obj, 1, &id);
}

ww_rc ww_tracker_feed(ww_tracker *t, const ww_delta *d) {
    ident id;
    ww_span none = {NULL, 0};
    switch (d->type) {
    case WW_DELTA_SNAPSHOT_BEGIN:
        t->gen++;
        t->in_snapshot = 1;
        return WW_OK;
    case WW_DELTA_SNAPSHOT_ITEM: {
        if (identify(t, d, &id)) {
            ww_warn("track", "a listed object has no metadata.uid; passing it on unindexed");
            return WW_OK;
        }
        int relist = t->snapshots > 0;
        ww_index_entry *e = ww_index_get(&t->index, id.uid);
        if (e && strcmp(ww_index_rv(e), id.rv) == 0) {
            e->seen_gen = t->gen;
            t->suppressed++;
            return WW_OK;
        }
        ww_change_type ty = e ? WW_CHANGE_MODIFIED : WW_CHANGE_ADDED;
        ww_rc rc = out(t, ty, none, d->object, relist, &id);
        if (rc) return rc;
        return ww_index_put(&t->index, id.uid, id.ns, id.name, id.rv, t->gen);
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
        t->in_snapshot = 0;
        t->snapshots++;
        return WW_OK;
    }
    case WW_DELTA_ADDED:
    case WW_DELTA_MODIFIED:
    case WW_DELTA_DELETED: {
        if (identify(t, d, &id)) {
            ww_warn("track", "a watch event has no metadata.uid; passing it on unindexed");
            id.uid[0] = 0;
        }
        ww_change_type ty = d->type == WW_DELTA_ADDED      ? WW_CHANGE_ADDED
                            : d->type == WW_DELTA_MODIFIED ? WW_CHANGE_MODIFIED
                                                           : WW_CHANGE_DELETED;
        ww_rc rc = out(t, ty, d->line, d->object, 0, &id);
        if (rc || !id.uid[0]) return rc;
        if (ty == WW_CHANGE_DELETED)
            ww_index_del(&t->index, id.uid);
        else
            rc = ww_index_put(&t->index, id.uid, id.ns, id.name, id.rv, t->gen);
        return rc;
    }
    case WW_DELTA_BOOKMARK: return WW_OK;
    }
    return WW_OK;
}
