/* pipeline.c - batching, ordered commits, retries, dead letters, saves. */
#include "pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/hash.h"
#include "core/io.h"
#include "core/log.h"
#include "encode/encode.h"

/* A delta copied out of the reflector's buffers, sized to what it holds:
 * the line (or object) bytes, then the metadata strings packed
 * ("uid\0ns\0name\0rv\0") and the delta's rv, so a bookmark or a small
 * object costs tens of bytes of overhead, not a whole ww_objmeta. */
typedef struct {
    ww_qitem q;
    uint16_t stream;
    uint8_t type;
    uint8_t has_meta;
    uint8_t has_rv;
    size_t line_n, obj_off, obj_n;
    char data[];
} delta_item;

/* Appends s and its NUL at p; returns the end. */
static char *put_z(char *p, const char *s) {
    size_t n = strlen(s) + 1;
    memcpy(p, s, n);
    return p + n;
}

static const char *get_z(const char **p, char *out, size_t outsz) {
    size_t n = strlen(*p);
    snprintf(out, outsz, "%s", *p);
    *p += n + 1;
    return out;
}

/* One change (or state-only commit) of the current batch. */
typedef struct {
    ww_commit op;
    int has_msg;
    int done;        /* acknowledged, or set aside as rejected: never sent again */
    size_t off, len; /* message bytes in data */
    size_t id_off;   /* id in ids */
} entry;

struct ww_pipeline {
    ww_pipeline_opts o;
    ww_tracker *t;
    ww_sink *sink;
    ww_store *store;
    ww_queue *q;
    ww_stop_flag *stop;
    int dl_fd;
    entry *ents;
    size_t n, cap, n_msgs;
    ww_msg *msgs;
    ww_ack *acks;
    size_t *sent;        /* entry index of each message of the current publish() call */
    const char **keyset; /* keys of the current call (open addressing), 2 * batch_messages + 2 slots */
    size_t keyset_cap;
    ww_buf data, ids, blob, jrec;
    double batch_start;
    double deadline; /* 0 until a stop was requested */
    double last_save;
    unsigned long unsaved;
    int dirty;
    int conflict; /* another writer owns the checkpoint: never save again */
    int save_now;       /* a save is due whatever the interval says */
    int kind_journaled; /* the journal (or the last save) has the resource's apiVersion and kind */
    ww_backoff bo;
    ww_pipeline_stats st;
};

ww_rc ww_pipeline_enqueue(ww_queue *q, size_t stream, const ww_delta *d, ww_stop_flag *stop) {
    size_t bytes = d->line.n ? d->line.n : d->object.n, extra = 0;
    const ww_objmeta *m = d->meta;
    if (m) extra += strlen(m->uid) + strlen(m->ns) + strlen(m->name) + strlen(m->rv) + 4;
    if (d->rv) extra += strnlen(d->rv, 63) + 1;
    delta_item *it = malloc(sizeof *it + bytes + extra);
    if (!it) return WW_ENOMEM;
    it->q.size = sizeof *it + bytes + extra;
    it->stream = (uint16_t)stream;
    it->type = (uint8_t)d->type;
    it->has_meta = m != NULL;
    it->has_rv = d->rv != NULL;
    char *x = it->data + bytes;
    if (m) x = put_z(put_z(put_z(put_z(x, m->uid), m->ns), m->name), m->rv);
    if (d->rv) {
        size_t n = strnlen(d->rv, 63);
        memcpy(x, d->rv, n);
        x[n] = 0;
    }
    it->line_n = d->line.n;
    it->obj_n = d->object.n;
    it->obj_off = 0;
    if (d->line.n) {
        memcpy(it->data, d->line.p, d->line.n);
        if (d->object.n) it->obj_off = (size_t)(d->object.p - d->line.p);
    } else if (d->object.n) {
        memcpy(it->data, d->object.p, d->object.n);
    }
    ww_rc rc = ww_queue_push(q, &it->q, stop);
    if (rc) free(it);
    return rc;
}

