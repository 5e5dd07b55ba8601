/* configmap.c - the checkpoint in a Kubernetes ConfigMap:
 * configmap://NAMESPACE/NAME[?part-bytes=N].
 *
 * The blob is compressed with zlib and kept in binaryData["checkpoint"] of
 * the ConfigMap NAME; its data holds a few readable fields (format, sizes,
 * crc32 of the compressed bytes, generation, writer, save). Writes carry the
 * resourceVersion of our last load or save, so the API server refuses them
 * (409) when anyone else changed the ConfigMap in between: WW_ECONFLICT.
 *
 * A compressed blob larger than part-bytes (default 900 KiB; a ConfigMap
 * holds at most 1 MiB) is split. The ConfigMap NAME stays the commit point:
 *   1. the pieces are created as new ConfigMaps NAME-G-0, NAME-G-1, ... for a
 *      generation G never used before, labelled
 *      workflow-watcher.io/checkpoint=NAME and workflow-watcher.io/generation=G;
 *   2. NAME is updated (with its resourceVersion) to list them in
 *      data["parts"] with the crc32 of the whole compressed blob;
 *   3. parts of older generations are deleted (a failure there is a warning).
 * A crash before 2 leaves NAME pointing at the previous, complete set; load()
 * follows NAME only. Parts are never overwritten, so a second writer cannot
 * change a set NAME points at: it creates its own generation and then loses
 * the race at step 2. Cleanup only removes generations below the one just
 * committed, so a newer writer's parts are left alone.
 *
 * data["writer"] ("HOST pid N") and data["save"] (our save count) let a
 * save whose answer was lost be recognised: libcurl resends a request once
 * on a fresh connection, which then gets 409 for our own write; or the
 * request failed and the next save finds our write in place. Either way the
 * watcher goes on instead of reporting a conflict. A ConfigMap NAME deleted
 * while we run (by hand: a watcher never deletes it) is created again.
 *
 * The journal (store.h) is the ConfigMap NAME-journal, labelled like the
 * parts with workflow-watcher.io/checkpoint=NAME but also
 * workflow-watcher.io/role=journal and without a generation, so the cleanup
 * of old parts never selects it. data["records"] holds all records since
 * the last save: the store keeps them in memory, and each append writes
 * them all again (PUT with the journal's own resourceVersion, or POST when
 * it does not exist), so it refuses (WW_ECONFLICT) when anyone else wrote
 * the journal in between. data["writer"] (with a random run token) and
 * data["seq"] recognise our own write whose answer was lost, as above.
 * After each successful save the journal is emptied (records ""); a failure
 * there is only a warning (the blob covers those records; the next save
 * tries again). The journal holds at most JOURNAL_MAX_BYTES of records
 * (ConfigMaps hold 1 MiB): an append beyond fails with WW_ETOOBIG until the
 * next save empties it.
 *
 * The watcher's identity needs get, create, update, list and delete on
 * configmaps in NAMESPACE (without list and delete, old parts stay, with one
 * warning). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/base64.h"
#include "core/json.h"
#include "core/log.h"
#include "kube/client.h"
#include "store/store.h"
#include "store/url.h"

#define MANAGED_BY "app.kubernetes.io/managed-by"
#define LABEL_CHECKPOINT "workflow-watcher.io/checkpoint"
#define LABEL_GENERATION "workflow-watcher.io/generation"
#define LABEL_ROLE "workflow-watcher.io/role" /* "journal" on NAME-journal; parts have none */
#define FORMAT_INLINE "workflow-watcher checkpoint, zlib-compressed in binaryData"
#define FORMAT_SPLIT "workflow-watcher checkpoint, zlib-compressed, split over the ConfigMaps listed in parts"
#define FORMAT_PREFIX "workflow-watcher checkpoint"
#define FORMAT_JOURNAL                                                                                                 \
    "workflow-watcher journal: one line per object published after the last save of the checkpoint (uid, "             \
    "namespace, name, resourceVersion; tab-separated)"
#define FORMAT_JOURNAL_PREFIX "workflow-watcher journal"
#define JOURNAL_MAX_BYTES ((size_t)900 * 1024)
#define MAX_PARTS 1000
#define MAX_ONE_BODY ((size_t)8 << 20)   /* one ConfigMap as JSON: 1 MiB of data, base64 */
#define MAX_LIST_BODY ((size_t)32 << 20) /* a page of at most LIST_LIMIT parts */
#define ERROR_BODY ((size_t)1 << 16)
#define LIST_LIMIT 8
#define REQUEST_TIMEOUT_S 60L
#define CONNECT_TIMEOUT_S 10L

typedef struct {
    ww_configmap_url u;
    ww_kube_client *kc;
    char shown[160];  /* "NS/NAME" */
    char writer[160]; /* "HOSTNAME pid N", written to data["writer"] */
    int known;        /* load() or save() told us whether NAME exists */
    int exists;       /* NAME exists at resourceVersion rv */
    char rv[64];
    unsigned long long gen;       /* generation NAME points at */
    unsigned long long tried_gen; /* highest generation we created parts for */
    int parts_maybe;              /* old parts may exist: clean up after the next commit */
    unsigned long long seq;       /* our saves, written to data["save"] */
    int cleanup_warned;           /* a failed cleanup was logged as a warning */
    int uncertain;                /* the answer to save number seq was lost */
    /* the journal NAME-journal */
    char jname[80];
    char jwriter[200]; /* writer plus a random run token, in data["writer"] */
    int jknown;        /* jexists, jrv and jbuf reflect the server */
    int jexists;       /* NAME-journal exists at resourceVersion jrv */
    int juncertain;    /* the answer to journal write number jseq was lost */
    char jrv[64];
    unsigned long long jseq; /* our journal writes, in data["seq"] */
    ww_buf jbuf;             /* data["records"] as on the server */
} cm_store;

/* ---- URL ---- */

static int alnum_lower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters. */
static int dns_label(const char *s, size_t n) {
    if (n == 0 || n > 63 || !alnum_lower(s[0]) || !alnum_lower(s[n - 1])) return 0;
    for (size_t i = 0; i < n; i++)
        if (!alnum_lower(s[i]) && s[i] != '-') return 0;
    return 1;
}

/* DNS-1123 subdomain (labels joined by dots), at most 63 characters. */
static int dns_subdomain63(const char *s, size_t n) {
    if (n == 0 || n > 63) return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') continue;
        if (!dns_label(s + start, i - start)) return 0;
        start = i + 1;
    }
    return 1;
}

