/* json.c - a validating skipper for JSON (RFC 8259) and lookups on spans. */
#include "core/json.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 256

static const char *ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* p at the opening quote; returns pointer past the closing quote or NULL. */
static const char *skip_string(const char *p, const char *end) {
    p++;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c == '\\') {
            if (++p >= end) return NULL;
            switch (*p) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': p++; break;
            case 'u':
                if (end - p < 5) return NULL;
                for (int i = 1; i <= 4; i++)
                    if (hexval(p[i]) < 0) return NULL;
                p += 5;
                break;
            default: return NULL;
            }
        } else {
            p++;
        }
    }
    return NULL;
}

static const char *skip_number(const char *p, const char *end) {
    const char *s = p;
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9') p++;
    else
        return NULL;
    if (p < end && *p == '.') {
        p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == d) return NULL;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == d) return NULL;
    }
    return p > s ? p : NULL;
}

static const char *skip_value(const char *p, const char *end, int depth) {
    p = ws(p, end);
    if (p >= end) return NULL;
    switch (*p) {
    case '"': return skip_string(p, end);
    case '{':
    case '[': {
        if (depth >= MAX_DEPTH) return NULL; /* this would be level MAX_DEPTH + 1 */
        char close = *p == '{' ? '}' : ']';
        int obj = *p == '{';
        p = ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (obj) {
                p = ws(p, end);
                if (p >= end || *p != '"') return NULL;
                if (!(p = skip_string(p, end))) return NULL;
                p = ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p++;
            }
            if (!(p = skip_value(p, end, depth + 1))) return NULL;
            p = ws(p, end);
            if (p >= end) return NULL;
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == close) return p + 1;
            return NULL;
        }
    }
    case 't': return (end - p >= 4 && memcmp(p, "true", 4) == 0) ? p + 4 : NULL;
    case 'f': return (end - p >= 5 && memcmp(p, "false", 5) == 0) ? p + 5 : NULL;
    case 'n': return (end - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4 : NULL;
    default: return skip_number(p, end);
    }
}

ww_rc ww_json_skip(const char *p, const char *end, const char **next) {
    const char *q = skip_value(p, end, 0);
    if (!q) return WW_EPROTO;
    *next = q;
    return WW_OK;
}

ww_rc ww_json_validate(ww_span s) {
    const char *end = s.p + s.n, *q;
    if (ww_json_skip(s.p, end, &q)) return WW_EPROTO;
    return ws(q, end) == end ? WW_OK : WW_EPROTO;
}

/* Compares the raw string token [p,q) (with quotes) to key. Keys from the
 * API server have no escapes; an escaped key simply never matches. */
static int key_eq(const char *p, const char *q, const char *key) {
    size_t n = (size_t)(q - p) - 2;
    return strlen(key) == n && memcmp(p + 1, key, n) == 0;
}

ww_rc ww_json_object_next(ww_span obj, ww_json_iter *it, ww_span *key, ww_span *val) {
    const char *end = obj.p + obj.n;
    const char *p;
    if (it->done) return WW_EINVAL;
    if (!it->started) {
        p = ws(obj.p, end);
        if (p >= end || *p != '{') return WW_EINVAL;
        p = ws(p + 1, end);
        if (p < end && *p == '}') {
            it->pos = p + 1;
            it->started = it->done = 1;
            return WW_EINVAL;
        }
        it->started = 1;
        it->end = end;
    } else {
        p = ws(it->pos, end);
        if (p >= end) return WW_EPROTO;
        if (*p == '}') {
            it->pos = p + 1;
            it->done = 1;
            return WW_EINVAL;
        }
        if (*p != ',') return WW_EPROTO;
        p = ws(p + 1, end);
    }
    if (p >= end || *p != '"') return WW_EPROTO;
    const char *k = p;
    if (!(p = skip_string(p, end))) return WW_EPROTO;
    key->p = k;
    key->n = (size_t)(p - k);
    p = ws(p, end);
    if (p >= end || *p != ':') return WW_EPROTO;
    p = ws(p + 1, end);
    const char *v = p;
    if (!(p = skip_value(p, end, 1))) return WW_EPROTO;
    val->p = v;
    val->n = (size_t)(p - v);
    it->pos = p;
    return WW_OK;
}

