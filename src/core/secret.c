/* secret.c - wipe-then-free. */
#include "core/secret.h"

#include <stdlib.h>
#include <string.h>

void ww_secret_wipe(void *p, size_t n) {
    volatile unsigned char *v = p;
    for (size_t i = 0; i < n; i++) v[i] = 0;
}

void ww_secret_free(void *p, size_t n) {
    if (!p) return;
    ww_secret_wipe(p, n);
    free(p);
}

void ww_secret_free_str(char *s) {
    if (s) ww_secret_free(s, strlen(s));
}
