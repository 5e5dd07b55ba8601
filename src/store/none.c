/* none.c - no checkpoint: every start lists from scratch (and, with
 * --initial-state=emit, publishes every existing object again). */
#include <stdio.h>

#include "store/store.h"

static int g_none;

static ww_rc no_open(const char *url, const ww_store_env *env, void **state, char *err, size_t errsz) {
    (void)env, (void)err, (void)errsz;
    if (url[4] && (url[4] != ':' || url[5] != '/' || url[6] != '/' || url[7])) {
        snprintf(err, errsz, "--checkpoint %s: write just \"none\"", url);
        return WW_EINVAL;
    }
    *state = &g_none;
    return WW_OK;
}
static ww_rc no_load(void *state, ww_buf *out, char *err, size_t errsz) {
    (void)state, (void)out, (void)err, (void)errsz;
    return WW_ENOENT;
}
static ww_rc no_save(void *state, const char *data, size_t n, char *err, size_t errsz) {
    (void)state, (void)data, (void)n, (void)err, (void)errsz;
    return WW_OK;
}
static void no_close(void *state) { (void)state; }

const ww_store_type ww_store_none = {"none", no_open, no_load, no_save, no_close, NULL, NULL};
