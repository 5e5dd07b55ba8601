/* base64.c - RFC 4648 base64 decoding. */
#include "core/base64.h"

#include <stdlib.h>

#include "core/secret.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ww_base64_encode(const unsigned char *in, size_t n) {
    char *out = malloc((n + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

ww_rc ww_base64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen) {
    *out = NULL;
    *outlen = 0;
    unsigned char *o = malloc(n / 4 * 3 + 4);
    if (!o) return WW_ENOMEM;
    size_t on = 0;
    unsigned acc = 0;
    int bits = 0, pad = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            count++;
            continue;
        }
        int v = val(c);
        if (v < 0 || pad) goto bad;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        count++;
        if (bits >= 8) {
            bits -= 8;
            o[on++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (pad > 2 || count % 4 != 0 || (pad && count == pad)) goto bad;
    o[on] = 0;
    *out = o;
    *outlen = on;
    return WW_OK;
bad:
    /* what was decoded so far may be part of a key */
    ww_secret_free(o, on);
    return WW_EINVAL;
}