ww_rc ww_configmap_url_parse(const char *url, ww_configmap_url *out, char *err, size_t errsz) {
    static const char usage[] = "expected configmap://NAMESPACE/NAME[?part-bytes=N]";
    memset(out, 0, sizeof *out);
    out->part_bytes = WW_CONFIGMAP_PART_BYTES_DEFAULT;
    if (strncmp(url, "configmap://", 12)) {
        snprintf(err, errsz, "--checkpoint %s: %s", url, usage);
        return WW_EINVAL;
    }
    const char *p = url + 12;
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    const char *slash = memchr(p, '/', plen);
    if (!slash) {
        snprintf(err, errsz, "--checkpoint %s: %s (no NAME)", url, usage);
        return WW_EINVAL;
    }
    size_t nsl = (size_t)(slash - p), namel = plen - nsl - 1;
    if (!dns_label(p, nsl)) {
        snprintf(err, errsz,
                 "--checkpoint %s: the namespace \"%.*s\" is not a valid namespace name (lower-case letters, "
                 "digits and '-', at most 63); %s",
                 url, (int)nsl, p, usage);
        return WW_EINVAL;
    }
    if (!dns_subdomain63(slash + 1, namel)) {
        snprintf(err, errsz,
                 "--checkpoint %s: the ConfigMap name \"%.*s\" is not valid here (lower-case letters, digits, '-' "
                 "and '.', starting and ending with a letter or digit, at most 63 characters); %s",
                 url, (int)namel, slash + 1, usage);
        return WW_EINVAL;
    }
    memcpy(out->ns, p, nsl);
    memcpy(out->name, slash + 1, namel);
    if (!q) return WW_OK;
    for (const char *kv = q + 1; *kv;) {
        const char *amp = strchr(kv, '&');
        size_t kvl = amp ? (size_t)(amp - kv) : strlen(kv);
        const char *eq = memchr(kv, '=', kvl);
        size_t kl = eq ? (size_t)(eq - kv) : kvl;
        if (kl == 10 && !strncmp(kv, "part-bytes", 10) && eq) {
            const char *v = eq + 1;
            size_t vl = kvl - kl - 1;
            unsigned long long n = 0;
            size_t i = 0;
            for (; i < vl && v[i] >= '0' && v[i] <= '9' && n <= WW_CONFIGMAP_PART_BYTES_MAX; i++)
                n = n * 10 + (unsigned long long)(v[i] - '0');
            if (vl == 0 || i != vl || n < WW_CONFIGMAP_PART_BYTES_MIN || n > WW_CONFIGMAP_PART_BYTES_MAX) {
                snprintf(err, errsz, "--checkpoint %s: part-bytes=%.*s: expected a number of bytes from %d to %d", url,
                         (int)vl, v, WW_CONFIGMAP_PART_BYTES_MIN, WW_CONFIGMAP_PART_BYTES_MAX);
                return WW_EINVAL;
            }
            out->part_bytes = (size_t)n;
        } else if (kvl) {
            snprintf(err, errsz, "--checkpoint %s: unknown parameter \"%.*s\" (known: part-bytes=N)", url, (int)kl, kv);
            return WW_EINVAL;
        }
        kv += kvl + (amp ? 1 : 0);
    }
    return WW_OK;
}

/* ---- requests ---- */

/* The server's Status message (or the start of the body), for errors. */
static void server_message(const ww_resp *resp, char *out, size_t outsz) {
    ww_span body = {resp->body.p, resp->body.len}, m;
    out[0] = '\0';
    if (!body.p) return;
    if (!ww_json_get(body, "message", &m) && ww_json_str(m, out, outsz) == WW_OK) return;
    snprintf(out, outsz, "%.*s", (int)(resp->body.len > 200 ? 200 : resp->body.len), resp->body.p);
}

static ww_rc discard(void *ud, const char *data, size_t n) {
    (void)ud, (void)data, (void)n;
    return WW_OK;
}

/* One request. max_body caps a 2xx answer kept in resp->body; 0 discards
 * it (error answers are always kept, up to ERROR_BODY). */
static ww_rc send_req(cm_store *s, const char *method, const char *path, const ww_buf *body, ww_resp *resp,
                      size_t max_body, const char *what, char *err, size_t errsz) {
    ww_resp_init(resp, max_body ? max_body : ERROR_BODY);
    ww_req req = {.method = method,
                  .body = body ? body->p : NULL,
                  .body_len = body ? body->len : 0,
                  .on_body = max_body ? NULL : discard,
                  .timeout_s = REQUEST_TIMEOUT_S,
                  .connect_timeout_s = CONNECT_TIMEOUT_S};
    ww_rc rc = ww_kube_request(s->kc, path, &req, resp);
    switch (rc) {
    case WW_OK: return WW_OK;
    case WW_RETRY:
        snprintf(err, errsz, "cannot %s: cannot reach the API server: %s", what, resp->error);
        return WW_RETRY;
    case WW_ESTOP: snprintf(err, errsz, "cannot %s: stopping", what); return WW_ESTOP;
    case WW_ETOOBIG:
        snprintf(err, errsz, "cannot %s: the answer is larger than %zu bytes", what, max_body);
        return WW_ETOOBIG;
    default:
        snprintf(err, errsz, "cannot %s: %s%s%s", what, ww_strerror(rc), resp->error[0] ? ": " : "", resp->error);
        return rc;
    }
}

/* An unexpected HTTP status as an error. verb is the RBAC verb. */
static ww_rc http_error(cm_store *s, const ww_resp *resp, const char *what, char *err, size_t errsz) {
    char msg[512];
    server_message(resp, msg, sizeof msg);
    long st = resp->status;
    if (st == 401 || st == 403) {
        snprintf(err, errsz,
                 "cannot %s: HTTP %ld %s: %s; the watcher's identity (its service account in a pod) needs get, "
                 "create, update, list and delete on configmaps in namespace %s",
                 what, st, st == 401 ? "Unauthorized" : "Forbidden", msg, s->u.ns);
        return WW_EAUTH;
    }
    if (st == 408 || st == 429 || st >= 500) {
        snprintf(err, errsz, "cannot %s: HTTP %ld: %s", what, st, msg);
        return WW_RETRY;
    }
    if (st == 413 || ((st == 422 || st == 400) && (strstr(msg, "Too long") || strstr(msg, "too large")))) {
        snprintf(err, errsz, "cannot %s: HTTP %ld: %s (lower ?part-bytes= in the --checkpoint URL)", what, st, msg);
        return WW_EHTTP;
    }
    if (st == 404 && strstr(msg, "namespaces")) {
        snprintf(err, errsz, "cannot %s: HTTP 404: %s (create the namespace %s first)", what, msg, s->u.ns);
        return WW_EHTTP;
    }
    snprintf(err, errsz, "cannot %s: HTTP %ld: %s", what, st, msg);
    return WW_EHTTP;
}

static ww_rc path_of(ww_buf *b, const cm_store *s, const char *name, const char *query) {
    return ww_buf_printf(b, "/api/v1/namespaces/%s/configmaps%s%s%s", s->u.ns, name ? "/" : "", name ? name : "",
                         query ? query : "");
}

/* Reads a string field of obj into out; 0 if present. */
static int str_field(ww_span obj, const char *key, char *out, size_t outsz) {
    ww_span v;
    if (!ww_json_get(obj, key, &v) && !ww_json_str(v, out, outsz)) return 0;
    out[0] = '\0';
    return -1;
}

static void adopt_meta(cm_store *s, ww_span cm) {
    ww_span meta, data;
    char g[32];
    if (!ww_json_get(cm, "metadata", &meta)) str_field(meta, "resourceVersion", s->rv, sizeof s->rv);
    s->gen = 0;
    if (!ww_json_get(cm, "data", &data) && !str_field(data, "generation", g, sizeof g)) s->gen = strtoull(g, NULL, 10);
    if (s->gen > s->tried_gen) s->tried_gen = s->gen;
    s->known = s->exists = 1;
}

