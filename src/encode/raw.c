/* raw.c - the raw watch-event format. */
#include "encode/encode.h"

ww_rc ww_encode_raw(const ww_change *c, ww_buf *out) {
    static const char *types[] = {"ADDED", "MODIFIED", "DELETED"};
    if (c->line.n) return ww_buf_append(out, c->line.p, c->line.n);
    ww_rc rc = ww_buf_printf(out, "{\"type\":\"%s\",\"object\":", types[c->type]);
    if (!rc) rc = ww_buf_append(out, c->object.p, c->object.n);
    if (!rc) rc = ww_buf_puts(out, c->recovered ? ",\"recovered\":true}" : "}");
    return rc;
}