static int past_deadline(ww_pipeline *p) {
    double now = ww_now();
    if (*p->stop && !p->deadline) p->deadline = now + p->o.grace_s;
    return p->deadline && now >= p->deadline;
}

static ww_rc commit(ww_pipeline *p, const ww_commit *op) {
    /* A stream's first complete list is saved at once: until a save says
     * it listed, a restart lists again as if for the first time, and what
     * changed meanwhile would count as initial state, not as changes. */
    if (op->end && op->stream < p->t->n_streams && !p->t->streams[op->stream].listed) p->save_now = 1;
    ww_rc rc = ww_tracker_commit(p->t, op);
    if (rc) {
        ww_error("pipeline", "cannot update the index: %s", ww_strerror(rc));
        return rc;
    }
    p->dirty = 1;
    p->unsaved++;
    return WW_OK;
}

static ww_rc save(ww_pipeline *p, int force) {
    if (!p->store || !p->dirty || p->conflict || !strcmp(p->store->type->scheme, "none")) return WW_OK;
    double now = ww_now();
    /* The change count bounds duplicates after a crash; saves still come at
     * most once a second, as each one writes the whole index. */
    double since = now - p->last_save;
    if (p->save_now) force = 1;
    if (!force && since < p->o.save_interval_s && (p->unsaved < p->o.save_changes || since < 1.0)) return WW_OK;
    p->last_save = now;
    ww_rc rc = ww_checkpoint_write(p->t, &p->o.ident, &p->blob);
    char err[1024] = "";
    if (!rc) rc = ww_store_save(p->store, p->blob.p, p->blob.len, err, sizeof err);
    if (rc == WW_ECONFLICT) {
        p->conflict = 1;
        ww_error("store", "%s: %s; stopping", p->store->url, err);
        return rc;
    }
    if (rc) {
        p->st.save_failures++;
        ww_warn("store", "%s: cannot save the checkpoint: %s; will try again in %.0f s", p->store->url,
                err[0] ? err : ww_strerror(rc), p->o.save_interval_s);
        return WW_OK;
    }
    /* The blob is as large as the index text: give it back between saves. */
    ww_buf_free(&p->blob);
    ww_buf_init(&p->blob, (size_t)1 << 32);
    p->st.saves++;
    p->save_now = 0;
    p->kind_journaled = p->t->kind[0] != 0; /* the save emptied the journal; its header has the kind */
    /* the saved header says "relist" for every open snapshot */
    for (size_t s = 0; s < p->t->n_streams; s++) ww_tracker_open_durable(p->t, s);
    p->dirty = 0;
    p->unsaved = 0;
    ww_debug("store", "checkpoint saved: %zu objects, %zu bytes", p->t->index.len, p->blob.len);
    return WW_OK;
}

/* Appends {"time":..,"id":..,"key":..,"reason":..,"message":"..."} and fsyncs. */
static ww_rc dead_letter(ww_pipeline *p, const ww_msg *m, const char *why) {
    ww_buf b;
    ww_buf_init(&b, m->data.n * 6 + 4096);
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    ww_rc rc = ww_buf_printf(&b, "{\"time\":\"%s\",\"id\":\"", when);
    if (!rc) rc = ww_buf_json_escape(&b, m->id, strlen(m->id));
    if (!rc) rc = ww_buf_puts(&b, "\",\"key\":\"");
    if (!rc) rc = ww_buf_json_escape(&b, m->key, strlen(m->key));
    if (!rc) rc = ww_buf_puts(&b, "\",\"reason\":\"");
    if (!rc) rc = ww_buf_json_escape(&b, why, strlen(why));
    if (!rc) rc = ww_buf_puts(&b, "\",\"message\":\"");
    if (!rc) rc = ww_buf_json_escape(&b, m->data.p, m->data.n);
    if (!rc) rc = ww_buf_puts(&b, "\"}\n");
    if (!rc) rc = ww_write_all(p->dl_fd, b.p, b.len);
    if (!rc && fsync(p->dl_fd)) rc = WW_EIO;
    ww_buf_free(&b);
    return rc;
}