/* GET the ConfigMap name: WW_OK with the body in resp, WW_ENOENT on 404. */
static ww_rc get_cm(cm_store *s, const char *name, ww_resp *resp, char *err, size_t errsz) {
    ww_resp_init(resp, 0);
    ww_buf path;
    ww_buf_init(&path, 1024);
    char what[256];
    snprintf(what, sizeof what, "get configmap %s/%s", s->u.ns, name);
    ww_rc rc = path_of(&path, s, name, NULL);
    if (!rc) rc = send_req(s, NULL, path.p, NULL, resp, MAX_ONE_BODY, what, err, errsz);
    ww_buf_free(&path);
    if (rc) return rc;
    if (resp->status == 200) return WW_OK;
    if (resp->status == 404) return WW_ENOENT;
    return http_error(s, resp, what, err, errsz);
}

/* ---- load ---- */

static ww_rc append_b64_field(ww_span cm, const char *key, ww_buf *out, const char *what, char *err, size_t errsz) {
    ww_span v;
    if (ww_json_path(cm, &v, "binaryData", key, NULL)) {
        snprintf(err, errsz, "%s has no binaryData[\"%s\"]: the checkpoint is damaged", what, key);
        return WW_EPROTO;
    }
    char *text = ww_json_strdup(v);
    if (!text) {
        snprintf(err, errsz, "%s: binaryData[\"%s\"] is not a string", what, key);
        return WW_EPROTO;
    }
    unsigned char *bin;
    size_t n;
    ww_rc rc = ww_base64_decode(text, strlen(text), &bin, &n);
    free(text);
    if (rc) {
        snprintf(err, errsz, "%s: binaryData[\"%s\"] is not base64", what, key);
        return rc == WW_EINVAL ? WW_EPROTO : rc;
    }
    rc = ww_buf_append(out, bin, n);
    free(bin);
    if (rc == WW_ETOOBIG)
        snprintf(err, errsz, "%s: the compressed checkpoint is larger than %zu bytes", what, out->max);
    return rc;
}

/* Inflates n bytes at in onto out, exactly want bytes (data["bytes"]):
 * anything else is damage, and a blob that would inflate to more is
 * refused as soon as it passes want, so damage cannot make it fill memory. */
static ww_rc inflate_into(const unsigned char *in, size_t n, size_t want, ww_buf *out, const char *shown, char *err,
                          size_t errsz) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK) return WW_ENOMEM;
    unsigned char chunk[65536];
    ww_rc rc = WW_OK;
    size_t off = 0, got = 0;
    int zr = Z_OK;
    while (zr != Z_STREAM_END) {
        if (z.avail_in == 0 && off < n) {
            size_t take = n - off > (1u << 30) ? (1u << 30) : n - off;
            z.next_in = (unsigned char *)in + off;
            z.avail_in = (uInt)take;
            off += take;
        }
        z.next_out = chunk;
        z.avail_out = sizeof chunk;
        zr = inflate(&z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR && z.avail_out == 0)) {
            snprintf(err, errsz, "the checkpoint in configmap %s is not valid zlib data (%s)", shown,
                     zr == Z_BUF_ERROR ? "truncated" : (z.msg ? z.msg : "error"));
            rc = zr == Z_MEM_ERROR ? WW_ENOMEM : WW_EPROTO;
            break;
        }
        size_t len = sizeof chunk - z.avail_out;
        if (len > want - got) {
            snprintf(err, errsz,
                     "the checkpoint in configmap %s inflates to more than the %zu bytes data[\"bytes\"] says: it "
                     "is damaged",
                     shown, want);
            rc = WW_EPROTO;
            break;
        }
        got += len;
        if ((rc = ww_buf_append(out, chunk, len))) break;
    }
    if (!rc && (z.avail_in || off < n)) {
        snprintf(err, errsz, "the checkpoint in configmap %s has data after its end", shown);
        rc = WW_EPROTO;
    }
    if (!rc && got != want) {
        snprintf(err, errsz, "the checkpoint in configmap %s has %zu bytes, data[\"bytes\"] says %zu: it is damaged",
                 shown, got, want);
        rc = WW_EPROTO;
    }
    inflateEnd(&z);
    return rc;
}

/* data["bytes"], the size of the inflated blob: decimal, and no more than
 * out can take (its cap) or zlib can make of clen bytes (deflate shrinks
 * by at most about 1032:1). WW_EPROTO, with a message, otherwise. */
static ww_rc recorded_size(ww_span data, size_t clen, const ww_buf *out, const char *shown, size_t *want, char *err,
                           size_t errsz) {
    char v[32];
    unsigned long long n = 0;
    size_t i = 0;
    if (!str_field(data, "bytes", v, sizeof v))
        for (; v[i] >= '0' && v[i] <= '9' && n <= SIZE_MAX / 10; i++) n = n * 10 + (unsigned long long)(v[i] - '0');
    if (!i || v[i]) {
        snprintf(err, errsz,
                 "configmap %s has no valid data[\"bytes\"] (the size of the checkpoint): the checkpoint is damaged",
                 shown);
        return WW_EPROTO;
    }
    size_t room = out->max - out->len;
    unsigned long long most = (unsigned long long)clen * 1032 + 1024;
    if (n > room || n > most) {
        snprintf(err, errsz,
                 "configmap %s: data[\"bytes\"] says the checkpoint is %s bytes, more than %s (%llu bytes): it is "
                 "damaged; delete configmap %s or start with --reset-checkpoint",
                 shown, v, n > room ? "a checkpoint may be" : "its compressed bytes can hold",
                 n > room ? (unsigned long long)room : most, shown);
        return WW_EPROTO;
    }
    *want = (size_t)n;
    return WW_OK;
}

static unsigned long crc_of(const unsigned char *p, size_t n) { return crc32_z(crc32_z(0, NULL, 0), p, n); }

/* One reading of NAME and its parts. *racy: the failure may come from a
 * writer that committed a new set of parts (deleting ours) as we read. */
