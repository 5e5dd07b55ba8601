/* base64.h - strict standard base64 decoding (whitespace ignored). */
#ifndef WW_BASE64_H
#define WW_BASE64_H

#include <stddef.h>
#include "core/rc.h"

/* Decodes n bytes of text into a fresh malloc'd buffer (*out, *outlen; one
 * extra NUL byte is added). WW_EINVAL on a character outside the alphabet or
 * bad padding. */
ww_rc ww_base64_decode(const char *in, size_t n, unsigned char **out, size_t *outlen);

/* Encodes n bytes as padded standard base64 in a fresh malloc'd,
 * NUL-terminated string, or NULL when out of memory. */
char *ww_base64_encode(const unsigned char *in, size_t n);

#endif
