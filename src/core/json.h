/* json.h - find values inside raw JSON text without building a tree.
 *
 * Objects from the API server are passed on byte for byte; we only need a
 * few fields out of them (type, metadata.resourceVersion, uid, ...). These
 * functions locate a value as a span of the original bytes, so nothing is
 * re-serialised (no int64 precision loss) and nothing is copied. */
#ifndef WW_JSON_H
#define WW_JSON_H

#include <stddef.h>
#include "core/rc.h"

typedef struct {
    const char *p;
    size_t n;
} ww_span;

/* Skips whitespace and one complete JSON value starting at p (before end).
 * On success *next points just past the value. WW_EPROTO on malformed
 * input or nesting deeper than 256. */
ww_rc ww_json_skip(const char *p, const char *end, const char **next);
/* WW_OK if s is exactly one JSON value, with optional surrounding space. */
ww_rc ww_json_validate(ww_span s);
/* Looks up key in the object s. WW_EINVAL if s is not an object or has no
 * such key (value span then empty). */
ww_rc ww_json_get(ww_span obj, const char *key, ww_span *val);
/* Follows a NULL-terminated list of keys. */
ww_rc ww_json_path(ww_span obj, ww_span *val, ...);
/* Decodes a JSON string value into out (NUL-terminated, UTF-8). WW_EINVAL
 * if v is not a string, WW_ETOOBIG if it does not fit. */
ww_rc ww_json_str(ww_span v, char *out, size_t outsz);
/* Same, into a fresh malloc'd string, or NULL. */
char *ww_json_strdup(ww_span v);
/* Iterates the elements of an array: start with *it = {0} and call until it
 * returns WW_EINVAL (end) or WW_EPROTO (malformed). */
typedef struct {
    const char *pos;
    const char *end;
    int started;
    int done; /* the closing brace was reached: pos is just past it */
} ww_json_iter;
ww_rc ww_json_array_next(ww_span arr, ww_json_iter *it, ww_span *elem);
/* Iterates key/value pairs of an object the same way. */
ww_rc ww_json_object_next(ww_span obj, ww_json_iter *it, ww_span *key, ww_span *val);

/* 1 if the raw key token (with quotes) equals name. */
int ww_json_key_is(ww_span key, const char *name);
/* One pass over obj: vals[i] gets the value of keys[i] (empty if absent).
 * WW_EPROTO if obj is malformed before all keys were found. */
ww_rc ww_json_get_many(ww_span obj, const char *const *keys, ww_span *vals, size_t n);
/* After ww_json_object_next returned WW_EINVAL (the closing brace): WW_OK
 * if only whitespace follows the object in obj. */
ww_rc ww_json_object_end(ww_span obj, const ww_json_iter *it);

#endif
