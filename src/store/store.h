/* store.h - where the checkpoint lives. One static ww_store_type per
 * backend, registered by URL scheme like the sinks (sink/sink.h).
 *
 * A store keeps one opaque blob: the serialised checkpoint (resourceVersion
 * of every stream plus the index, track/checkpoint.h). save() replaces it
 * atomically: after a crash at any point, load() returns either the old
 * blob or the new one, never a mix. Stores are used from one thread only
 * (the delivery thread). */
#ifndef WW_STORE_H
#define WW_STORE_H

#include <stddef.h>
#include "core/buf.h"
#include "core/rc.h"
#include "kube/kubeconfig.h"

/* What a backend may need besides its URL. */
typedef struct {
    const ww_kubeconfig *kc;    /* configmap:// talks to the API server with the watcher's credentials */
    ww_stop_flag *stop;         /* set on shutdown: abort slow requests */
    const char *redis_password; /* from --redis-password when the URL has none; never logged */
} ww_store_env;

typedef struct ww_store_type {
    const char *scheme; /* "file", "configmap", "redis", "none" */
    /* Parses url and connects if needed. WW_EINVAL with a message in err for
     * a bad URL; WW_ECONFLICT when another watcher holds the store (file://
     * takes a lock); other errors (unreachable server) also fill err. */
    ww_rc (*open)(const char *url, const ww_store_env *env, void **state, char *err, size_t errsz);
    /* Reads the blob into out. WW_ENOENT when nothing was saved yet; any
     * other error fills err (the watcher then refuses to start). */
    ww_rc (*load)(void *state, ww_buf *out, char *err, size_t errsz);
    /* Replaces the blob atomically. WW_ECONFLICT when another writer changed
     * it since our last load/save (the watcher stops); WW_RETRY or WW_EIO
     * for failures worth retrying at the next save. */
    ww_rc (*save)(void *state, const char *data, size_t n, char *err, size_t errsz);
    void (*close)(void *state);
    /* The journal: small text records ("uid TAB namespace TAB name TAB rv
     * NEWLINE") appended between two saves, each durably before append
     * returns. They name objects that are about to be published for the
     * first time, so that after a crash the watcher knows everything a
     * consumer may have seen even if the last save predates it.
     * journal_load() returns them (WW_ENOENT or an empty buffer: none);
     * a torn last line may be dropped. A successful save() empties the
     * journal (after the new blob is in place, so a crash in between
     * leaves records that the blob already covers: harmless). NULL for a
     * store that keeps nothing (none). */
    ww_rc (*journal_append)(void *state, const char *data, size_t n, char *err, size_t errsz);
    ww_rc (*journal_load)(void *state, ww_buf *out, char *err, size_t errsz);
} ww_store_type;

typedef struct {
    const ww_store_type *type;
    void *state;
    char *url; /* for messages, password removed */
} ww_store;

/* Picks the backend by URL scheme. */
ww_rc ww_store_open(const char *url, const ww_store_env *env, ww_store **out, char *err, size_t errsz);
static inline ww_rc ww_store_load(ww_store *s, ww_buf *out, char *err, size_t errsz) {
    return s->type->load(s->state, out, err, errsz);
}
static inline ww_rc ww_store_save(ww_store *s, const char *data, size_t n, char *err, size_t errsz) {
    return s->type->save(s->state, data, n, err, errsz);
}
static inline ww_rc ww_store_journal_append(ww_store *s, const char *data, size_t n, char *err, size_t errsz) {
    return s->type->journal_append ? s->type->journal_append(s->state, data, n, err, errsz) : WW_OK;
}
static inline ww_rc ww_store_journal_load(ww_store *s, ww_buf *out, char *err, size_t errsz) {
    return s->type->journal_load ? s->type->journal_load(s->state, out, err, errsz) : WW_ENOENT;
}
void ww_store_close(ww_store *s);
/* Copies url into out with any password (":PW@") replaced by "***". */
void ww_store_redact(const char *url, char *out, size_t outsz);

#endif