static ww_rc rejected(ww_pipeline *p, const ww_msg *m) {
    const char *why = p->sink->type->reject_reason ? p->sink->type->reject_reason(p->sink->state, m) : "rejected";
    p->st.rejected++;
    if (p->o.reject_stop || p->dl_fd < 0) {
        ww_error("pipeline",
                 "the sink rejected message %s for good (%s); stopping (--on-reject=stop). It was not acknowledged, so "
                 "the next start offers it again; pass --dead-letter FILE to set such messages aside instead",
                 m->id, why);
        return WW_EINVAL;
    }
    if (dead_letter(p, m, why)) {
        ww_error("pipeline",
                 "the sink rejected message %s (%s) and the dead-letter file %s cannot be written: %s; "
                 "stopping",
                 m->id, why, p->o.dead_letter, strerror(errno));
        return WW_EIO;
    }
    ww_warn("pipeline", "the sink rejected message %s for good (%s); written to the dead-letter file %s", m->id, why,
            p->o.dead_letter);
    return WW_OK;
}

/* Sleeps s seconds, or less once the grace period after a stop is over. */
static void nap(ww_pipeline *p, double s) {
    double end = ww_now() + s;
    while (ww_now() < end && !past_deadline(p)) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Before entries from..n are published: a journal record for each object
 * the index does not know, durable in the store; then pending index
 * entries for them, so that a save while they are in flight keeps them. */
static ww_rc journal(ww_pipeline *p, size_t from) {
    if (!p->store || !p->store->type->journal_append) return WW_OK; /* a store that keeps nothing */
    ww_buf_reset(&p->jrec);
    size_t n = 0, markers = 0;
    uint64_t marked = 0; /* streams whose open snapshot gets a marker in this append */
    for (size_t i = from; i < p->n; i++) {
        entry *e = &p->ents[i];
        if (!e->has_msg || e->done) continue;
        ww_rc rc = WW_OK;
        /* The marker goes first: a crash after this append relists the
         * stream rather than replaying older states after these. */
        if (ww_tracker_needs_open_marker(p->t, &e->op) && !(marked >> e->op.stream & 1)) {
            marked |= (uint64_t)1 << e->op.stream;
            rc = ww_checkpoint_journal_open_marker(p->t, e->op.stream, &p->jrec);
            markers++;
        }
        if (!rc && ww_tracker_unknown(p->t, &e->op)) {
            rc = ww_checkpoint_journal_record(&e->op, &p->jrec);
            n++;
        }
        if (rc) return rc;
    }
    if (!n && !markers) return WW_OK;
    /* once per run: the kind, unless the last save already carried it */
    int kind_now = !p->kind_journaled && p->t->kind[0];
    if (kind_now) {
        ww_rc rc = ww_checkpoint_journal_kind(p->t, &p->jrec);
        if (rc) return rc;
    }
    char err[1024] = "";
    ww_rc rc = ww_store_journal_append(p->store, p->jrec.p, p->jrec.len, err, sizeof err);
    if (rc == WW_ECONFLICT) {
        p->conflict = 1;
        ww_error("store", "%s: %s; stopping", p->store->url, err);
        return rc;
    }
    if (rc) {
        ww_warn("store", "%s: cannot journal %zu objects before publishing them: %s", p->store->url, n,
                err[0] ? err : ww_strerror(rc));
        return rc;
    }
    p->st.journaled += n;
    if (kind_now) p->kind_journaled = 1;
    for (size_t s = 0; s < p->t->n_streams; s++)
        if (marked >> s & 1) ww_tracker_open_durable(p->t, s);
    for (size_t i = from; i < p->n; i++) {
        entry *e = &p->ents[i];
        if (!e->has_msg || e->op.kind != WW_OP_PUT) continue;
        if ((rc = ww_tracker_mark_pending(p->t, &e->op))) return rc;
    }
    return WW_OK;
}

/* Between two attempts at a batch: counts the attempt, saves what was
 * acknowledged before (force: even if the interval has not passed), and
 * waits with backoff. WW_ESTOP once the grace period after a stop is over. */
static ww_rc back_off(ww_pipeline *p, unsigned *attempts, int force, const char *what) {
    ++*attempts;
    p->st.retries++;
    if (past_deadline(p)) return WW_ESTOP;
    double d = ww_backoff_next(&p->bo, ww_now());
    ww_warn("pipeline", "%s (attempt %u); retrying in %.1f s; the watch waits", what, *attempts, d);
    ww_rc rc = save(p, force);
    if (rc) return rc;
    nap(p, d);
    return past_deadline(p) ? WW_ESTOP : WW_OK;
}

static void reset_batch(ww_pipeline *p) {
    p->n = p->n_msgs = 0;
    ww_buf_reset(&p->data);
    ww_buf_reset(&p->ids);
}

/* Adds key to the current call's set: 0 if it was there already. */
static int key_add(ww_pipeline *p, const char *key) {
    size_t mask = p->keyset_cap - 1, i = (size_t)ww_hash_str(key) & mask;
    for (; p->keyset[i]; i = (i + 1) & mask)
        if (!strcmp(p->keyset[i], key)) return 0;
    p->keyset[i] = key;
    return 1;
}

/* Picks the messages of the next publish() call from entries from..n that
 * are not done yet: per object (key), only the oldest one, unless the sink
 * acknowledges in order (sink.h). So a message is never in flight while an
 * earlier one of its object is unacknowledged, whatever the sink answers. */
static size_t pick(ww_pipeline *p, size_t from) {
    int ordered = p->sink->type->in_order;
    if (!ordered) memset(p->keyset, 0, p->keyset_cap * sizeof *p->keyset);
    size_t k = 0;
    for (size_t i = from; i < p->n; i++) {
        entry *e = &p->ents[i];
        if (!e->has_msg || e->done) continue;
        const char *key = e->op.meta.uid[0] ? e->op.meta.uid : NULL;
        /* a later message of a key already in the call waits (and marks
         * nothing: the key stays taken) */
        if (key && !ordered && !key_add(p, key)) continue;
        p->msgs[k] = (ww_msg){{p->data.p + e->off, e->len}, p->ids.p + e->id_off, key};
        p->sent[k++] = i;
    }
    return k;
}

/* Publishes the batch until every message is acknowledged or set aside,
 * and commits their prepared state strictly in order.
 * WW_ESTOP when the grace period ran out first (nothing more is committed),
 * another error when the watcher must stop. */
/* Commits the entries from *done on that need nothing more, in order. */
static ww_rc commit_prefix(ww_pipeline *p, size_t *done) {
    while (*done < p->n && (!p->ents[*done].has_msg || p->ents[*done].done)) {
        ww_rc rc = commit(p, &p->ents[(*done)++].op);
        if (rc) return rc;
    }
    return WW_OK;
}

static ww_rc flush(ww_pipeline *p) {
    size_t done = 0;
    unsigned attempts = 0;
    for (;;) {
        ww_rc rc = commit_prefix(p, &done);
        if (rc) return rc;
        if (done == p->n) break;
        /* Objects published for the first time are journaled first (and
         * a snapshot open over its stream's RV is marked). */
        rc = journal(p, done);
        if (rc == WW_ECONFLICT) return rc;
        if (rc) {
            /* A save empties the journal (a full one answers WW_ETOOBIG). */
            if (rc == WW_ETOOBIG) p->dirty = 1;
            if ((rc = back_off(p, &attempts, rc == WW_ETOOBIG, "cannot journal the batch"))) return rc;
            continue;
        }
        size_t k = pick(p, done);
        rc = ww_sink_publish(p->sink, p->msgs, k, p->acks);
        p->st.batches++;
        if (rc != WW_OK && rc != WW_RETRY) {
            ww_error("pipeline",
                     "the sink failed for good (%s); stopping. %zu messages were not acknowledged and will "
                     "be read again at the next start",
                     ww_strerror(rc), k);
            return rc;
        }
        size_t retry = 0;
        for (size_t j = 0; j < k; j++) {
            entry *e = &p->ents[p->sent[j]];
            if (p->acks[j] == WW_ACK_RETRY) {
                retry++;
                continue;
            }
            if (p->acks[j] == WW_ACK_REJECT && (rc = rejected(p, &p->msgs[j]))) {
                /* stopping: what was acknowledged before it stays acknowledged */
                commit_prefix(p, &done);
                return rc;
            }
            if (p->acks[j] == WW_ACK_OK) p->st.acked++;
            e->done = 1;
        }
        if (!retry) continue; /* next: the messages held back behind their object's earlier one */
        /* what was acknowledged before the first retry is committed (and
         * saved) before the wait */
        if ((rc = commit_prefix(p, &done))) return rc;
        char what[64];
        snprintf(what, sizeof what, "the sink did not take %zu messages", retry);
        if ((rc = back_off(p, &attempts, 0, what))) return rc;
    }
    if (attempts) ww_info("pipeline", "the sink took the batch after %u retries", attempts);
    reset_batch(p);
    return save(p, 0);
}

static ww_rc on_change(void *ud, const ww_change *c, const ww_commit *op) {
    ww_pipeline *p = ud;
    if (!c && p->n == 0) {
        ww_rc rc = commit(p, op);
        return rc ? rc : save(p, 0);
    }
    if (p->n == p->cap) {
        size_t ncap = p->cap * 2;
        entry *ne = realloc(p->ents, ncap * sizeof *ne);
        if (!ne) return WW_ENOMEM;
        p->ents = ne;
        p->cap = ncap;
    }
    entry *e = &p->ents[p->n];
    e->op = *op;
    e->has_msg = c != NULL;
    e->done = 0;
    if (c) {
        e->off = p->data.len;
        ww_rc rc = ww_encode_raw(c, &p->data);
        if (!rc) {
            e->id_off = p->ids.len;
            rc = ww_buf_append(&p->ids, c->id, strlen(c->id) + 1);
        }
        if (rc) {
            ww_error("encode", "cannot encode change %s (%zu bytes): %s; stopping", c->id, c->object.n,
                     ww_strerror(rc));
            p->data.len = e->off;
            return rc;
        }
        e->len = p->data.len - e->off;
        p->n_msgs++;
    }
    if (p->n == 0) p->batch_start = ww_now();
    p->n++;
    if (p->n_msgs >= p->o.batch_messages || p->data.len >= p->o.batch_bytes || p->n == p->cap) return flush(p);
    return WW_OK;
}

ww_rc ww_pipeline_new(const ww_pipeline_opts *o, ww_tracker *t, ww_sink *sink, ww_store *store, ww_queue *q,
                      ww_stop_flag *stop, ww_pipeline **out, char *err, size_t errsz) {
    ww_pipeline *p = calloc(1, sizeof *p);
    if (!p) return WW_ENOMEM;
    p->o = *o;
    p->t = t;
    p->sink = sink;
    p->store = store;
    p->q = q;
    p->stop = stop;
    p->dl_fd = -1;
    p->cap = o->batch_messages * 2 + 64;
    if (p->cap < 1024) p->cap = 1024;
    p->ents = malloc(p->cap * sizeof *p->ents);
    p->msgs = malloc((o->batch_messages + 1) * sizeof *p->msgs);
    p->acks = malloc((o->batch_messages + 1) * sizeof *p->acks);
    p->sent = malloc((o->batch_messages + 1) * sizeof *p->sent);
    p->keyset_cap = 16; /* a power of two, at most half full */
    while (p->keyset_cap < 2 * (o->batch_messages + 1)) p->keyset_cap *= 2;
    p->keyset = malloc(p->keyset_cap * sizeof *p->keyset);
    ww_buf_init(&p->data, o->batch_bytes + o->max_message + 65536);
    ww_buf_init(&p->ids, 1 << 30);
    ww_buf_init(&p->blob, (size_t)1 << 32);
    ww_buf_init(&p->jrec, (size_t)1 << 30);
    ww_backoff_init(&p->bo, 0.5, 30, 120, (uint64_t)time(NULL) ^ (uint64_t)getpid());
    if (!p->ents || !p->msgs || !p->acks || !p->sent || !p->keyset) {
        ww_pipeline_free(p);
        return WW_ENOMEM;
    }
    if (o->dead_letter) {
        p->dl_fd = open(o->dead_letter, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (p->dl_fd < 0) {
            snprintf(err, errsz, "--dead-letter %s: cannot open: %s", o->dead_letter, strerror(errno));
            ww_pipeline_free(p);
            return WW_EIO;
        }
    }
    t->emit = on_change;
    t->ud = p;
    *out = p;
    return WW_OK;
}

ww_rc ww_pipeline_run(ww_pipeline *p) {
    ww_rc rc = WW_OK;
    /* The save interval counts from the loaded checkpoint's save, so a
     * watcher killed soon after its start re-delivers at most one
     * interval's worth; without a checkpoint the first save is due at once. */
    double age = p->o.save_interval_s;
    if (p->t->loaded_written) {
        age = (double)((long long)time(NULL) - p->t->loaded_written);
        if (age < 0) age = 0;
    }
    p->last_save = ww_now() - age;
    for (;;) {
        if (past_deadline(p)) {
            rc = WW_ESTOP;
            break;
        }
        double timeout = 0.25;
        if (p->n) {
            timeout = p->batch_start + p->o.linger_s - ww_now();
            if (timeout < 0) timeout = 0;
        }
        ww_qitem *qi = ww_queue_pop(p->q, timeout);
        if (qi) {
            delta_item *it = (delta_item *)qi;
            ww_objmeta meta;
            const char *x = it->data + (it->line_n ? it->line_n : it->obj_n);
            if (it->has_meta) {
                get_z(&x, meta.uid, sizeof meta.uid);
                get_z(&x, meta.ns, sizeof meta.ns);
                get_z(&x, meta.name, sizeof meta.name);
                get_z(&x, meta.rv, sizeof meta.rv);
            }
            ww_delta d = {.type = (ww_delta_type)it->type,
                          .line = {it->data, it->line_n},
                          .object = {it->data + it->obj_off, it->obj_n},
                          .rv = it->has_rv ? x : NULL,
                          .meta = it->has_meta ? &meta : NULL};
            /* A snapshot is diffed against acknowledged state only. */
            if (d.type == WW_DELTA_SNAPSHOT_BEGIN && p->n) rc = flush(p);
            if (!rc) rc = ww_tracker_feed(p->t, it->stream, &d);
            free(it);
            if (!rc && p->n && ww_now() - p->batch_start >= p->o.linger_s) rc = flush(p);
            if (rc) break;
            continue;
        }
        if (p->n) {
            if ((rc = flush(p))) break;
        } else if (ww_queue_finished(p->q)) {
            break;
        }
        if ((rc = save(p, 0))) break;
    }
    if (rc == WW_OK && p->n) rc = flush(p);
    if (rc == WW_ESTOP) {
        ww_warn("pipeline",
                "the grace period (%.0f s) ended with %zu changes not acknowledged; they were not "
                "checkpointed and will be read again at the next start",
                p->o.grace_s, p->n_msgs);
        rc = WW_OK;
    }
    if (rc) {
        *p->stop = 1;
        ww_queue_close(p->q);
    }
    ww_sink_flush(p->sink);
    ww_rc src = save(p, 1);
    if (!rc && src) rc = src;
    return rc;
}

const ww_pipeline_stats *ww_pipeline_stats_get(const ww_pipeline *p) { return &p->st; }

void ww_pipeline_free(ww_pipeline *p) {
    if (!p) return;
    if (p->dl_fd >= 0) close(p->dl_fd);
    free(p->ents);
    free(p->msgs);
    free(p->acks);
    free(p->sent);
    free(p->keyset);
    ww_buf_free(&p->data);
    ww_buf_free(&p->ids);
    ww_buf_free(&p->blob);
    ww_buf_free(&p->jrec);
    free(p);
}
