/* raw.c - the raw watch-event format. */
#include "encode/encode.h"

ww_rc ww_encode_raw(const ww_delta *d, ww_buf *out) {
    ww_rc rc;
    switch (d->type) {
    case WW_DELTA_ADDED:
    case WW_DELTA_MODIFIED:
    case WW_DELTA_DELETED:
        return ww_buf_append(out, d->line.p, d->line.n);
    case WW_DELTA_SNAPSHOT_ITEM:
        if ((rc = ww_buf_puts(out, "{\"type\":\"ADDED\",\"object\":"))) return rc;
        if ((rc = ww_buf_append(out, d->object.p, d->object.n))) return rc;
        return ww_buf_puts(out, "}");
    default:
        return WW_AGAIN;
    }
}