static ww_rc load_once(cm_store *s, ww_buf *out, char *err, size_t errsz, int *racy) {
    ww_resp resp, presp;
    ww_resp_init(&presp, 0);
    ww_buf comp;
    /* deflate can grow incompressible input a little */
    ww_buf_init(&comp, out->max < SIZE_MAX / 2 ? out->max + out->max / 100 + 4096 : out->max);
    char what[256], fmt[128], crc_s[16], *parts = NULL;
    ww_rc rc = get_cm(s, s->u.name, &resp, err, errsz);
    if (rc == WW_ENOENT) {
        s->known = 1;
        s->exists = 0;
        s->rv[0] = '\0';
        s->gen = 0;
        goto out;
    }
    if (rc) goto out;
    ww_span cm = {resp.body.p, resp.body.len}, data;
    if (ww_json_get(cm, "data", &data) || str_field(data, "format", fmt, sizeof fmt) ||
        strncmp(fmt, FORMAT_PREFIX, strlen(FORMAT_PREFIX))) {
        snprintf(err, errsz,
                 "configmap %s exists but holds no workflow-watcher checkpoint (no data[\"format\"]); name another "
                 "ConfigMap in --checkpoint, or delete this one",
                 s->shown);
        rc = WW_EINVAL;
        goto out;
    }
    adopt_meta(s, cm);
    if (str_field(data, "crc32", crc_s, sizeof crc_s)) {
        snprintf(err, errsz, "configmap %s has no data[\"crc32\"]: the checkpoint is damaged", s->shown);
        rc = WW_EPROTO;
        goto out;
    }
    ww_span pv;
    if (!ww_json_get(data, "parts", &pv) && !(parts = ww_json_strdup(pv))) {
        rc = WW_ENOMEM;
        goto out;
    }
    if (!parts || !*parts) {
        snprintf(what, sizeof what, "configmap %s", s->shown);
        if ((rc = append_b64_field(cm, "checkpoint", &comp, what, err, errsz))) goto out;
    } else {
        s->parts_maybe = 1;
        char *save = NULL;
        size_t i = 0;
        for (char *name = strtok_r(parts, ",", &save); name; name = strtok_r(NULL, ",", &save), i++) {
            ww_resp_free(&presp);
            rc = get_cm(s, name, &presp, err, errsz);
            if (rc == WW_ENOENT) {
                snprintf(err, errsz,
                         "configmap %s lists the part %s/%s, which does not exist: the checkpoint is damaged "
                         "(deleted by hand?); delete configmap %s or start with --reset-checkpoint",
                         s->shown, s->u.ns, name, s->shown);
                rc = WW_EPROTO;
                *racy = 1;
            }
            if (rc) goto out;
            snprintf(what, sizeof what, "configmap %s/%s (part %zu of the checkpoint in %s)", s->u.ns, name, i + 1,
                     s->shown);
            ww_span pcm = {presp.body.p, presp.body.len};
            if ((rc = append_b64_field(pcm, "part", &comp, what, err, errsz))) goto out;
        }
    }
    unsigned long want = strtoul(crc_s, NULL, 16), got = crc_of((unsigned char *)comp.p, comp.len);
    if (want != got) {
        snprintf(err, errsz,
                 "the checkpoint in configmap %s fails its checksum (crc32 %08lx, data[\"crc32\"] says %s): it is "
                 "damaged or was edited by hand; delete configmap %s or start with --reset-checkpoint",
                 s->shown, got, crc_s, s->shown);
        rc = WW_EPROTO;
        *racy = parts && *parts;
        goto out;
    }
    size_t before = out->len, bytes;
    if ((rc = recorded_size(data, comp.len, out, s->shown, &bytes, err, errsz))) goto out;
    if ((rc = inflate_into((unsigned char *)comp.p, comp.len, bytes, out, s->shown, err, errsz))) {
        out->len = before;
        if (out->p) out->p[before] = '\0';
        goto out;
    }
    ww_debug("store", "configmap %s: loaded %zu bytes (%zu compressed, generation %llu)", s->shown, out->len - before,
             comp.len, s->gen);
out:
    free(parts);
    ww_buf_free(&comp);
    ww_resp_free(&presp);
    ww_resp_free(&resp);
    return rc;
}

static ww_rc cm_load(void *state, ww_buf *out, char *err, size_t errsz) {
    cm_store *s = state;
    for (int attempt = 0;; attempt++) {
        int racy = 0;
        ww_rc rc = load_once(s, out, err, errsz, &racy);
        if (rc == WW_OK || !racy || attempt == 2) return rc;
        /* read again if NAME moved on meanwhile; if not, the damage is real */
        char was[64], now[64], e2[256];
        snprintf(was, sizeof was, "%s", s->rv);
        ww_resp r;
        ww_span meta;
        int moved = get_cm(s, s->u.name, &r, e2, sizeof e2) == WW_OK &&
                    !ww_json_get((ww_span){r.body.p, r.body.len}, "metadata", &meta) &&
                    !str_field(meta, "resourceVersion", now, sizeof now) && strcmp(now, was);
        ww_resp_free(&r);
        if (!moved) return rc;
        ww_info("store", "configmap %s changed while we read its parts; reading it again", s->shown);
    }
}

/* ---- save ---- */

static void journal_clear(cm_store *s); /* below, with the journal */

static ww_rc put_labels(ww_buf *b, const cm_store *s, unsigned long long part_gen) {
    ww_rc rc = ww_buf_puts(b, "\"labels\":{\"" MANAGED_BY "\":\"workflow-watcher\"");
    if (!rc && part_gen)
        rc =
            ww_buf_printf(b, ",\"" LABEL_CHECKPOINT "\":\"%s\",\"" LABEL_GENERATION "\":\"%llu\"", s->u.name, part_gen);
    if (!rc) rc = ww_buf_puts(b, "}");
    return rc;
}

/* Writes "key":"base64" for n bytes at p. */
static ww_rc put_b64(ww_buf *b, const char *key, const unsigned char *p, size_t n) {
    char *e = ww_base64_encode(p, n);
    if (!e) return WW_ENOMEM;
    ww_rc rc = ww_buf_printf(b, "\"%s\":\"", key);
    if (!rc) rc = ww_buf_puts(b, e);
    if (!rc) rc = ww_buf_puts(b, "\"");
    free(e);
    return rc;
}

static ww_rc put_str(ww_buf *b, const char *key, const char *v) {
    ww_rc rc = ww_buf_printf(b, ",\"%s\":\"", key);
    if (!rc) rc = ww_buf_json_escape(b, v, strlen(v));
    if (!rc) rc = ww_buf_puts(b, "\"");
    return rc;
}

/* Creates part i of generation gen. WW_EEXIST when the name is taken. */
static ww_rc create_part(cm_store *s, unsigned long long gen, size_t i, size_t nparts, const unsigned char *p, size_t n,
                         char *err, size_t errsz) {
    char name[128], what[256];
    snprintf(name, sizeof name, "%s-%llu-%zu", s->u.name, gen, i);
    snprintf(what, sizeof what, "create configmap %s/%s (part %zu of %zu of the checkpoint in %s)", s->u.ns, name,
             i + 1, nparts, s->shown);
    ww_buf body, path;
    ww_buf_init(&body, n / 3 * 4 + 65536);
    ww_buf_init(&path, 1024);
    ww_resp resp;
    ww_resp_init(&resp, 0);
    ww_rc rc = ww_buf_printf(&body,
                             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
                             "\"namespace\":\"%s\",",
                             name, s->u.ns);
    if (!rc) rc = put_labels(&body, s, gen);
    if (!rc)
        rc = ww_buf_printf(&body,
                           "},\"data\":{\"format\":\"part %zu of %zu of the workflow-watcher checkpoint in configmap "
                           "%s\"},\"binaryData\":{",
                           i + 1, nparts, s->u.name);
    if (!rc) rc = put_b64(&body, "part", p, n);
    if (!rc) rc = ww_buf_puts(&body, "}}");
    if (!rc) rc = path_of(&path, s, NULL, "?fieldManager=workflow-watcher");
    if (rc) goto out;
    if ((rc = send_req(s, "POST", path.p, &body, &resp, 0, what, err, errsz))) goto out;
    if (resp.status == 201 || resp.status == 200) goto out;
    if (resp.status == 409) {
        rc = WW_EEXIST;
        goto out;
    }
    rc = http_error(s, &resp, what, err, errsz);
out:
    ww_buf_free(&body);
    ww_buf_free(&path);
    ww_resp_free(&resp);
    return rc;
}

