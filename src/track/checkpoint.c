/* checkpoint.c - serialising the tracker's committed state. */
#include "track/checkpoint.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "core/log.h"
#include "track/status.h"

#define FORMAT "workflow-watcher-checkpoint"
#define JOURNAL_RELIST "#relist"
#define JOURNAL_KIND "#kind"

/* Appends "key":"v" (or null), after a comma unless first. */
static ww_rc put_str(ww_buf *b, int first, const char *key, const char *v) {
    ww_rc rc = ww_buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
    if (rc) return rc;
    if (!v) return ww_buf_puts(b, "null");
    rc = ww_buf_puts(b, "\"");
    if (!rc) rc = ww_buf_json_escape(b, v, strlen(v));
    if (!rc) rc = ww_buf_puts(b, "\"");
    return rc;
}

static int clean(const char *s) { return !strpbrk(s, "\t\n"); }

ww_rc ww_checkpoint_write(const ww_tracker *t, const ww_ckpt_identity *id, ww_buf *out) {
    /* The object lines go straight into out and the header is put in front
     * afterwards: one copy of the index text in memory, not two. */
    ww_buf_reset(out);
    ww_rc rc = WW_OK;
    size_t n = 0;
    for (size_t i = 0; i < t->index.cap && !rc; i++) {
        const ww_index_entry *e = &t->index.slots[i];
        if (!e->key) continue;
        const char *f[4] = {ww_index_uid(e), ww_index_ns(e), ww_index_name(e), ww_index_rv(e)};
        if (!clean(f[0]) || !clean(f[1]) || !clean(f[2]) || !clean(f[3])) continue; /* cannot be a Kubernetes name */
        rc = ww_buf_printf(out, "%s\t%s\t%s\t%s\t%s\t%08x%s\n", f[0], f[1], f[2], f[3], ww_phase_name(e->phase),
                           e->digest, e->pending ? "\tpending" : "");
        n++;
    }
    if (rc) return rc;
    size_t body_len = out->len;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    ww_buf h;
    ww_buf_init(&h, 1 << 20);
    rc = ww_buf_printf(&h, "{\"format\":\"" FORMAT "\",\"version\":2,\"written\":\"%s\"", when);
    if (!rc) rc = put_str(&h, 0, "server", id->server);
    if (!rc) rc = put_str(&h, 0, "resource", id->resource);
    if (!rc) rc = put_str(&h, 0, "selector", id->selector ? id->selector : "");
    if (!rc) rc = put_str(&h, 0, "fieldSelector", id->field_selector ? id->field_selector : "");
    /* what a synthesised DELETED carries, for a relist that lists nothing */
    if (!rc) rc = put_str(&h, 0, "apiVersion", t->api_version);
    if (!rc) rc = put_str(&h, 0, "kind", t->kind);
    if (!rc) rc = ww_buf_puts(&h, ",\"streams\":[");
    for (size_t i = 0; i < t->n_streams && !rc; i++) {
        const ww_stream *s = &t->streams[i];
        rc = ww_buf_puts(&h, i ? ",{" : "{");
        if (!rc) rc = put_str(&h, 1, "namespace", s->namespace_);
        if (!rc) rc = put_str(&h, 0, "resourceVersion", s->rv);
        /* a snapshot in progress over the RV, or one that must be redone */
        if (!rc && s->listed && (s->open || !s->rv[0])) rc = ww_buf_puts(&h, ",\"relist\":true");
        if (!rc) rc = ww_buf_puts(&h, "}");
    }
    /* streams of namespaces not watched now, as they were */
    if (!rc && t->dormant.len) rc = ww_buf_append(&h, t->dormant.p, t->dormant.len);
    if (!rc) rc = ww_buf_printf(&h, "],\"objects\":%zu", n);
    /* The crc covers the header (RVs, identity) and the object lines. */
    uLong crc = crc32_z(0L, (const Bytef *)h.p, h.len);
    if (body_len) crc = crc32_z(crc, (const Bytef *)out->p, body_len); /* (a NULL buffer would reset it) */
    if (!rc) rc = ww_buf_printf(&h, ",\"crc32\":\"%08lx\"}\n", crc);
    if (!rc) rc = ww_buf_append(out, h.p, h.len); /* room for the header */
    if (!rc) {
        memmove(out->p + h.len, out->p, body_len);
        memcpy(out->p, h.p, h.len);
    }
    ww_buf_free(&h);
    return rc;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int same(const char *a, const char *b) { return !strcmp(a ? a : "", b ? b : ""); }

/* Splits the line [p, le) at tabs into at most max fields (copied into
 * line). Returns the number of fields, max + 1 when there are more, 0 when
 * the line is too long. */
static int split_line(const char *p, const char *le, char (*line)[1024], char **f, int max) {
    size_t ll = (size_t)(le - p);
    if (ll >= sizeof *line) return 0;
    memcpy(*line, p, ll);
    (*line)[ll] = 0;
    char *rest = *line, *x;
    int nf = 0;
    while (nf < max && (x = strsep(&rest, "\t"))) f[nf++] = x;
    return rest ? max + 1 : nf;
}

/* 1 if objects of namespace ns belong to one of t's streams. */
static int watched(const ww_tracker *t, const char *ns) {
    for (size_t i = 0; i < t->n_streams; i++)
        if (!t->streams[i].namespace_ || !strcmp(t->streams[i].namespace_, ns)) return 1;
    return 0;
}

ww_rc ww_checkpoint_read(ww_tracker *t, const ww_ckpt_identity *id, const char *data, size_t n, char *err,
                         size_t errsz) {
    const char *nl = memchr(data, '\n', n);
    if (!nl) {
        snprintf(err, errsz, "it is not a workflow-watcher checkpoint (no header line)");
        return WW_EPROTO;
    }
    cJSON *h = cJSON_ParseWithLength(data, (size_t)(nl - data));
    const char *fmt = h ? jstr(h, "format") : NULL;
    if (!fmt || strcmp(fmt, FORMAT)) {
        snprintf(err, errsz,
                 "it is not a workflow-watcher checkpoint (the first line has no \"format\":\"" FORMAT "\")");
        cJSON_Delete(h);
        return WW_EPROTO;
    }
    ww_rc rc = WW_OK;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(h, "version");
    const cJSON *objects = cJSON_GetObjectItemCaseSensitive(h, "objects");
    const cJSON *streams = cJSON_GetObjectItemCaseSensitive(h, "streams");
    const char *crc_s = jstr(h, "crc32");
    const char *body = nl + 1;
    size_t blen = n - (size_t)(body - data);
    char crc_now[16];
    /* Version 2's crc covers the header up to ,"crc32" too; version 1's
     * only the object lines. */
    uLong crc = 0L;
    if (cJSON_IsNumber(ver) && ver->valuedouble == 2) {
        const char *c = memmem(data, (size_t)(nl - data), ",\"crc32\":", 9);
        if (c) crc = crc32_z(0L, (const Bytef *)data, (size_t)(c - data));
    }
    if (blen) crc = crc32_z(crc, (const Bytef *)body, blen);
    snprintf(crc_now, sizeof crc_now, "%08lx", crc);
    if (!cJSON_IsNumber(ver) || (ver->valuedouble != 1 && ver->valuedouble != 2)) {
        snprintf(err, errsz, "checkpoint format version %g is not 1 or 2 (written by a newer workflow-watcher?)",
                 cJSON_IsNumber(ver) ? ver->valuedouble : -1.0);
        rc = WW_EPROTO;
    } else if (!cJSON_IsNumber(objects) || !(objects->valuedouble >= 0 && objects->valuedouble <= 1e15) ||
               !cJSON_IsArray(streams) || !crc_s) {
        /* (the range check keeps the size_t conversion below defined) */
        snprintf(err, errsz, "the checkpoint header lacks objects (a count), streams or crc32");
        rc = WW_EPROTO;
    } else if (strcmp(crc_s, crc_now)) {
        snprintf(err, errsz, "the checkpoint is damaged: crc32 of its header and %zu bytes of objects is %s, the "
                 "header says %s", blen, crc_now, crc_s);
        rc = WW_EPROTO;
    } else if (!same(jstr(h, "resource"), id->resource) || !same(jstr(h, "selector"), id->selector) ||
               !same(jstr(h, "fieldSelector"), id->field_selector)) {
        snprintf(err, errsz,
                 "the checkpoint belongs to another watch: resource \"%s\", selector \"%s\", field selector \"%s\" "
                 "(this one: \"%s\", \"%s\", \"%s\")",
                 jstr(h, "resource") ? jstr(h, "resource") : "", jstr(h, "selector") ? jstr(h, "selector") : "",
                 jstr(h, "fieldSelector") ? jstr(h, "fieldSelector") : "", id->resource ? id->resource : "",
                 id->selector ? id->selector : "", id->field_selector ? id->field_selector : "");
        rc = WW_EINVAL;
    }
    if (rc) {
        cJSON_Delete(h);
        return rc;
    }
    if (!same(jstr(h, "server"), id->server))
        ww_warn("store", "the checkpoint was written for server %s, this is %s; resuming (same cluster?)",
                jstr(h, "server") ? jstr(h, "server") : "(none)", id->server ? id->server : "(none)");
    if (jstr(h, "apiVersion") && jstr(h, "kind") && !t->kind[0]) {
        snprintf(t->api_version, sizeof t->api_version, "%s", jstr(h, "apiVersion"));
        snprintf(t->kind, sizeof t->kind, "%s", jstr(h, "kind"));
    }
    const char *written = jstr(h, "written");
    struct tm wt;
    memset(&wt, 0, sizeof wt);
    if (written && strptime(written, "%Y-%m-%dT%H:%M:%SZ", &wt)) t->loaded_written = (long long)timegm(&wt);
    const cJSON *s;
    int all_listed = 0; /* a stream of all namespaces had listed: new namespace streams diff, not skip */
    cJSON_ArrayForEach(s, streams) {
        const char *ns = jstr(s, "namespace"), *rv = jstr(s, "resourceVersion");
        int relist = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "relist"));
        int listed = relist || (rv && rv[0]);
        int matched = 0;
        for (size_t i = 0; i < t->n_streams; i++) {
            ww_stream *st = &t->streams[i];
            if ((!ns && !st->namespace_) || (ns && st->namespace_ && !strcmp(ns, st->namespace_))) {
                snprintf(st->rv, sizeof st->rv, "%s", rv ? rv : "");
                st->listed = listed;
                /* An open snapshot at the save: list again, never replay. */
                if (relist) ww_tracker_relist(t, i);
                matched = 1;
            }
        }
        if (!ns && listed) all_listed = 1;
        /* A namespace not watched now keeps its stream for when it is. */
        if (!matched && ns && watched(t, ns) == 0) {
            char *txt = cJSON_PrintUnformatted(s);
            if (!txt || ww_buf_puts(&t->dormant, ",") || ww_buf_puts(&t->dormant, txt)) rc = WW_ENOMEM;
            free(txt);
        }
    }
    for (size_t i = 0; i < t->n_streams; i++)
        if (all_listed && t->streams[i].namespace_) t->streams[i].listed = 1;
    size_t want = (size_t)objects->valuedouble, got = 0, dropped = 0;
    const char *p = body, *end = body + blen;
    while (p < end && !rc) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        if (!le) {
            snprintf(err, errsz, "the checkpoint's last object line is cut short");
            rc = WW_EPROTO;
            break;
        }
        char line[1024];
        char *f[7];
        int nf = split_line(p, le, &line, f, 7);
        if ((nf != 6 && (nf != 7 || strcmp(f[6], "pending"))) || !f[0][0] || !f[3][0]) {
            snprintf(err, errsz, "object line %zu of the checkpoint is malformed", got + 1);
            rc = WW_EPROTO;
            break;
        }
        /* Objects of namespaces not watched now are kept, undiffed, so
         * their deletion is still published once they are watched again. */
        rc = ww_index_put(&t->index, f[0], f[1], f[2], f[3], 0, ww_phase_parse(f[4]), (uint32_t)strtoul(f[5], NULL, 16));
        if (!rc && nf == 7) ww_index_get(&t->index, f[0])->pending = 1;
        if (!watched(t, f[1])) dropped++;
        got++;
        p = le + 1;
    }
    if (!rc && got != want) {
        snprintf(err, errsz, "the checkpoint header says %zu objects, it holds %zu", want, got);
        rc = WW_EPROTO;
    }
    if (!rc && dropped)
        ww_info("store",
                "the checkpoint knows %zu objects of namespaces not watched now; they are kept, and compared "
                "with the API server when their namespace is watched again (--reset-checkpoint drops them)",
                dropped);
    cJSON_Delete(h);
    return rc;
}

