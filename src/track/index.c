/* index.c - open-addressing hash map from uid to a packed record. */
#include "track/index.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

void ww_index_init(ww_index *ix) { memset(ix, 0, sizeof *ix); }

void ww_index_free(ww_index *ix) {
    if (!ix->slots) return;
    for (size_t i = 0; i < ix->cap; i++) free(ix->slots[i].key);
    free(ix->slots);
    memset(ix, 0, sizeof *ix);
}

const char *ww_index_uid(const ww_index_entry *e) { return e->key; }
const char *ww_index_ns(const ww_index_entry *e) { return e->key + strlen(e->key) + 1; }
const char *ww_index_name(const ww_index_entry *e) {
    const char *ns = ww_index_ns(e);
    return ns + strlen(ns) + 1;
}
const char *ww_index_rv(const ww_index_entry *e) {
    const char *n = ww_index_name(e);
    return n + strlen(n) + 1;
}

static ww_index_entry *find(ww_index *ix, const char *uid, int for_insert) {
    if (!ix->cap) return NULL;
    size_t mask = ix->cap - 1, i = (size_t)ww_hash_str(uid) & mask;
    ww_index_entry *first_tomb = NULL;
    for (size_t n = 0; n < ix->cap; n++, i = (i + 1) & mask) {
        ww_index_entry *e = &ix->slots[i];
        if (!e->key) {
            if (e->tomb) {
                if (!first_tomb) first_tomb = e;
                continue;
            }
            return for_insert ? (first_tomb ? first_tomb : e) : NULL;
        }
        if (strcmp(e->key, uid) == 0) return e;
    }
    return for_insert ? first_tomb : NULL;
}

static ww_rc grow(ww_index *ix) {
    size_t ncap = ix->cap ? ix->cap * 2 : 64;
    if (ix->len * 2 < ix->cap) ncap = ix->cap; /* many tombstones: rehash in place size */
    ww_index_entry *old = ix->slots;
    size_t ocap = ix->cap;
    ix->slots = calloc(ncap, sizeof *ix->slots);
    if (!ix->slots) {
        ix->slots = old;
        return WW_ENOMEM;
    }
    ix->cap = ncap;
    ix->used = ix->len;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].key) continue;
        ww_index_entry *e = find(ix, old[i].key, 1);
        *e = old[i];
    }
    free(old);
    return WW_OK;
}

ww_rc ww_index_put(ww_index *ix, const char *uid, const char *ns, const char *name, const char *rv, uint32_t gen,
                   uint8_t phase, uint32_t digest) {
    if ((ix->used + 1) * 4 > ix->cap * 3) {
        ww_rc rc = grow(ix);
        if (rc) return rc;
    }
    size_t lu = strlen(uid) + 1, ln = strlen(ns) + 1, lm = strlen(name) + 1, lr = strlen(rv) + 1;
    char *k = malloc(lu + ln + lm + lr);
    if (!k) return WW_ENOMEM;
    memcpy(k, uid, lu);
    memcpy(k + lu, ns, ln);
    memcpy(k + lu + ln, name, lm);
    memcpy(k + lu + ln + lm, rv, lr);
    ww_index_entry *e = find(ix, uid, 1);
    if (e->key) {
        free(e->key);
    } else {
        if (!e->tomb) ix->used++;
        ix->len++;
    }
    e->key = k;
    e->tomb = 0;
    e->seen_gen = gen;
    e->phase = phase;
    e->digest = digest;
    e->pending = 0;
    e->seen_stream = 0;
    return WW_OK;
}

ww_index_entry *ww_index_get(ww_index *ix, const char *uid) { return find(ix, uid, 0); }

void ww_index_del(ww_index *ix, const char *uid) {
    ww_index_entry *e = find(ix, uid, 0);
    if (!e) return;
    free(e->key);
    e->key = NULL;
    e->tomb = 1;
    ix->len--;
}

size_t ww_index_bytes(const ww_index *ix) {
    size_t b = ix->cap * sizeof(ww_index_entry);
    for (size_t i = 0; i < ix->cap; i++)
        if (ix->slots[i].key) {
            const ww_index_entry *e = &ix->slots[i];
            const char *r = ww_index_rv(e);
            b += (size_t)(r + strlen(r) + 1 - e->key);
        }
    return b;
}