/* The first failed cleanup in a row is a warning, the others debug lines
 * (without list and delete rights it would fail at every save). */
static void cleanup_failed(cm_store *s, const char *msg, const char *then) {
    if (s->cleanup_warned) {
        ww_debug("store", "%s (%s)", msg, then);
    } else {
        ww_warn("store", "%s (%s)", msg, then);
        s->cleanup_warned = 1;
    }
}

/* After a commit: deletes parts of generations below keep_below. WW_OK
 * when none is left; failures are logged here, not returned as errors. */
static ww_rc cleanup(cm_store *s, unsigned long long keep_below) {
    ww_rc rc = WW_ENOMEM;
    char err[1024];
    ww_buf sel, path;
    ww_buf_init(&sel, 1024);
    ww_buf_init(&path, 4096);
    ww_resp resp;
    ww_resp_init(&resp, 0);
    char what[256];
    snprintf(what, sizeof what, "list the parts of configmap %s", s->shown);
    /* The journal has no generation (and the role label), so this never
     * selects it. */
    if (ww_buf_printf(&sel, LABEL_CHECKPOINT "=%s," LABEL_GENERATION "<%llu," LABEL_ROLE "!=journal", s->u.name,
                      keep_below) ||
        ww_buf_printf(&path, "/api/v1/namespaces/%s/configmaps?limit=%d&labelSelector=", s->u.ns, LIST_LIMIT) ||
        ww_url_escape(&path, sel.p))
        goto out;
    /* Each round lists what is left and deletes it; the bound only guards
     * against a server that keeps answering with the same items. */
    for (int round = 0; round < MAX_PARTS / LIST_LIMIT + 10; round++) {
        ww_resp_free(&resp);
        if ((rc = send_req(s, NULL, path.p, NULL, &resp, MAX_LIST_BODY, what, err, sizeof err)) ||
            (resp.status != 200 && (rc = http_error(s, &resp, what, err, sizeof err)))) {
            cleanup_failed(s, err, "old parts stay until the next save");
            goto out;
        }
        ww_span list = {resp.body.p, resp.body.len}, items, item, meta;
        ww_json_iter it = {0};
        if (ww_json_get(list, "items", &items)) {
            cleanup_failed(s, what, "the answer has no items");
            rc = WW_EPROTO;
            goto out;
        }
        int n = 0;
        while (ww_json_array_next(items, &it, &item) == WW_OK) {
            char name[256], dwhat[320];
            if (ww_json_get(item, "metadata", &meta) || str_field(meta, "name", name, sizeof name)) continue;
            n++;
            snprintf(dwhat, sizeof dwhat, "delete configmap %s/%s (an old part of the checkpoint in %s)", s->u.ns, name,
                     s->shown);
            ww_buf dpath;
            ww_buf_init(&dpath, 1024);
            ww_resp dresp;
            ww_resp_init(&dresp, 0);
            rc = path_of(&dpath, s, name, NULL);
            if (!rc) rc = send_req(s, "DELETE", dpath.p, NULL, &dresp, 0, dwhat, err, sizeof err);
            if (!rc && dresp.status != 200 && dresp.status != 202 && dresp.status != 404)
                rc = http_error(s, &dresp, dwhat, err, sizeof err);
            ww_resp_free(&dresp);
            ww_buf_free(&dpath);
            if (rc) {
                cleanup_failed(s, err, "it stays until the next save");
                goto out;
            }
            ww_debug("store", "deleted configmap %s/%s", s->u.ns, name);
        }
        if (n == 0) {
            s->cleanup_warned = 0;
            rc = WW_OK;
            goto out;
        }
    }
    rc = WW_EPROTO;
out:
    ww_resp_free(&resp);
    ww_buf_free(&sel);
    ww_buf_free(&path);
    return rc;
}

/* 1 if the ConfigMap cm was written by writer, as its write number seq
 * (data[seq_key]): our own write, whose answer was lost. */
static int holds_write(ww_span cm, const char *writer, const char *seq_key, unsigned long long seq) {
    ww_span d;
    char w[200], sv[32];
    return !ww_json_get(cm, "data", &d) && !str_field(d, "writer", w, sizeof w) && !strcmp(w, writer) &&
           !str_field(d, seq_key, sv, sizeof sv) && strtoull(sv, NULL, 10) == seq;
}

static int holds_our_save(const cm_store *s, ww_span cm) { return holds_write(cm, s->writer, "save", s->seq); }

/* A 409 to our commit. libcurl resends a request once when a reused
 * connection died before the answer: then the 409 may be about our own
 * write, which landed the first time. WW_OK (state adopted) in that case. */
static ww_rc conflict(cm_store *s, char *err, size_t errsz) {
    char other[200] = "", e2[256];
    ww_resp resp;
    if (get_cm(s, s->u.name, &resp, e2, sizeof e2) == WW_OK) {
        ww_span cm = {resp.body.p, resp.body.len}, data;
        char w[160];
        if (holds_our_save(s, cm)) {
            adopt_meta(s, cm);
            ww_resp_free(&resp);
            ww_info("store", "configmap %s: our save landed though its answer was lost", s->shown);
            return WW_OK;
        }
        /* name the other writer when the ConfigMap says who it was */
        if (!ww_json_get(cm, "data", &data) && !str_field(data, "writer", w, sizeof w) && strcmp(w, s->writer))
            snprintf(other, sizeof other, "; it was last written by %s", w);
    }
    ww_resp_free(&resp);
    if (s->exists)
        snprintf(err, errsz,
                 "configmap %s was changed by another writer (resourceVersion %s expected)%s: is a second "
                 "workflow-watcher using the same checkpoint?",
                 s->shown, s->rv, other);
    else
        snprintf(err, errsz,
                 "configmap %s was created by another writer (it did not exist when we loaded the checkpoint)%s: "
                 "is a second workflow-watcher using the same checkpoint?",
                 s->shown, other);
    return WW_ECONFLICT;
}

