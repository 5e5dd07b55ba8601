/* redis.c - the checkpoint in a Redis key (hiredis):
 * redis://[[USER]:PASSWORD@]HOST[:PORT][/KEY][?db=N].
 *
 * The blob is the value of KEY (SET is atomic: a reader sees the old or the
 * new value). Beside it, KEY:version holds a token naming the writer
 * ("host=... pid=... run=... seq=N"), replaced in the same MULTI/EXEC as KEY
 * under WATCH. A save first checks that KEY:version still holds the token of
 * our last load or save: when another writer (a second watcher on the same
 * key, an old pod during a rolling update) saved in between, the save fails
 * with WW_ECONFLICT and the message names that writer, as with configmap://.
 * When the answer to an EXEC was lost, the next save recognises its own token
 * and goes on. When both keys are gone (a restart without persistence, an
 * eviction), the next save writes them again with a warning: a second
 * watcher would have left its token.
 *
 * The journal (store.h) is the list KEY:journal: journal_append() pushes its
 * records as one element (RPUSH, one command), journal_load() reads the list
 * in order (LRANGE), and save() deletes it in the MULTI/EXEC that writes KEY
 * and KEY:version, so the new blob and the emptied journal appear together.
 * A record is as durable as the server makes its writes (appendonly with
 * appendfsync); an RPUSH whose answer was lost fails with WW_RETRY and is
 * pushed again, so the list may name an object twice: harmless.
 *
 * Connections time out (connect 5 s, each command 10 s) and use TCP
 * keepalive; after a failure the next call reconnects. The password (from the
 * URL or --redis-password) is sent with AUTH only and never printed: messages
 * show the URL as ww_store_redact prints it, and the server's replies are
 * scrubbed of it. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/secret.h"
#include "store/store.h"
#include "store/url.h"

#define CONNECT_TIMEOUT_S 5
#define COMMAND_TIMEOUT_S 10

typedef struct {
    ww_redis_url u;
    char where[300]; /* "redis key KEY at HOST:PORT" */
    redisContext *c;
    int had_failure;
    char *vkey;    /* KEY:version */
    char *jkey;    /* KEY:journal */
    int known;     /* ver reflects the server after a load or save */
    char *ver;     /* KEY:version at our last load/save; NULL: absent */
    char *pending; /* token of a save whose EXEC answer was lost */
    char writer[200];
    unsigned long long seq;
} rd_store;

/* ---- URL ---- */

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes n bytes into a fresh string; NULL on a bad escape or NUL. */
static char *pct_decode(const char *s, size_t n, int *bad) {
    char *o = malloc(n + 1);
    size_t k = 0;
    *bad = 0;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            o[k++] = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            ww_secret_free(o, n + 1);
            *bad = 1;
            return NULL;
        }
        o[k++] = (char)(hi * 16 + lo);
        i += 2;
    }
    o[k] = '\0';
    return o;
}

void ww_redis_url_free(ww_redis_url *u) {
    if (!u) return;
    free(u->user);
    ww_secret_free_str(u->password);
    free(u->key);
    u->user = u->password = u->key = NULL;
}

