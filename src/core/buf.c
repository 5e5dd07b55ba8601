/* buf.c - capped growable buffer. */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secret.h"

void ww_buf_init(ww_buf *b, size_t max) {
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->secret = 0;
}

void ww_buf_init_secret(ww_buf *b, size_t max) {
    ww_buf_init(b, max);
    b->secret = 1;
}

void ww_buf_free(ww_buf *b) {
    if (!b) return;
    if (b->secret)
        ww_secret_free(b->p, b->cap);
    else
        free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void ww_buf_reset(ww_buf *b) {
    if (b->p && b->secret) ww_secret_wipe(b->p, b->len);
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

/* A block of ncap bytes holding the content: realloc, or for a secret a
 * fresh block (the old one is wiped and freed). */
static char *regrow(ww_buf *b, size_t ncap) {
    if (!b->secret) return realloc(b->p, ncap);
    char *np = malloc(ncap);
    if (np && b->p) {
        memcpy(np, b->p, b->len + 1);
        ww_secret_free(b->p, b->cap);
    }
    return np;
}

static ww_rc reserve(ww_buf *b, size_t extra) {
    if (extra > b->max || b->len > b->max - extra) return WW_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return WW_OK;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need) ncap *= 2;
    if (ncap > b->max + 1) ncap = b->max + 1;
    char *np = regrow(b, ncap);
    if (!np) return WW_ENOMEM;
    b->p = np;
    b->cap = ncap;
    return WW_OK;
}

ww_rc ww_buf_append(ww_buf *b, const void *data, size_t n) {
    ww_rc rc = reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return WW_OK;
}

ww_rc ww_buf_puts(ww_buf *b, const char *s) { return ww_buf_append(b, s, strlen(s)); }

ww_rc ww_buf_printf(ww_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return WW_EINVAL;
    if ((size_t)n < sizeof small) return ww_buf_append(b, small, (size_t)n);
    ww_rc rc = reserve(b, (size_t)n);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return WW_OK;
}

ww_rc ww_buf_json_escape(ww_buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t en = 0;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            en = 2;
        } else if (c == '\n') {
            memcpy(esc, "\\n", 2);
            en = 2;
        } else if (c == '\t') {
            memcpy(esc, "\\t", 2);
            en = 2;
        } else if (c == '\r') {
            memcpy(esc, "\\r", 2);
            en = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            en = 6;
        }
        ww_rc rc = en ? ww_buf_append(b, esc, en) : ww_buf_append(b, &s[i], 1);
        if (rc) return rc;
    }
    return WW_OK;
}

void ww_buf_consume(ww_buf *b, size_t n) {
    if (n >= b->len) {
        ww_buf_reset(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    if (b->secret) ww_secret_wipe(b->p + b->len - n, n);
    b->len -= n;
    b->p[b->len] = '\0';
}