/* A journal record is "FIELDS TAB crc32-of-FIELDS NEWLINE", so a record
 * damaged by a torn write or merged with another is recognised, not trusted. */
static ww_rc journal_line(ww_buf *out, const char *fields) {
    uLong crc = crc32_z(0L, (const Bytef *)fields, strlen(fields));
    return ww_buf_printf(out, "%s\t%08lx\n", fields, crc);
}

ww_rc ww_checkpoint_journal_record(const ww_commit *op, ww_buf *out) {
    const ww_objmeta *m = &op->meta;
    if (!clean(m->uid) || !clean(m->ns) || !clean(m->name) || !clean(m->rv)) return WW_OK;
    char f[1024];
    if (snprintf(f, sizeof f, "%s\t%s\t%s\t%s", m->uid, m->ns, m->name, m->rv) >= (int)sizeof f) return WW_OK;
    return journal_line(out, f);
}

ww_rc ww_checkpoint_journal_open_marker(const ww_tracker *t, size_t stream, ww_buf *out) {
    const char *ns = t->streams[stream].namespace_;
    char f[512];
    snprintf(f, sizeof f, "%s\t%s", JOURNAL_RELIST, ns ? ns : "*");
    return journal_line(out, f);
}

ww_rc ww_checkpoint_journal_kind(const ww_tracker *t, ww_buf *out) {
    char f[512];
    if (!t->kind[0] || !clean(t->api_version) || !clean(t->kind)) return WW_OK;
    snprintf(f, sizeof f, "%s\t%s\t%s", JOURNAL_KIND, t->api_version, t->kind);
    return journal_line(out, f);
}