ww_rc ww_redis_url_parse(const char *url, const char *default_password, ww_redis_url *out, char *err, size_t errsz) {
    static const char usage[] = "expected redis://[:PASSWORD@]HOST[:PORT][/KEY][?db=N]";
    char shown[1024];
    ww_store_redact(url, shown, sizeof shown);
    memset(out, 0, sizeof *out);
    out->port = WW_REDIS_DEFAULT_PORT;
    if (strncmp(url, "redis://", 8)) {
        snprintf(err, errsz, "--checkpoint %s: %s", shown, usage);
        return WW_EINVAL;
    }
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    int bad = 0;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            snprintf(err, errsz,
                     "--checkpoint %s: the part before '@' must be :PASSWORD or USER:PASSWORD (a colon is missing); "
                     "%s",
                     shown, usage);
            return WW_EINVAL;
        }
        if (colon > p && !(out->user = pct_decode(p, (size_t)(colon - p), &bad))) goto bad_escape;
        if (at > colon + 1 && !(out->password = pct_decode(colon + 1, (size_t)(at - colon - 1), &bad))) goto bad_escape;
        p = at + 1;
    }
    /* HOST[:PORT] */
    const char *hend = p + strcspn(p, "/?");
    const char *port = NULL, *hostp = p, *hostend;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(hend - p));
        if (!rb || rb == p + 1 || (rb + 1 < hend && rb[1] != ':')) {
            snprintf(err, errsz, "--checkpoint %s: bad [IPv6] address; %s", shown, usage);
            return WW_EINVAL;
        }
        hostp = p + 1;
        hostend = rb;
        if (rb + 1 < hend) port = rb + 2;
    } else {
        const char *colon = memchr(p, ':', (size_t)(hend - p));
        hostend = colon ? colon : hend;
        if (colon) port = colon + 1;
    }
    size_t hl = (size_t)(hostend - hostp);
    if (hl == 0 || hl >= sizeof out->host) {
        snprintf(err, errsz, "--checkpoint %s: no HOST; %s", shown, usage);
        return WW_EINVAL;
    }
    for (size_t i = 0; i < hl; i++) {
        char ch = hostp[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '.' || ch == '_' || (ch == ':' && *p == '['))) {
            snprintf(err, errsz, "--checkpoint %s: the host \"%.*s\" is not a host name or address; %s", shown, (int)hl,
                     hostp, usage);
            return WW_EINVAL;
        }
    }
    memcpy(out->host, hostp, hl);
    if (port) {
        long v = 0;
        const char *q = port;
        for (; q < hend && *q >= '0' && *q <= '9' && v <= 65535; q++) v = v * 10 + (*q - '0');
        if (q == port || q != hend || v < 1 || v > 65535) {
            snprintf(err, errsz, "--checkpoint %s: the port \"%.*s\" is not a number from 1 to 65535", shown,
                     (int)(hend - port), port);
            return WW_EINVAL;
        }
        out->port = (int)v;
    }
    /* /KEY */
    p = hend;
    const char *qm = strchr(p, '?');
    const char *kend = qm ? qm : p + strlen(p);
    if (*p == '/' && kend > p + 1) {
        if (!(out->key = pct_decode(p + 1, (size_t)(kend - p - 1), &bad))) goto bad_escape;
    } else if (!(out->key = strdup(WW_REDIS_DEFAULT_KEY))) {
        return WW_ENOMEM;
    }
    /* ?db=N */
    for (const char *kv = qm ? qm + 1 : ""; *kv;) {
        const char *amp = strchr(kv, '&');
        size_t kvl = amp ? (size_t)(amp - kv) : strlen(kv);
        if (kvl > 3 && !strncmp(kv, "db=", 3)) {
            long v = 0;
            size_t i = 3;
            for (; i < kvl && kv[i] >= '0' && kv[i] <= '9' && v < 1000000; i++) v = v * 10 + (kv[i] - '0');
            if (i != kvl || v >= 1000000) {
                snprintf(err, errsz, "--checkpoint %s: db=%.*s: expected a database number", shown, (int)(kvl - 3),
                         kv + 3);
                return WW_EINVAL;
            }
            out->db = (int)v;
        } else if (kvl) {
            const char *eq = memchr(kv, '=', kvl);
            snprintf(err, errsz, "--checkpoint %s: unknown parameter \"%.*s\" (known: db=N)", shown,
                     (int)(eq ? (size_t)(eq - kv) : kvl), kv);
            return WW_EINVAL;
        }
        kv += kvl + (amp ? 1 : 0);
    }
    if (!out->password && default_password && *default_password && !(out->password = strdup(default_password)))
        return WW_ENOMEM;
    return WW_OK;
bad_escape:
    if (!bad) return WW_ENOMEM;
    snprintf(err, errsz, "--checkpoint %s: a '%%' escape is not %%XX (or is %%00)", shown);
    return WW_EINVAL;
}

/* ---- connection and errors ---- */

