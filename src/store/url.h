/* url.h - parsing of the configmap:// and redis:// checkpoint URLs, kept
 * apart from the backends so the unit tests can reach them.
 *
 * Error messages never contain a password: they show the URL as
 * ww_store_redact prints it. */
#ifndef WW_STORE_URL_H
#define WW_STORE_URL_H

#include <stddef.h>
#include "core/rc.h"

/* configmap://NAMESPACE/NAME[?part-bytes=N] */
#define WW_CONFIGMAP_PART_BYTES_DEFAULT 921600 /* 900 KiB: a ConfigMap holds at most 1 MiB */
#define WW_CONFIGMAP_PART_BYTES_MIN 1024
#define WW_CONFIGMAP_PART_BYTES_MAX 1000000

typedef struct {
    char ns[64];   /* a DNS-1123 label */
    char name[64]; /* a DNS-1123 subdomain of at most 63 characters (it is also a label value) */
    size_t part_bytes;
} ww_configmap_url;

ww_rc ww_configmap_url_parse(const char *url, ww_configmap_url *out, char *err, size_t errsz);

/* redis://[[USER]:PASSWORD@]HOST[:PORT][/KEY][?db=N]
 * HOST may be a name, an IPv4 address or [IPv6]; USER, PASSWORD and KEY are
 * percent-decoded. The userinfo ends at the last '@' of the URL, so a
 * password may hold '/', ':' or '?' as they are (a key holding '@' is
 * written %40). */
#define WW_REDIS_DEFAULT_PORT 6379
#define WW_REDIS_DEFAULT_KEY "workflow-watcher"

typedef struct {
    char host[256];
    int port;
    int db;
    char *user;     /* NULL: none (AUTH PASSWORD) */
    char *password; /* NULL: none; freed with wiping */
    char *key;
} ww_redis_url;

/* default_password is used when the URL has none (--redis-password); may be
 * NULL or empty. Free out with ww_redis_url_free, also after an error. */
ww_rc ww_redis_url_parse(const char *url, const char *default_password, ww_redis_url *out, char *err, size_t errsz);
void ww_redis_url_free(ww_redis_url *u);

#endif
