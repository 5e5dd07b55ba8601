/* framer.c - newline framing across chunk boundaries. */
#include "watch/framer.h"

#include <string.h>

void ww_framer_init(ww_framer *f, size_t max_line, ww_line_fn on_line, void *ud) {
    ww_buf_init(&f->partial, max_line);
    f->on_line = on_line;
    f->ud = ud;
}

void ww_framer_free(ww_framer *f) { ww_buf_free(&f->partial); }
void ww_framer_reset(ww_framer *f) { ww_buf_reset(&f->partial); }
size_t ww_framer_pending(const ww_framer *f) { return f->partial.len; }

static ww_rc emit(ww_framer *f, const char *p, size_t n) {
    if (n && p[n - 1] == '\r') n--;
    if (n == 0) return WW_OK;
    return f->on_line(f->ud, p, n);
}

ww_rc ww_framer_feed(ww_framer *f, const char *data, size_t n) {
    const char *p = data, *end = data + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            ww_rc rc = ww_buf_append(&f->partial, p, (size_t)(end - p));
            if (rc) ww_framer_reset(f);
            return rc;
        }
        ww_rc rc;
        if (f->partial.len) {
            rc = ww_buf_append(&f->partial, p, (size_t)(nl - p));
            if (rc) {
                ww_framer_reset(f);
                return rc;
            }
            rc = emit(f, f->partial.p, f->partial.len);
            ww_buf_reset(&f->partial);
        } else {
            if ((size_t)(nl - p) > f->partial.max) return WW_ETOOBIG;
            rc = emit(f, p, (size_t)(nl - p));
        }
        if (rc) return rc;
        p = nl + 1;
    }
    return WW_OK;
}