/* Copies a server reply into out with the password replaced by ***. */
static void scrub(const rd_store *s, const char *in, size_t n, char *out, size_t outsz) {
    const char *pw = s->u.password;
    size_t pl = pw ? strlen(pw) : 0, o = 0;
    for (size_t i = 0; i < n && o + 1 < outsz;) {
        if (pl && i + pl <= n && !memcmp(in + i, pw, pl)) {
            for (const char *r = "***"; *r && o + 1 < outsz; r++) out[o++] = *r;
            i += pl;
        } else {
            out[o++] = in[i++];
        }
    }
    if (outsz) out[o] = '\0';
}

static void drop(rd_store *s) {
    if (s->c) redisFree(s->c);
    s->c = NULL;
    s->had_failure = 1;
}

/* The connection failed during what: WW_RETRY, reconnect next time. */
static ww_rc io_error(rd_store *s, const char *what, char *err, size_t errsz) {
    snprintf(err, errsz, "%s: cannot %s: %s", s->where, what, s->c && s->c->err ? s->c->errstr : "connection lost");
    drop(s);
    return WW_RETRY;
}

static int starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

/* An error reply to what. */
static ww_rc reply_error(rd_store *s, const char *what, const redisReply *r, char *err, size_t errsz) {
    char text[512];
    scrub(s, r->str ? r->str : "", r->str ? r->len : 0, text, sizeof text);
    if (starts(text, "NOAUTH")) {
        snprintf(err, errsz,
                 "%s: the server requires a password (%s): give it with --redis-password or in the --checkpoint "
                 "URL as redis://:PASSWORD@HOST:PORT/KEY",
                 s->where, text);
        return WW_EAUTH;
    }
    if (starts(text, "WRONGPASS") || strstr(text, "invalid password") || strstr(text, "invalid username-password")) {
        snprintf(err, errsz,
                 "%s: the server refused the password (%s): check --redis-password or the password in the "
                 "--checkpoint URL",
                 s->where, text);
        return WW_EAUTH;
    }
    if (!strcmp(what, "authenticate")) {
        snprintf(err, errsz, "%s: the server refused AUTH (%s)", s->where, text);
        return WW_EAUTH;
    }
    if (starts(text, "NOPERM")) {
        snprintf(err, errsz, "%s: cannot %s: the redis user lacks a permission (%s)", s->where, what, text);
        return WW_EAUTH;
    }
    if (starts(text, "WRONGTYPE")) {
        snprintf(err, errsz, "%s: cannot %s: the key holds another type than a string (%s); name another key", s->where,
                 what, text);
        return WW_EINVAL;
    }
    if (starts(text, "MOVED") || starts(text, "ASK ")) {
        snprintf(err, errsz, "%s: cannot %s: Redis Cluster redirections are not supported (%s)", s->where, what, text);
        return WW_EINVAL;
    }
    snprintf(err, errsz, "%s: cannot %s: %s", s->where, what, text);
    if (starts(text, "READONLY") || starts(text, "MASTERDOWN")) drop(s); /* a failover: reconnect */
    if (starts(text, "LOADING") || starts(text, "BUSY") || starts(text, "READONLY") || starts(text, "MASTERDOWN") ||
        starts(text, "TRYAGAIN") || starts(text, "CLUSTERDOWN") || starts(text, "OOM"))
        return WW_RETRY;
    return WW_EIO;
}

/* Runs one command; *out is the reply (an error reply becomes an error). */
static ww_rc run(rd_store *s, const char *what, int argc, const char **argv, const size_t *lens, redisReply **out,
                 char *err, size_t errsz) {
    *out = NULL;
    redisReply *r = redisCommandArgv(s->c, argc, argv, lens);
    if (!r) return io_error(s, what, err, errsz);
    if (r->type == REDIS_REPLY_ERROR) {
        ww_rc rc = reply_error(s, what, r, err, errsz);
        freeReplyObject(r);
        return rc;
    }
    *out = r;
    return WW_OK;
}

