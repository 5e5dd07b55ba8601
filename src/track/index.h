/* index.h - the index of known objects: uid -> resourceVersion,
 * namespace/name, phase and a digest of the node phases.
 *
 * No object cache: only what is needed to diff a relist against what we
 * knew, and to describe an object that vanished while we were not watching.
 * Open addressing on the uid; about 130 bytes per object (docs/benchmarks.md). */
#ifndef WW_INDEX_H
#define WW_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include "core/rc.h"

typedef struct {
    char *key;         /* "uid\0namespace\0name\0rv\0" in one allocation; NULL: empty slot */
    uint32_t seen_gen; /* snapshot generation that last saw this object */
    uint32_t digest;   /* FNV-1a of the node phases (ww_status_digest) */
    uint8_t tomb;      /* 1: deleted slot (keeps probe chains intact) */
    uint8_t phase;     /* WW_PHASE_* */
    uint8_t pending;   /* journaled: may have been published, delivery not confirmed */
    uint8_t seen_stream; /* the stream whose snapshot generation seen_gen is */
} ww_index_entry;

typedef struct {
    ww_index_entry *slots;
    size_t cap;  /* power of two */
    size_t len;  /* live entries */
    size_t used; /* live + tombstones */
} ww_index;

void ww_index_init(ww_index *ix);
void ww_index_free(ww_index *ix);
/* Inserts or replaces. The strings are copied. */
ww_rc ww_index_put(ww_index *ix, const char *uid, const char *ns, const char *name, const char *rv, uint32_t gen,
                   uint8_t phase, uint32_t digest);
ww_index_entry *ww_index_get(ww_index *ix, const char *uid);
void ww_index_del(ww_index *ix, const char *uid);
/* Fields of an entry. */
const char *ww_index_uid(const ww_index_entry *e);
const char *ww_index_ns(const ww_index_entry *e);
const char *ww_index_name(const ww_index_entry *e);
const char *ww_index_rv(const ww_index_entry *e);
/* Bytes used by the index (slots and strings), for benchmarks. */
size_t ww_index_bytes(const ww_index *ix);

#endif