/* The ConfigMap NAME: the blob itself, or the list of its parts. */
static ww_rc main_body(const cm_store *s, ww_buf *body, size_t n, size_t clen, unsigned long crc,
                       unsigned long long gen, size_t nparts, const unsigned char *comp) {
    ww_rc rc = ww_buf_printf(body,
                             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
                             "\"namespace\":\"%s\",",
                             s->u.name, s->u.ns);
    if (!rc && s->exists) rc = ww_buf_printf(body, "\"resourceVersion\":\"%s\",", s->rv);
    if (!rc) rc = put_labels(body, s, 0);
    if (!rc) rc = ww_buf_printf(body, "},\"data\":{\"format\":\"%s\"", nparts ? FORMAT_SPLIT : FORMAT_INLINE);
    if (!rc)
        rc = ww_buf_printf(body,
                           ",\"bytes\":\"%zu\",\"compressed-bytes\":\"%zu\",\"crc32\":\"%08lx\","
                           "\"generation\":\"%llu\"",
                           n, clen, crc, gen);
    if (!rc) rc = put_str(body, "writer", s->writer);
    if (!rc) rc = ww_buf_printf(body, ",\"save\":\"%llu\"", s->seq);
    if (!rc && nparts) {
        rc = ww_buf_puts(body, ",\"parts\":\"");
        for (size_t i = 0; !rc && i < nparts; i++)
            rc = ww_buf_printf(body, "%s%s-%llu-%zu", i ? "," : "", s->u.name, gen, i);
        if (!rc) rc = ww_buf_puts(body, "\"");
    }
    if (!rc) rc = ww_buf_puts(body, "}");
    if (!rc && !nparts) {
        rc = ww_buf_puts(body, ",\"binaryData\":{");
        if (!rc) rc = put_b64(body, "checkpoint", comp, clen);
        if (!rc) rc = ww_buf_puts(body, "}");
    }
    if (!rc) rc = ww_buf_puts(body, "}");
    return rc;
}

static ww_rc cm_save(void *state, const char *data, size_t n, char *err, size_t errsz) {
    cm_store *s = state;
    ww_rc rc = WW_OK;
    ww_buf body, path;
    ww_buf_init(&path, 1024);
    ww_resp resp;
    ww_resp_init(&resp, 0);
    char what[256];

    /* Saving without a load first adopts whatever is there. When the answer
     * to our last commit was lost, it may have landed: then the ConfigMap
     * names us and that save, and we go on from it (else the update below
     * would take our own write for another writer's). */
    if (!s->known || s->uncertain) {
        rc = get_cm(s, s->u.name, &resp, err, errsz);
        ww_span cm = {resp.body.p, resp.body.len};
        if (rc == WW_ENOENT && !s->known) {
            s->exists = 0;
        } else if (rc == WW_OK && !s->known) {
            adopt_meta(s, cm);
            s->parts_maybe = 1;
        } else if (rc == WW_OK && holds_our_save(s, cm)) {
            adopt_meta(s, cm);
            ww_info("store", "configmap %s: our previous save landed though its answer was lost", s->shown);
        }
        ww_resp_free(&resp);
        if (rc && rc != WW_ENOENT) return rc;
        rc = WW_OK;
        s->known = 1;
        s->uncertain = 0;
    }

    uLong bound = compressBound((uLong)n);
    unsigned char *comp = malloc(bound ? bound : 1);
    if (!comp) return WW_ENOMEM;
    uLongf clen = bound;
    if (compress2(comp, &clen, (const Bytef *)data, (uLong)n, Z_DEFAULT_COMPRESSION) != Z_OK) {
        free(comp);
        snprintf(err, errsz, "configmap %s: cannot compress the checkpoint", s->shown);
        return WW_ENOMEM;
    }
    unsigned long crc = crc_of(comp, clen);
    size_t nparts = clen > s->u.part_bytes ? (clen + s->u.part_bytes - 1) / s->u.part_bytes : 0;
    ww_buf_init(&body, clen / 3 * 4 + 256 * (nparts + 1) + 65536);
    if (nparts > MAX_PARTS) {
        snprintf(err, errsz,
                 "configmap %s: the checkpoint is %lu bytes compressed, more than %d parts of %zu bytes; raise "
                 "?part-bytes= in the --checkpoint URL",
                 s->shown, (unsigned long)clen, MAX_PARTS, s->u.part_bytes);
        rc = WW_ETOOBIG;
        goto out;
    }

    /* 1. the parts, in a generation nobody used */
    unsigned long long gen = s->gen;
    if (nparts) {
        for (int attempt = 0;; attempt++) {
            gen = (s->tried_gen > s->gen ? s->tried_gen : s->gen) + 1;
            s->tried_gen = gen;
            s->parts_maybe = 1;
            size_t i = 0;
            for (; i < nparts; i++) {
                size_t off = i * s->u.part_bytes, len = clen - off < s->u.part_bytes ? clen - off : s->u.part_bytes;
                if ((rc = create_part(s, gen, i, nparts, comp + off, len, err, errsz))) break;
            }
            if (rc != WW_EEXIST) break;
            if (attempt == 10) {
                snprintf(err, errsz,
                         "configmap %s: the part names of 10 generations up to %llu were taken: is a second "
                         "workflow-watcher using the same checkpoint?",
                         s->shown, gen);
                rc = WW_ECONFLICT;
                break;
            }
            ww_info("store",
                    "configmap %s/%s-%llu-%zu exists already (left by an interrupted save?); using the next "
                    "generation",
                    s->u.ns, s->u.name, gen, i);
        }
        if (rc) goto out;
    }

    /* 2. the commit; a ConfigMap deleted meanwhile (by hand: a second
     * watcher never deletes it) is created again */
    for (int again = 0;; again = 1) {
        ww_buf_reset(&body);
        ww_buf_reset(&path);
        ww_resp_free(&resp);
        ww_resp_init(&resp, 0);
        s->seq++;
        if ((rc = main_body(s, &body, n, clen, crc, gen, nparts, comp)) ||
            (rc = path_of(&path, s, s->exists ? s->u.name : NULL, "?fieldManager=workflow-watcher")))
            goto out;
        snprintf(what, sizeof what, "%s configmap %s", s->exists ? "update" : "create", s->shown);
        s->uncertain = 1;
        if ((rc = send_req(s, s->exists ? "PUT" : "POST", path.p, &body, &resp, MAX_ONE_BODY, what, err, errsz)))
            goto out;
        if (resp.status == 404 && s->exists && !again) {
            ww_warn("store", "configmap %s was deleted (by hand?) while we ran; creating it again", s->shown);
            s->exists = 0;
            s->rv[0] = '\0';
            continue;
        }
        break;
    }
    /* A definite answer: the write happened or it did not. */
    if (resp.status < 500 && resp.status != 408 && resp.status != 429) s->uncertain = 0;
    int created = !s->exists;
    if (resp.status == 409) {
        if ((rc = conflict(s, err, errsz))) goto out;
    } else if (resp.status != 200 && resp.status != 201) {
        rc = http_error(s, &resp, what, err, errsz);
        goto out;
    } else {
        adopt_meta(s, (ww_span){resp.body.p, resp.body.len});
    }
    s->gen = gen;
    if (created) ww_info("store", "created configmap %s for the checkpoint", s->shown);
    ww_debug("store", "configmap %s: saved %zu bytes (%lu compressed, %zu parts, resourceVersion %s)", s->shown, n,
             (unsigned long)clen, nparts, s->rv);
    journal_clear(s);

    /* 3. old parts */
    if (s->parts_maybe) {
        /* Without list or delete rights, an unsplit checkpoint stops trying. */
        ww_rc cr = cleanup(s, nparts ? gen : gen + 1);
        if (!nparts && (cr == WW_OK || cr == WW_EAUTH)) s->parts_maybe = 0;
    }
out:
    free(comp);
    ww_buf_free(&body);
    ww_buf_free(&path);
    ww_resp_free(&resp);
    return rc;
}