static ww_rc rd_connect(rd_store *s, char *err, size_t errsz) {
    if (s->c && !s->c->err) return WW_OK;
    if (s->c) drop(s);
    struct timeval ct = {CONNECT_TIMEOUT_S, 0}, ot = {COMMAND_TIMEOUT_S, 0};
    s->c = redisConnectWithTimeout(s->u.host, s->u.port, ct);
    if (!s->c) return WW_ENOMEM;
    if (s->c->err) return io_error(s, "connect", err, errsz);
    if (redisSetTimeout(s->c, ot) != REDIS_OK || redisEnableKeepAlive(s->c) != REDIS_OK)
        return io_error(s, "connect", err, errsz);
    redisReply *r;
    ww_rc rc;
    if (s->u.password) {
        const char *argv[3] = {"AUTH", s->u.user ? s->u.user : s->u.password, s->u.password};
        size_t lens[3] = {4, strlen(argv[1]), strlen(s->u.password)};
        rc = run(s, "authenticate", s->u.user ? 3 : 2, argv, lens, &r, err, errsz);
    } else {
        const char *argv[1] = {"PING"};
        size_t lens[1] = {4};
        rc = run(s, "ping", 1, argv, lens, &r, err, errsz);
    }
    if (rc) {
        drop(s);
        return rc;
    }
    freeReplyObject(r);
    if (s->u.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", s->u.db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        if ((rc = run(s, "select the database", 2, argv, lens, &r, err, errsz))) {
            drop(s);
            return rc;
        }
        freeReplyObject(r);
    }
    if (s->had_failure) ww_info("store", "%s: connected again", s->where);
    s->had_failure = 0;
    return WW_OK;
}

/* ---- load/save ---- */

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* A string or nil reply as a fresh string or NULL; *bad on another type. */
static char *token_of(const redisReply *r, int *bad) {
    *bad = 0;
    if (r->type == REDIS_REPLY_NIL) return NULL;
    if (r->type != REDIS_REPLY_STRING) {
        *bad = 1;
        return NULL;
    }
    char *t = malloc(r->len + 1);
    if (!t) {
        *bad = 1;
        return NULL;
    }
    memcpy(t, r->str, r->len);
    t[r->len] = '\0';
    return t;
}

static void set_ver(rd_store *s, char *v) {
    free(s->ver);
    s->ver = v;
    s->known = 1;
}

static ww_rc rd_load(void *state, ww_buf *out, char *err, size_t errsz) {
    rd_store *s = state;
    ww_rc rc = rd_connect(s, err, errsz);
    if (rc) return rc;
    redisReply *r;
    const char *argv[3] = {"STRLEN", s->u.key, NULL};
    size_t lens[3] = {6, strlen(s->u.key), 0};
    if ((rc = run(s, "read the checkpoint", 2, argv, lens, &r, err, errsz))) return rc;
    long long len = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (len < 0 || (unsigned long long)len > out->max - out->len) {
        snprintf(err, errsz, "%s: the checkpoint is %lld bytes, more than the limit of %zu", s->where, len, out->max);
        return WW_ETOOBIG;
    }
    argv[0] = "MGET", lens[0] = 4;
    argv[2] = s->vkey, lens[2] = strlen(s->vkey);
    if ((rc = run(s, "read the checkpoint", 3, argv, lens, &r, err, errsz))) return rc;
    int bad = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        snprintf(err, errsz, "%s: unexpected answer to MGET", s->where);
        freeReplyObject(r);
        return WW_EPROTO;
    }
    char *ver = token_of(r->element[1], &bad);
    set_ver(s, ver);
    free(s->pending);
    s->pending = NULL;
    const redisReply *v = r->element[0];
    if (v->type == REDIS_REPLY_NIL) {
        rc = WW_ENOENT;
    } else if (v->type != REDIS_REPLY_STRING) {
        snprintf(err, errsz, "%s: the key does not hold a string", s->where);
        rc = WW_EINVAL;
    } else if ((rc = ww_buf_append(out, v->str, v->len))) {
        snprintf(err, errsz, "%s: the checkpoint is %zu bytes, more than the limit of %zu", s->where, v->len, out->max);
    } else {
        ww_debug("store", "%s: loaded %zu bytes (version \"%s\")", s->where, v->len, ver ? ver : "");
    }
    freeReplyObject(r);
    return rc;
}

