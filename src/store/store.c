/* store.c - the registry of checkpoint stores. */
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const ww_store_type ww_store_file;
extern const ww_store_type ww_store_none;
extern const ww_store_type ww_store_configmap;
extern const ww_store_type ww_store_redis;

static const ww_store_type *types[] = {&ww_store_file, &ww_store_configmap, &ww_store_redis, &ww_store_none};

/* The userinfo ends at the last '@' (as redis:// parses it), so a password
 * holding '/', '?' or '@' is still hidden whole; userinfo without a colon
 * (maybe a password written without it) is hidden too. file:// paths may
 * hold '@' and ':' and carry no secret. */
void ww_store_redact(const char *url, char *out, size_t outsz) {
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    const char *at = strrchr(auth, '@');
    if (!sep || !at || !strncmp(url, "file://", 7)) {
        snprintf(out, outsz, "%s", url);
        return;
    }
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon) {
        snprintf(out, outsz, "%.*s***%s", (int)(auth - url), url, at);
        return;
    }
    snprintf(out, outsz, "%.*s:***%s", (int)(colon - url), url, at);
}

ww_rc ww_store_open(const char *url, const ww_store_env *env, ww_store **out, char *err, size_t errsz) {
    *out = NULL;
    char shown[1024];
    ww_store_redact(url, shown, sizeof shown);
    const char *sep = strstr(url, "://");
    size_t n = sep ? (size_t)(sep - url) : strlen(url);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strlen(types[i]->scheme) != n || strncmp(types[i]->scheme, url, n)) continue;
        ww_store *s = calloc(1, sizeof *s);
        if (!s || !(s->url = strdup(shown))) {
            free(s);
            return WW_ENOMEM;
        }
        s->type = types[i];
        ww_rc rc = s->type->open(url, env, &s->state, err, errsz);
        if (rc) {
            free(s->url);
            free(s);
            return rc;
        }
        *out = s;
        return WW_OK;
    }
    snprintf(err, errsz,
             "--checkpoint %s: unknown store (known: file://PATH, configmap://NAMESPACE/NAME, "
             "redis://[:PASSWORD@]HOST:PORT/KEY, none)",
             shown);
    return WW_EINVAL;
}

void ww_store_close(ww_store *s) {
    if (!s) return;
    s->type->close(s->state);
    free(s->url);
    free(s);
}