/* ---- journal ---- */

static ww_rc journal_body(const cm_store *s, ww_buf *b, const char *rec, size_t n) {
    ww_rc rc = ww_buf_printf(b,
                             "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
                             "\"namespace\":\"%s\",",
                             s->jname, s->u.ns);
    if (!rc && s->jexists) rc = ww_buf_printf(b, "\"resourceVersion\":\"%s\",", s->jrv);
    if (!rc)
        rc = ww_buf_printf(b,
                           "\"labels\":{\"" MANAGED_BY "\":\"workflow-watcher\",\"" LABEL_CHECKPOINT
                           "\":\"%s\",\"" LABEL_ROLE "\":\"journal\"}},\"data\":{\"format\":\"" FORMAT_JOURNAL "\"",
                           s->u.name);
    if (!rc) rc = put_str(b, "checkpoint", s->shown);
    if (!rc) rc = put_str(b, "writer", s->jwriter);
    if (!rc) rc = ww_buf_printf(b, ",\"seq\":\"%llu\",\"records\":\"", s->jseq);
    if (!rc && n) rc = ww_buf_json_escape(b, rec, n);
    if (!rc) rc = ww_buf_puts(b, "\"}}");
    return rc;
}

static int holds_our_journal(const cm_store *s, ww_span cm) { return holds_write(cm, s->jwriter, "seq", s->jseq); }

/* Takes the journal's resourceVersion from cm, and its records too when
 * records is set. */
static ww_rc adopt_journal(cm_store *s, ww_span cm, int records, char *err, size_t errsz) {
    ww_span meta, v;
    s->jrv[0] = '\0';
    if (!ww_json_get(cm, "metadata", &meta)) str_field(meta, "resourceVersion", s->jrv, sizeof s->jrv);
    s->jexists = 1;
    if (!records) return WW_OK;
    ww_buf_reset(&s->jbuf);
    if (ww_json_path(cm, &v, "data", "records", NULL)) return WW_OK;
    char *text = ww_json_strdup(v);
    if (!text) {
        snprintf(err, errsz, "configmap %s/%s: data[\"records\"] is not a string", s->u.ns, s->jname);
        return WW_EPROTO;
    }
    ww_rc rc = ww_buf_puts(&s->jbuf, text);
    free(text);
    if (rc == WW_ETOOBIG)
        snprintf(err, errsz, "configmap %s/%s: the journal is larger than %zu bytes", s->u.ns, s->jname, s->jbuf.max);
    return rc;
}

/* GET NAME-journal: WW_OK with the body in resp, WW_ENOENT on 404;
 * WW_EINVAL when a ConfigMap of that name is no journal of ours. */
static ww_rc journal_get(cm_store *s, ww_resp *resp, char *err, size_t errsz) {
    ww_rc rc = get_cm(s, s->jname, resp, err, errsz);
    if (rc) return rc;
    ww_span data;
    char fmt[512];
    if (ww_json_get((ww_span){resp->body.p, resp->body.len}, "data", &data) ||
        str_field(data, "format", fmt, sizeof fmt) ||
        strncmp(fmt, FORMAT_JOURNAL_PREFIX, strlen(FORMAT_JOURNAL_PREFIX))) {
        snprintf(err, errsz,
                 "configmap %s/%s exists but holds no workflow-watcher journal (no data[\"format\"]); the "
                 "checkpoint in configmap %s keeps its journal under that name: rename or delete that ConfigMap, "
                 "or name another checkpoint in --checkpoint",
                 s->u.ns, s->jname, s->shown);
        return WW_EINVAL;
    }
    return WW_OK;
}

/* The message for a journal changed by someone else; cm may be NULL. */
static ww_rc journal_conflict_msg(const cm_store *s, const ww_span *cm, char *err, size_t errsz) {
    char other[240] = "", w[200];
    ww_span data;
    if (cm && !ww_json_get(*cm, "data", &data) && !str_field(data, "writer", w, sizeof w) && strcmp(w, s->jwriter))
        snprintf(other, sizeof other, "; it was last written by %s", w);
    if (s->jexists)
        snprintf(err, errsz,
                 "configmap %s/%s (the journal of the checkpoint in %s) was changed by another writer "
                 "(resourceVersion %s expected)%s: is a second workflow-watcher using the same checkpoint?",
                 s->u.ns, s->jname, s->shown, s->jrv, other);
    else
        snprintf(err, errsz,
                 "configmap %s/%s (the journal of the checkpoint in %s) was created by another writer%s: is a "
                 "second workflow-watcher using the same checkpoint?",
                 s->u.ns, s->jname, s->shown, other);
    return WW_ECONFLICT;
}

/* Reads the journal when we do not know it, or do not know whether our
 * last write landed. */
static ww_rc journal_sync(cm_store *s, char *err, size_t errsz) {
    ww_resp resp;
    ww_rc rc = journal_get(s, &resp, err, errsz);
    ww_span cm = {resp.body.p, resp.body.len};
    if (rc == WW_ENOENT) {
        /* when uncertain: our create did not land; jbuf is still what we
         * wanted to extend, and the next append creates it with all */
        if (!s->jknown) ww_buf_reset(&s->jbuf);
        s->jexists = 0;
        s->jrv[0] = '\0';
        rc = WW_OK;
    } else if (rc) {
        ww_resp_free(&resp);
        return rc;
    } else if (!s->jknown) {
        rc = adopt_journal(s, cm, 1, err, errsz);
    } else if (holds_our_journal(s, cm)) {
        rc = adopt_journal(s, cm, 1, err, errsz);
        ww_info("store", "configmap %s/%s: our journal write landed though its answer was lost", s->u.ns, s->jname);
    } else {
        char now[64];
        ww_span meta;
        if (ww_json_get(cm, "metadata", &meta) || str_field(meta, "resourceVersion", now, sizeof now) || !s->jexists ||
            strcmp(now, s->jrv))
            rc = journal_conflict_msg(s, &cm, err, errsz);
        /* else our write did not land: nothing changed */
    }
    ww_resp_free(&resp);
    if (rc) return rc;
    s->jknown = 1;
    s->juncertain = 0;
    return WW_OK;
}

/* A 409 to our journal write: ours if a resend of a write that landed. */
static ww_rc journal_conflict(cm_store *s, char *err, size_t errsz) {
    ww_resp resp;
    char e2[256];
    ww_rc rc = journal_get(s, &resp, e2, sizeof e2);
    ww_span cm = {resp.body.p, resp.body.len};
    if (rc == WW_OK && holds_our_journal(s, cm)) {
        rc = adopt_journal(s, cm, 0, err, errsz);
        ww_resp_free(&resp);
        ww_info("store", "configmap %s/%s: our journal write landed though its answer was lost", s->u.ns, s->jname);
        return rc;
    }
    rc = journal_conflict_msg(s, rc == WW_OK ? &cm : NULL, err, errsz);
    ww_resp_free(&resp);
    return rc;
}