static ww_rc get_reply(rd_store *s, const char *what, redisReply **r, char *err, size_t errsz) {
    *r = NULL;
    if (redisGetReply(s->c, (void **)r) != REDIS_OK || !*r) return io_error(s, what, err, errsz);
    return WW_OK;
}

static ww_rc rd_save(void *state, const char *data, size_t n, char *err, size_t errsz) {
    rd_store *s = state;
    ww_rc rc = rd_connect(s, err, errsz);
    if (rc) return rc;
    redisReply *r = NULL, *rs[5] = {NULL, NULL, NULL, NULL, NULL};
    int bad = 0;
    const char *key = s->u.key, *vkey = s->vkey;
    size_t kl = strlen(key), vkl = strlen(vkey);

    /* Saving without a load first adopts whatever is there. */
    if (!s->known) {
        const char *argv[2] = {"GET", vkey};
        size_t lens[2] = {3, vkl};
        if ((rc = run(s, "read the checkpoint version", 2, argv, lens, &r, err, errsz))) return rc;
        char *v = token_of(r, &bad);
        freeReplyObject(r);
        if (bad) {
            snprintf(err, errsz, "%s: %s does not hold a string", s->where, vkey);
            return WW_EINVAL;
        }
        set_ver(s, v);
    }

    /* WATCH, then check that the version is still ours */
    {
        const char *wv[3] = {"WATCH", key, vkey}, *gv[2] = {"GET", vkey};
        size_t wl[3] = {5, kl, vkl}, gl[2] = {3, vkl};
        if (redisAppendCommandArgv(s->c, 3, wv, wl) != REDIS_OK ||
            redisAppendCommandArgv(s->c, 2, gv, gl) != REDIS_OK) {
            drop(s);
            return WW_ENOMEM;
        }
        for (int i = 0; i < 2; i++)
            if ((rc = get_reply(s, "save the checkpoint", &rs[i], err, errsz))) goto out;
        for (int i = 0; i < 2; i++)
            if (rs[i]->type == REDIS_REPLY_ERROR) {
                rc = reply_error(s, "save the checkpoint", rs[i], err, errsz);
                goto out;
            }
    }
    char *cur = token_of(rs[1], &bad);
    if (bad) {
        snprintf(err, errsz, "%s: %s does not hold a string", s->where, vkey);
        rc = WW_EINVAL;
        goto out;
    }
    if (!same(cur, s->ver)) {
        if (s->pending && same(cur, s->pending)) {
            /* our previous save landed though its answer was lost */
            set_ver(s, s->pending);
            s->pending = NULL;
        } else if (!cur) {
            /* A second watcher would have left its token: the keys are gone
             * (a restart without persistence, an eviction, a FLUSHALL or a
             * deletion by hand). The WATCH still guards the write. */
            ww_warn("store",
                    "%s: the checkpoint vanished from the server (restarted without persistence, evicted "
                    "or deleted?); writing it again",
                    s->where);
        } else {
            char c1[200], c2[200];
            scrub(s, s->ver ? s->ver : "none", strlen(s->ver ? s->ver : "none"), c1, sizeof c1);
            scrub(s, cur, strlen(cur), c2, sizeof c2);
            snprintf(err, errsz,
                     "%s was changed by another writer (version \"%s\" expected, found \"%s\"): is a second "
                     "workflow-watcher using the same checkpoint?",
                     s->where, c1, c2);
            free(cur);
            rc = WW_ECONFLICT;
            goto out;
        }
    }
    free(cur);
    for (int i = 0; i < 2; i++) freeReplyObject(rs[i]), rs[i] = NULL;

    /* MULTI; SET KEY blob; SET KEY:version token; DEL KEY:journal; EXEC */
    char token[320];
    snprintf(token, sizeof token, "%s seq=%llu", s->writer, s->seq + 1);
    free(s->pending);
    if (!(s->pending = strdup(token))) {
        rc = WW_ENOMEM;
        goto out;
    }
    const char *mv[1] = {"MULTI"}, *sv[3] = {"SET", key, data}, *tv[3] = {"SET", vkey, token},
               *dv[2] = {"DEL", s->jkey}, *ev[1] = {"EXEC"};
    size_t ml[1] = {5}, sl[3] = {3, kl, n}, tl[3] = {3, vkl, strlen(token)}, dl[2] = {3, strlen(s->jkey)}, el[1] = {4};
    if (redisAppendCommandArgv(s->c, 1, mv, ml) != REDIS_OK || redisAppendCommandArgv(s->c, 3, sv, sl) != REDIS_OK ||
        redisAppendCommandArgv(s->c, 3, tv, tl) != REDIS_OK || redisAppendCommandArgv(s->c, 2, dv, dl) != REDIS_OK ||
        redisAppendCommandArgv(s->c, 1, ev, el) != REDIS_OK) {
        drop(s);
        return WW_ENOMEM;
    }
    for (int i = 0; i < 5; i++)
        if ((rc = get_reply(s, "save the checkpoint", &rs[i], err, errsz))) goto out;
    redisReply *ex = rs[4];
    if (ex->type == REDIS_REPLY_NIL) {
        free(s->pending);
        s->pending = NULL;
        snprintf(err, errsz,
                 "%s was changed by another writer while we saved: is a second workflow-watcher using the same "
                 "checkpoint?",
                 s->where);
        rc = WW_ECONFLICT;
        goto out;
    }
    if (ex->type == REDIS_REPLY_ERROR) {
        free(s->pending);
        s->pending = NULL;
        /* EXECABORT: report the queued command's own error */
        for (int i = 0; i < 4; i++)
            if (rs[i]->type == REDIS_REPLY_ERROR) ex = rs[i];
        rc = reply_error(s, "save the checkpoint", ex, err, errsz);
        goto out;
    }
    if (ex->type != REDIS_REPLY_ARRAY || ex->elements != 3) {
        snprintf(err, errsz, "%s: unexpected answer to EXEC", s->where);
        rc = WW_EPROTO;
        goto out;
    }
    for (size_t i = 0; i < 3; i++)
        if (ex->element[i]->type == REDIS_REPLY_ERROR) {
            free(s->pending);
            s->pending = NULL;
            rc = reply_error(s, "save the checkpoint", ex->element[i], err, errsz);
            goto out;
        }
    set_ver(s, s->pending);
    s->pending = NULL;
    s->seq++;
    ww_debug("store", "%s: saved %zu bytes", s->where, n);
out:
    for (int i = 0; i < 5; i++)
        if (rs[i]) freeReplyObject(rs[i]);
    /* A failed save may leave the WATCH (or a half-read pipeline) on the
     * connection: start the next call on a fresh one. */
    if (rc && s->c) drop(s);
    return rc;
}