ww_rc ww_json_array_next(ww_span arr, ww_json_iter *it, ww_span *elem) {
    const char *end = arr.p + arr.n;
    const char *p;
    if (!it->started) {
        p = ws(arr.p, end);
        if (p >= end || *p != '[') return WW_EPROTO;
        p = ws(p + 1, end);
        if (p < end && *p == ']') return WW_EINVAL;
        it->started = 1;
    } else {
        p = ws(it->pos, end);
        if (p >= end) return WW_EPROTO;
        if (*p == ']') return WW_EINVAL;
        if (*p != ',') return WW_EPROTO;
        p = ws(p + 1, end);
    }
    const char *v = p;
    if (!(p = skip_value(p, end, 1))) return WW_EPROTO;
    elem->p = v;
    elem->n = (size_t)(p - v);
    it->pos = p;
    return WW_OK;
}

ww_rc ww_json_get(ww_span obj, const char *key, ww_span *val) {
    ww_rc rc = ww_json_get_many(obj, &key, val, 1);
    if (rc) return rc;
    return val->p ? WW_OK : WW_EINVAL;
}

ww_rc ww_json_path(ww_span obj, ww_span *val, ...) {
    va_list ap;
    va_start(ap, val);
    ww_span cur = obj;
    const char *key;
    ww_rc rc = WW_OK;
    while ((key = va_arg(ap, const char *)) != NULL) {
        if ((rc = ww_json_get(cur, key, &cur))) break;
    }
    va_end(ap);
    if (rc) {
        val->p = NULL;
        val->n = 0;
        return rc;
    }
    *val = cur;
    return WW_OK;
}

static size_t put_utf8(char *o, unsigned long cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The character a one-letter escape stands for (", \\ and / stand for themselves). */
static char unescape(char c) {
    switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    default: return c;
    }
}

static unsigned long hex4(const char *p) {
    unsigned long v = 0;
    for (int i = 0; i < 4; i++) v = v * 16 + (unsigned long)hexval(p[i]);
    return v;
}

ww_rc ww_json_str(ww_span v, char *out, size_t outsz) {
    if (!v.p || v.n < 2 || v.p[0] != '"' || skip_string(v.p, v.p + v.n) != v.p + v.n) return WW_EINVAL;
    if (outsz == 0) return WW_ETOOBIG; /* not even room for the NUL */
    size_t o = 0;
    const char *p = v.p + 1, *end = v.p + v.n - 1;
    while (p < end) {
        char tmp[4];
        size_t tn;
        if (*p != '\\') {
            tmp[0] = *p++;
            tn = 1;
        } else {
            p++;
            char c = *p++;
            if (c == 'u') {
                unsigned long cp = hex4(p);
                p += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                    unsigned long lo = hex4(p + 2);
                    if (lo >= 0xDC00 && lo < 0xE000) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        p += 6;
                    }
                }
                tn = put_utf8(tmp, cp);
            } else {
                tmp[0] = unescape(c);
                tn = 1;
            }
        }
        if (o + tn >= outsz) return WW_ETOOBIG;
        memcpy(out + o, tmp, tn);
        o += tn;
    }
    out[o] = '\0';
    return WW_OK;
}

char *ww_json_strdup(ww_span v) {
    if (!v.p || v.n < 2) return NULL;
    char *s = malloc(v.n);
    if (!s) return NULL;
    if (ww_json_str(v, s, v.n)) {
        free(s);
        return NULL;
    }
    return s;
}

int ww_json_key_is(ww_span key, const char *name) { return key.n >= 2 && key_eq(key.p, key.p + key.n, name); }

ww_rc ww_json_get_many(ww_span obj, const char *const *keys, ww_span *vals, size_t n) {
    ww_json_iter it = {0};
    ww_span k, v;
    ww_rc rc;
    size_t found = 0;
    for (size_t i = 0; i < n; i++) vals[i].p = NULL, vals[i].n = 0;
    while (found < n && (rc = ww_json_object_next(obj, &it, &k, &v)) == WW_OK)
        for (size_t i = 0; i < n; i++)
            if (!vals[i].p && key_eq(k.p, k.p + k.n, keys[i])) {
                vals[i] = v;
                found++;
                break;
            }
    if (found == n) return WW_OK;
    return rc == WW_EPROTO ? WW_EPROTO : WW_OK;
}

ww_rc ww_json_object_end(ww_span obj, const ww_json_iter *it) {
    const char *end = obj.p + obj.n;
    return it->done && ws(it->pos, end) == end ? WW_OK : WW_EPROTO;
}
