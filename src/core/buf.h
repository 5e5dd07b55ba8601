/* buf.h - a growable byte buffer with a cap (curl's dynbuf idea).
 *
 * Nothing grows without bound: every append past `max` fails with
 * WW_ETOOBIG and leaves the buffer as it was. The content is always
 * NUL-terminated so it can be passed to string functions. */
#ifndef WW_BUF_H
#define WW_BUF_H

#include <stddef.h>
#include "core/rc.h"

typedef struct {
    char *p;
    size_t len;
    size_t cap;
    size_t max;
    int secret; /* see ww_buf_init_secret */
} ww_buf;

void ww_buf_init(ww_buf *b, size_t max);
/* As ww_buf_init, for a buffer that holds a secret (a token, a key, a file
 * that may contain them): growing copies it to a new block and wipes the
 * old one (realloc would leave the old copy in freed memory), and free,
 * reset and consume wipe what they drop. */
void ww_buf_init_secret(ww_buf *b, size_t max);
void ww_buf_free(ww_buf *b);
void ww_buf_reset(ww_buf *b);
ww_rc ww_buf_append(ww_buf *b, const void *data, size_t n);
ww_rc ww_buf_puts(ww_buf *b, const char *s);
ww_rc ww_buf_printf(ww_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as the inside of a JSON string (no quotes added). */
ww_rc ww_buf_json_escape(ww_buf *b, const char *s, size_t n);
/* Removes the first n bytes. */
void ww_buf_consume(ww_buf *b, size_t n);

#endif