/* ---- journal ---- */

/* One command on KEY:journal, which must be a list: a WRONGTYPE error
 * names it (reply_error speaks of the blob's string). */
static ww_rc run_journal(rd_store *s, const char *what, int argc, const char **argv, const size_t *lens,
                         redisReply **out, char *err, size_t errsz) {
    *out = NULL;
    redisReply *r = redisCommandArgv(s->c, argc, argv, lens);
    if (!r) return io_error(s, what, err, errsz);
    if (r->type == REDIS_REPLY_ERROR && r->str && starts(r->str, "WRONGTYPE")) {
        snprintf(err, errsz, "%s: cannot %s: %.200s holds another type than a list; delete it or name another key",
                 s->where, what, s->jkey);
        freeReplyObject(r);
        return WW_EINVAL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        ww_rc rc = reply_error(s, what, r, err, errsz);
        freeReplyObject(r);
        return rc;
    }
    *out = r;
    return WW_OK;
}

static ww_rc rd_journal_append(void *state, const char *data, size_t n, char *err, size_t errsz) {
    rd_store *s = state;
    if (!n) return WW_OK;
    ww_rc rc = rd_connect(s, err, errsz);
    if (rc) return rc;
    redisReply *r;
    const char *argv[3] = {"RPUSH", s->jkey, data};
    size_t lens[3] = {5, strlen(s->jkey), n};
    if ((rc = run_journal(s, "append to the journal", 3, argv, lens, &r, err, errsz))) return rc;
    long long len = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (len < 1) {
        snprintf(err, errsz, "%s: unexpected answer to RPUSH", s->where);
        return WW_EPROTO;
    }
    ww_debug("store", "%s: journaled %zu bytes (%lld elements)", s->where, n, len);
    return WW_OK;
}