/* Writes rec as the whole data["records"] of NAME-journal. */
static ww_rc journal_write(cm_store *s, const char *rec, size_t n, char *err, size_t errsz) {
    ww_buf body, path;
    ww_buf_init(&body, n * 6 + 65536);
    ww_buf_init(&path, 1024);
    ww_resp resp;
    ww_resp_init(&resp, 0);
    char what[256];
    ww_rc rc;
    for (int again = 0;; again = 1) {
        ww_buf_reset(&body);
        ww_buf_reset(&path);
        ww_resp_free(&resp);
        ww_resp_init(&resp, 0);
        s->jseq++;
        if ((rc = journal_body(s, &body, rec, n)) ||
            (rc = path_of(&path, s, s->jexists ? s->jname : NULL, "?fieldManager=workflow-watcher")))
            goto out;
        snprintf(what, sizeof what, "%s configmap %s/%s (the journal of the checkpoint in %s)",
                 s->jexists ? "update" : "create", s->u.ns, s->jname, s->shown);
        s->juncertain = 1;
        if ((rc = send_req(s, s->jexists ? "PUT" : "POST", path.p, &body, &resp, MAX_ONE_BODY, what, err, errsz)))
            goto out;
        if (resp.status == 404 && s->jexists && !again) {
            ww_warn("store", "configmap %s/%s was deleted (by hand?) while we ran; creating it again", s->u.ns,
                    s->jname);
            s->jexists = 0;
            s->jrv[0] = '\0';
            continue;
        }
        break;
    }
    /* A definite answer: the write happened or it did not. */
    if (resp.status < 500 && resp.status != 408 && resp.status != 429) s->juncertain = 0;
    if (resp.status == 200 || resp.status == 201)
        rc = adopt_journal(s, (ww_span){resp.body.p, resp.body.len}, 0, err, errsz);
    else if (resp.status == 409)
        rc = journal_conflict(s, err, errsz);
    else
        rc = http_error(s, &resp, what, err, errsz);
out:
    ww_buf_free(&body);
    ww_buf_free(&path);
    ww_resp_free(&resp);
    return rc;
}

static ww_rc cm_journal_append(void *state, const char *data, size_t n, char *err, size_t errsz) {
    cm_store *s = state;
    if (!n) return WW_OK;
    ww_rc rc;
    if ((!s->jknown || s->juncertain) && (rc = journal_sync(s, err, errsz))) return rc;
    if (n > JOURNAL_MAX_BYTES - s->jbuf.len) {
        snprintf(err, errsz,
                 "configmap %s/%s: the journal would grow past %zu bytes; it is emptied when the checkpoint is "
                 "saved next",
                 s->u.ns, s->jname, JOURNAL_MAX_BYTES);
        return WW_ETOOBIG;
    }
    size_t old = s->jbuf.len;
    if ((rc = ww_buf_append(&s->jbuf, data, n))) return rc;
    if ((rc = journal_write(s, s->jbuf.p, s->jbuf.len, err, errsz))) {
        /* what the server holds unless the write landed (juncertain: the
         * next append finds out) */
        s->jbuf.len = old;
        s->jbuf.p[old] = '\0';
        return rc;
    }
    ww_debug("store", "configmap %s/%s: journaled %zu bytes (%zu in all, resourceVersion %s)", s->u.ns, s->jname, n,
             s->jbuf.len, s->jrv);
    return WW_OK;
}

static ww_rc cm_journal_load(void *state, ww_buf *out, char *err, size_t errsz) {
    cm_store *s = state;
    s->jknown = s->juncertain = 0;
    ww_rc rc = journal_sync(s, err, errsz);
    if (rc) return rc;
    if (!s->jexists) return WW_ENOENT;
    if (s->jbuf.len && (rc = ww_buf_append(out, s->jbuf.p, s->jbuf.len)) == WW_ETOOBIG)
        snprintf(err, errsz, "configmap %s/%s: the journal is larger than %zu bytes", s->u.ns, s->jname, out->max);
    if (!rc)
        ww_debug("store", "configmap %s/%s: read %zu bytes of journal (resourceVersion %s)", s->u.ns, s->jname,
                 s->jbuf.len, s->jrv);
    return rc;
}

/* After a save: the blob covers every record, so the journal is emptied.
 * A failure is a warning; the next save tries again. */
static void journal_clear(cm_store *s) {
    char err[1024] = "";
    ww_rc rc = WW_OK;
    if (!s->jknown || s->juncertain) rc = journal_sync(s, err, sizeof err);
    if (!rc && (!s->jexists || !s->jbuf.len)) return;
    if (!rc) rc = journal_write(s, "", 0, err, sizeof err);
    if (!rc) {
        ww_debug("store", "configmap %s/%s: emptied the journal (%zu bytes; resourceVersion %s)", s->u.ns, s->jname,
                 s->jbuf.len, s->jrv);
        ww_buf_reset(&s->jbuf);
        return;
    }
    ww_warn("store",
            "cannot empty the journal configmap %s/%s after saving the checkpoint: %s (harmless: the checkpoint "
            "covers its records; the next save tries again)",
            s->u.ns, s->jname, err[0] ? err : ww_strerror(rc));
}

/* ---- open/close ---- */

static ww_stop_flag no_stop;

static void cm_close(void *state) {
    cm_store *s = state;
    if (!s) return;
    ww_kube_client_free(s->kc);
    ww_buf_free(&s->jbuf);
    free(s);
}

static ww_rc cm_open(const char *url, const ww_store_env *env, void **state, char *err, size_t errsz) {
    cm_store *s = calloc(1, sizeof *s);
    if (!s) return WW_ENOMEM;
    ww_rc rc = ww_configmap_url_parse(url, &s->u, err, errsz);
    if (rc) {
        free(s);
        return rc;
    }
    if (!env || !env->kc) {
        snprintf(err, errsz, "--checkpoint %s: no Kubernetes configuration to reach the API server with", url);
        free(s);
        return WW_EINVAL;
    }
    snprintf(s->shown, sizeof s->shown, "%s/%s", s->u.ns, s->u.name);
    char host[64];
    if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "unknown-host");
    host[sizeof host - 1] = '\0';
    snprintf(s->writer, sizeof s->writer, "%s pid %ld", host, (long)getpid());
    /* a restarted container may have the same host name and pid */
    unsigned run_id = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    if (getentropy(&run_id, sizeof run_id)) run_id ^= (unsigned)clock();
    snprintf(s->jwriter, sizeof s->jwriter, "%s run %08x", s->writer, run_id);
    snprintf(s->jname, sizeof s->jname, "%s-journal", s->u.name);
    ww_buf_init(&s->jbuf, JOURNAL_MAX_BYTES);
    if (!(s->kc = ww_kube_client_new(env->kc, env->stop ? env->stop : &no_stop))) {
        free(s);
        return WW_ENOMEM;
    }
    s->parts_maybe = 1; /* an interrupted save may have left some */
    *state = s;
    return WW_OK;
}

const ww_store_type ww_store_configmap = {"configmap", cm_open,           cm_load,        cm_save,
                                          cm_close,    cm_journal_append, cm_journal_load};
