/* raw.c - the raw watch-event format. */
#include <string.h>

#include "encode/encode.h"

ww_rc ww_encode_raw(const ww_change *c, ww_buf *out) {
    static const char *types[] = {"ADDED", "MODIFIED", "DELETED"};
    ww_rc rc;
    if (c->line.n) {
        /* The event as received, with the id added as its last field. */
        size_t n = c->line.n;
        while (n && c->line.p[n - 1] != '}') n--;
        if (!n) return WW_EPROTO;
        rc = ww_buf_append(out, c->line.p, n - 1);
    } else {
        rc = ww_buf_printf(out, "{\"type\":\"%s\",\"object\":", types[c->type]);
        if (!rc) rc = ww_buf_append(out, c->object.p, c->object.n);
        if (!rc && c->recovered) rc = ww_buf_puts(out, ",\"recovered\":true");
    }
    if (!rc) rc = ww_buf_puts(out, ",\"id\":\"");
    if (!rc) rc = ww_buf_json_escape(out, c->id, strlen(c->id));
    if (!rc) rc = ww_buf_puts(out, "\"}");
    return rc;
}