static ww_rc rd_journal_load(void *state, ww_buf *out, char *err, size_t errsz) {
    rd_store *s = state;
    ww_rc rc = rd_connect(s, err, errsz);
    if (rc) return rc;
    redisReply *r;
    const char *argv[4] = {"LRANGE", s->jkey, "0", "-1"};
    size_t lens[4] = {6, strlen(s->jkey), 1, 2};
    if ((rc = run_journal(s, "read the journal", 4, argv, lens, &r, err, errsz))) return rc;
    if (r->type == REDIS_REPLY_NIL || (r->type == REDIS_REPLY_ARRAY && r->elements == 0)) {
        freeReplyObject(r);
        return WW_ENOENT;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errsz, "%s: unexpected answer to LRANGE", s->where);
        freeReplyObject(r);
        return WW_EPROTO;
    }
    size_t before = out->len;
    for (size_t i = 0; !rc && i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING) {
            snprintf(err, errsz, "%s: element %zu of %.200s is not a string", s->where, i, s->jkey);
            rc = WW_EPROTO;
        } else if ((rc = ww_buf_append(out, e->str, e->len))) {
            snprintf(err, errsz, "%s: the journal %.200s is larger than %zu bytes", s->where, s->jkey, out->max);
        }
    }
    if (!rc)
        ww_debug("store", "%s: read %zu bytes of journal (%zu elements)", s->where, out->len - before, r->elements);
    freeReplyObject(r);
    return rc;
}

/* ---- open/close ---- */

static void rd_close(void *state) {
    rd_store *s = state;
    if (!s) return;
    if (s->c) redisFree(s->c);
    ww_redis_url_free(&s->u);
    free(s->vkey);
    free(s->jkey);
    free(s->ver);
    free(s->pending);
    free(s);
}

static ww_rc rd_open(const char *url, const ww_store_env *env, void **state, char *err, size_t errsz) {
    rd_store *s = calloc(1, sizeof *s);
    if (!s) return WW_ENOMEM;
    ww_rc rc = ww_redis_url_parse(url, env ? env->redis_password : NULL, &s->u, err, errsz);
    if (rc) {
        rd_close(s);
        return rc;
    }
    int v6 = strchr(s->u.host, ':') != NULL;
    snprintf(s->where, sizeof s->where, "redis key %.100s at %s%s%s:%d", s->u.key, v6 ? "[" : "", s->u.host,
             v6 ? "]" : "", s->u.port);
    char host[64];
    if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "unknown-host");
    host[sizeof host - 1] = '\0';
    unsigned run_id = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    if (getentropy(&run_id, sizeof run_id)) run_id ^= (unsigned)clock();
    snprintf(s->writer, sizeof s->writer, "host=%s pid=%ld run=%08x", host, (long)getpid(), run_id);
    if (asprintf(&s->vkey, "%s:version", s->u.key) < 0) s->vkey = NULL;
    if (asprintf(&s->jkey, "%s:journal", s->u.key) < 0) s->jkey = NULL;
    if (!s->vkey || !s->jkey) {
        rd_close(s);
        return WW_ENOMEM;
    }
    /* Connect now so that a wrong address or password stops the start. */
    if ((rc = rd_connect(s, err, errsz))) {
        rd_close(s);
        return rc;
    }
    *state = s;
    return WW_OK;
}

const ww_store_type ww_store_redis = {"redis", rd_open, rd_load, rd_save, rd_close, rd_journal_append, rd_journal_load};
