/* sink.c - the registry of sink backends. */
#include "sink/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const ww_sink_type ww_sink_stdout;
extern const ww_sink_type ww_sink_file;

static const ww_sink_type *const types[] = {&ww_sink_stdout, &ww_sink_file};

ww_rc ww_sink_open(const char *url, ww_sink **out, char *err, size_t errsz) {
    *out = NULL;
    const char *colon = strstr(url, "://");
    size_t n = colon ? (size_t)(colon - url) : strlen(url);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strlen(types[i]->scheme) != n || strncmp(types[i]->scheme, url, n)) continue;
        ww_sink *s = calloc(1, sizeof *s);
        if (!s) return WW_ENOMEM;
        s->type = types[i];
        ww_rc rc = s->type->open(url, &s->state, err, errsz);
        if (rc) {
            free(s);
            return rc;
        }
        *out = s;
        return WW_OK;
    }
    snprintf(err, errsz, "--sink %s: unknown sink (known: stdout, file://PATH)", url);
    return WW_EINVAL;
}

void ww_sink_close(ww_sink *s) {
    if (!s) return;
    s->type->close(s->state);
    free(s);
}