ww_rc ww_checkpoint_read_journal(ww_tracker *t, const char *data, size_t n, size_t *applied, size_t *damaged) {
    *applied = *damaged = 0;
    const char *p = data, *end = data + n;
    while (p < end) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        if (!le) break; /* torn last record: its batch was never published */
        /* the checksum is the last field; it covers the text before it */
        const char *tab = memrchr(p, '\t', (size_t)(le - p));
        int ok = tab && le - tab == 9;
        if (ok) {
            char want[16];
            snprintf(want, sizeof want, "%08lx", crc32_z(0L, (const Bytef *)p, (size_t)(tab - p)));
            ok = !memcmp(want, tab + 1, 8);
        }
        char line[1024];
        char *f[6];
        int nf = ok ? split_line(p, tab, &line, f, 5) : 0;
        p = le + 1;
        if (nf == 3 && !strcmp(f[0], JOURNAL_KIND)) {
            if (!t->kind[0]) {
                snprintf(t->api_version, sizeof t->api_version, "%s", f[1]);
                snprintf(t->kind, sizeof t->kind, "%s", f[2]);
            }
            continue;
        }
        if (nf == 2 && !strcmp(f[0], JOURNAL_RELIST)) {
            /* a snapshot was open over the RV: list again, never replay */
            for (size_t i = 0; i < t->n_streams; i++) {
                const char *ns = t->streams[i].namespace_;
                if (!strcmp(ns ? ns : "*", f[1])) ww_tracker_relist(t, i);
            }
            continue;
        }
        if (nf != 4 || !f[0][0] || !f[3][0]) {
            (*damaged)++;
            continue;
        }
        if (!ww_index_get(&t->index, f[0])) {
            ww_rc rc = ww_index_put(&t->index, f[0], f[1], f[2], f[3], 0, 0, 0);
            if (rc) return rc;
            ww_index_get(&t->index, f[0])->pending = 1;
            (*applied)++;
        }
    }
    /* A damaged record may have been a marker: relisting is always safe. */
    if (*damaged) {
        for (size_t i = 0; i < t->n_streams; i++) ww_tracker_relist(t, i);
        t->journal_damaged = 1;
    }
    return WW_OK;
}
