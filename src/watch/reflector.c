/* reflector.c - list, then watch, for ever; see reflector.h and
 * docs/architecture.md ("Reflector"). Item numbers (1.x) refer to the
 * Kubernetes watch checklist the behaviour follows. */
#include "watch/reflector.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/log.h"
#include "watch/framer.h"

#define RV_MAX 64

typedef enum {
    END_CLEAN,    /* server closed the stream: re-watch from rv */
    END_RETRY,    /* errors that do not imply lost history (transport, 5xx, 429, ERROR events other than
                   * 410, a quick close, torn/garbage/oversized lines): back off, re-watch from the same rv */
    END_RELIST,   /* 410 (at once, unless it repeats), a too-large rv, no rv to resume from: relist */
    END_FALLBACK, /* streaming list not usable: use paged LIST */
    END_FATAL,
    END_STOP,
} watch_end;

typedef struct {
    ww_kube_client *c;
    const ww_reflector_opts *o;
    ww_reflector_stats *st;
    const char *name; /* stream name for logs */
    char rv[RV_MAX];  /* last resourceVersion we may resume from ("" none) */
    ww_backoff bo;
    uint64_t rng;
    int stream_list_broken; /* server did not honour sendInitialEvents */
    int snapshot_done;      /* the streaming list's initial-events-end arrived */
    double retry_after;     /* from the last error response, -1 if none */
    int refused;            /* the server answered 401/403 */
    int gone;               /* the last failure was a 410 */
    int gone_streak;        /* 410s in a row without a complete list between: only a repeated one backs off */
    char gap_from[RV_MAX];  /* where the watch was when the history was found gone */
    char gap_named[RV_MAX]; /* the oldest RV the 410 said the server still has */
    double gap_t;           /* when */
    /* per watch */
    ww_framer fr;
    int initial; /* inside a streaming list's initial events */
    unsigned long nevents;
    double last_byte;
    watch_end why;
    char why_msg[512];
} refl;

static const char *delta_name(ww_delta_type t) {
    static const char *n[] = {"ADDED",          "MODIFIED",      "DELETED",     "BOOKMARK",
                              "SNAPSHOT_BEGIN", "SNAPSHOT_ITEM", "SNAPSHOT_END"};
    return n[t];
}

ww_rc ww_reflector_path(const ww_reflector_opts *o, ww_buf *b, int watch, const char *rv, const char *cont, long limit,
                        long timeout_s, int send_initial) {
    ww_rc rc = WW_OK;
    if (o->group && *o->group)
        rc |= ww_buf_printf(b, "/apis/%s/%s", o->group, o->version);
    else
        rc |= ww_buf_printf(b, "/api/%s", o->version);
    if (o->namespace_ && *o->namespace_) {
        rc |= ww_buf_puts(b, "/namespaces/");
        rc |= ww_url_escape(b, o->namespace_);
    }
    rc |= ww_buf_printf(b, "/%s", o->resource);
    char sep = '?';
#define Q(k) (rc |= ww_buf_printf(b, "%c%s=", sep, k), sep = '&')
    if (watch) {
        Q("watch");
        rc |= ww_buf_puts(b, "true");
        Q("allowWatchBookmarks");
        rc |= ww_buf_puts(b, "true");
        if (send_initial) {
            Q("sendInitialEvents");
            rc |= ww_buf_puts(b, "true");
            Q("resourceVersionMatch");
            rc |= ww_buf_puts(b, "NotOlderThan");
        }
        if (timeout_s > 0) {
            Q("timeoutSeconds");
            rc |= ww_buf_printf(b, "%ld", timeout_s);
        }
    }
    if (rv && *rv) {
        Q("resourceVersion");
        rc |= ww_url_escape(b, rv);
    }
    if (limit > 0) {
        Q("limit");
        rc |= ww_buf_printf(b, "%ld", limit);
    }
    if (cont && *cont) {
        Q("continue");
        rc |= ww_url_escape(b, cont);
    }
    if (o->label_selector && *o->label_selector) {
        Q("labelSelector");
        rc |= ww_url_escape(b, o->label_selector);
    }
    if (o->field_selector && *o->field_selector) {
        Q("fieldSelector");
        rc |= ww_url_escape(b, o->field_selector);
    }
#undef Q
    return rc ? WW_ETOOBIG : WW_OK;
}

ww_rc ww_objmeta_read(ww_span obj, ww_objmeta *m) {
    static const char *const keys[] = {"resourceVersion", "uid", "namespace", "name"};
    ww_span md, v[4];
    m->uid[0] = m->ns[0] = m->name[0] = m->rv[0] = 0;
    if (ww_json_get(obj, "metadata", &md) || ww_json_get_many(md, keys, v, 4)) return WW_EINVAL;
    if (!v[0].p || ww_json_str(v[0], m->rv, sizeof m->rv)) return WW_EINVAL;
    if (v[1].p && ww_json_str(v[1], m->uid, sizeof m->uid)) return WW_EINVAL;
    if (v[2].p && ww_json_str(v[2], m->ns, sizeof m->ns)) return WW_EINVAL;
    if (v[3].p && ww_json_str(v[3], m->name, sizeof m->name)) return WW_EINVAL;
    return WW_OK;
}

/* Hands one delta to the consumer; m is the object's identity, NULL for
 * deltas without an object. */
static ww_rc emit(refl *r, ww_delta_type t, ww_span line, ww_span obj, const char *rv, const ww_objmeta *m) {
    ww_delta d = {.type = t, .line = line, .object = obj, .rv = rv, .stream = r->name, .meta = m};
    ww_rc rc = r->o->emit(r->o->ud, &d);
    if (rc == WW_OK) ww_debug("watch", "%s %s rv=%s", r->name, delta_name(t), rv ? rv : "");
    return rc;
}

/* Reads the message and code of a metav1.Status body (an error response or
 * an ERROR event's object). */
static long status_of(ww_span obj, char *msg, size_t msgsz, char *reason, size_t rsz, int *too_large_rv) {
    ww_span v;
    long code = 0;
    msg[0] = reason[0] = 0;
    *too_large_rv = 0;
    if (ww_json_get(obj, "code", &v) == WW_OK) code = strtol(v.p, NULL, 10);
    /* A message too long for msg is left empty rather than cut. */
    if (ww_json_get(obj, "message", &v) == WW_OK) ww_json_str(v, msg, msgsz);
    if (ww_json_get(obj, "reason", &v) == WW_OK) ww_json_str(v, reason, rsz);
    if (ww_json_path(obj, &v, "details", "causes", NULL) == WW_OK) {
        ww_json_iter it = {0};
        ww_span e, t;
        char tb[64];
        while (ww_json_array_next(v, &it, &e) == WW_OK)
            if (ww_json_get(e, "reason", &t) == WW_OK && ww_json_str(t, tb, sizeof tb) == WW_OK &&
                strcmp(tb, "ResourceVersionTooLarge") == 0)
                *too_large_rv = 1;
    }
    return code;
}

/* Remembers where the history was found gone, for the log line at the end
 * of the relist (the 410's message names the oldest RV the server has:
 * "too old resource version: 100 (150)"). */
static void note_gap(refl *r, const char *msg) {
    memcpy(r->gap_from, r->rv, RV_MAX);
    r->gap_named[0] = 0;
    const char *p = strchr(msg, '(');
    if (p) {
        size_t n = strspn(p + 1, "0123456789");
        if (n && n < RV_MAX) {
            memcpy(r->gap_named, p + 1, n);
            r->gap_named[n] = 0;
        }
    }
    r->gap_t = ww_now();
}

/* A list is complete: if it closed a gap, how long the gap was. What was
 * created and deleted inside it was never seen; states inside it were
 * coalesced into the list's. */
static void gap_closed(refl *r, const char *list_rv) {
    r->gone_streak = 0;
    if (!r->gap_t) return;
    ww_info("watch",
            "%s: gap closed: the watch was at resourceVersion %s, the 410 named %s, the relist is at %s, %.1f s "
            "after the 410; objects created and deleted in between were never seen",
            r->name, r->gap_from[0] ? r->gap_from : "(none)", r->gap_named[0] ? r->gap_named : "(not said)", list_rv,
            ww_now() - r->gap_t);
    r->gap_t = 0;
}

static void set_end(refl *r, watch_end why, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_end(refl *r, watch_end why, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why_msg, sizeof r->why_msg, fmt, ap);
    va_end(ap);
    r->why = why;
}

/* One watch event line. */
static ww_rc on_line(void *ud, const char *line, size_t n) {
    refl *r = ud;
    ww_span l = {line, n}, t = {NULL, 0}, obj = {NULL, 0}, k, v;
    /* One validating pass over the line picks out type and object. */
    ww_json_iter it = {0};
    ww_rc jr;
    while ((jr = ww_json_object_next(l, &it, &k, &v)) == WW_OK) {
        if (ww_json_key_is(k, "type"))
            t = v;
        else if (ww_json_key_is(k, "object"))
            obj = v;
    }
    if (jr == WW_EPROTO || ww_json_object_end(l, &it) || !t.p || !obj.p) {
        set_end(r, END_RETRY, "a watch event is not valid JSON or lacks type/object (%zu bytes)", n);
        return WW_EPROTO;
    }
    char type[16];
    if (ww_json_str(t, type, sizeof type)) {
        set_end(r, END_RETRY, "unknown watch event type");
        return WW_EPROTO;
    }
    if (strcmp(type, "ERROR") == 0) {
        char msg[400], reason[64];
        int too_large;
        long code = status_of(obj, msg, sizeof msg, reason, sizeof reason, &too_large);
        r->gone = code == 410;
        if (code == 410) {
            note_gap(r, msg);
            set_end(r, END_RELIST, "410 %s: %s", reason, msg);
        } else if (code == 429)
            set_end(r, END_RETRY, "429 %s: %s", reason, msg);
        else if (too_large) {
            set_end(r, END_RELIST, "ERROR event %ld %s: %s", code, reason, msg);
            r->rv[0] = 0;
        }
        else
            set_end(r, END_RETRY, "ERROR event %ld %s: %s", code, reason, msg);
        return WW_EWATCH;
    }
    ww_delta_type dt;
    if (strcmp(type, "ADDED") == 0)
        dt = WW_DELTA_ADDED;
    else if (strcmp(type, "MODIFIED") == 0)
        dt = WW_DELTA_MODIFIED;
    else if (strcmp(type, "DELETED") == 0)
        dt = WW_DELTA_DELETED;
    else if (strcmp(type, "BOOKMARK") == 0)
        dt = WW_DELTA_BOOKMARK;
    else {
        set_end(r, END_RETRY, "unknown watch event type \"%s\"", type);
        return WW_EPROTO;
    }
    ww_objmeta m;
    if (ww_objmeta_read(obj, &m)) {
        set_end(r, END_RETRY, "a %s event has no metadata.resourceVersion", type);
        return WW_EPROTO;
    }
    const char *rv = m.rv;
    ww_span none = {NULL, 0};
    ww_rc rc;
    if (dt == WW_DELTA_BOOKMARK) {
        r->st->bookmarks++;
        ww_span a;
        char end[8] = "";
        if (ww_json_path(obj, &a, "metadata", "annotations", "k8s.io/initial-events-end", NULL) == WW_OK)
            ww_json_str(a, end, sizeof end);
        if (r->initial && strcmp(end, "true") == 0) {
            r->initial = 0;
            r->snapshot_done = 1;
            rc = emit(r, WW_DELTA_SNAPSHOT_END, none, none, rv, NULL);
            ww_info("watch", "%s: streaming list complete at resourceVersion %s", r->name, rv);
            gap_closed(r, rv);
        } else if (r->initial) {
            return WW_OK; /* a progress bookmark inside the initial events: RV not usable yet (1.5) */
        } else {
            rc = emit(r, WW_DELTA_BOOKMARK, none, obj, rv, NULL);
        }
    } else if (r->initial) {
        if (dt != WW_DELTA_ADDED) {
            set_end(r, END_FALLBACK, "a %s event arrived before the initial-events-end bookmark", type);
            return WW_EPROTO;
        }
        r->nevents++;
        return emit(r, WW_DELTA_SNAPSHOT_ITEM, none, obj, rv, &m);
    } else {
        r->nevents++;
        r->st->events++;
        rc = emit(r, dt, l, obj, rv, &m);
    }
    if (rc == WW_OK) memcpy(r->rv, rv, RV_MAX);
    return rc;
}

static ww_rc on_watch_body(void *ud, const char *data, size_t n) {
    refl *r = ud;
    r->last_byte = ww_now();
    return ww_framer_feed(&r->fr, data, n);
}

static ww_rc on_watch_tick(void *ud) {
    refl *r = ud;
    if (r->initial && ww_now() - r->last_byte > r->o->watch_list_silence_s) {
        set_end(r, END_FALLBACK, "no initial-events-end bookmark after %.0f s of silence", r->o->watch_list_silence_s);
        return WW_EABORT;
    }
    return WW_OK;
}

static watch_end http_error(refl *r, const char *verb, ww_resp *resp) {
    char msg[400], reason[64];
    int too_large = 0;
    ww_span body = {resp->body.p ? resp->body.p : "", resp->body.len};
    status_of(body, msg, sizeof msg, reason, sizeof reason, &too_large);
    if (!msg[0]) snprintf(msg, sizeof msg, "%.200s", resp->body.p ? resp->body.p : "");
    long s = resp->status;
    if (s == 401 || s == 403) {
        r->refused = 1;
        set_end(r, END_FATAL, "%s %s: HTTP %ld %s: %s", verb, r->o->resource, s,
                s == 401 ? "Unauthorized" : "Forbidden", msg);
        return END_FATAL;
    }
    if (s == 410) {
        r->gone = 1;
        note_gap(r, msg);
        set_end(r, END_RELIST, "HTTP 410 %s: %s", reason, msg);
        return END_RELIST;
    }
    if (s == 504 && too_large) {
        set_end(r, END_RELIST, "resourceVersion too large: %s", msg);
        r->rv[0] = 0;
        return END_RELIST;
    }
    r->retry_after = resp->retry_after;
    if (s == 429 || (s >= 500 && resp->retry_after >= 0)) {
        set_end(r, END_RETRY, "HTTP %ld %s: %s", s, reason, msg);
        return END_RETRY;
    }
    if (s == 400 || s == 404 || s == 422) {
        /* A bad selector or a resource the server does not serve: retrying
         * will not help (a 404 is retried: see below). */
        if (s == 404) {
            /* The resource is not served (yet): a CRD may appear later. */
            set_end(r, END_RETRY, "%s: HTTP 404 %s: %s", verb, reason, msg);
            return END_RETRY;
        }
        {
            const char *ls = r->o->label_selector, *fs = r->o->field_selector;
            set_end(r, END_FATAL, "%s %s: HTTP %ld %s: %s%s%s%s%s%s%s%s%s", verb, r->o->resource, s, reason, msg,
                    ls || fs ? " (check" : "", ls ? " --selector \"" : "", ls ? ls : "", ls ? "\"" : "",
                    ls && fs ? " and" : "", fs ? " --field-selector \"" : "", fs ? fs : "",
                    ls || fs ? (fs ? "\")" : ")") : "");
            return END_FATAL;
        }
    }
    /* Other errors (5xx without Retry-After, ...) do not mean history was
     * lost: re-watch from the same RV with backoff, as client-go does. */
    set_end(r, END_RETRY, "%s: HTTP %ld %s: %s", verb, s, reason, msg);
    return END_RETRY;
}

static watch_end do_watch(refl *r, int streaming) {
    long lo = r->o->watch_timeout_min_s, hi = r->o->watch_timeout_max_s;
    long timeout = lo + (long)((double)(hi - lo) * ww_rand01(&r->rng));
    ww_buf path;
    ww_buf_init(&path, 1 << 16);
    ww_reflector_path(r->o, &path, 1, r->rv, NULL, 0, timeout, streaming);
    ww_framer_init(&r->fr, r->o->max_line, on_line, r);
    r->initial = streaming;
    r->nevents = 0;
    r->why = END_CLEAN;
    r->why_msg[0] = 0;
    r->last_byte = ww_now();
    ww_req req = {.on_body = on_watch_body,
                  .ud = r,
                  .on_tick = streaming ? on_watch_tick : NULL,
                  /* dead connection: the server has not ended the watch by its
                   * own timeout plus a margin (the margin is the timeout itself
                   * for short watches, else 30 s) */
                  .timeout_s = timeout + (timeout < 30 ? timeout : 30)};
    ww_resp resp;
    ww_resp_init(&resp, 1 << 16);
    double started = ww_now();
    ww_debug("watch", "%s: GET %s", r->name, path.p);
    r->st->watches++;
    ww_rc rc = ww_kube_request(r->c, path.p, &req, &resp);
    watch_end end;
    if (rc == WW_ESTOP || *r->o->stop) {
        end = END_STOP;
    } else if (rc == WW_ETOOBIG && r->why == END_CLEAN) {
        set_end(r, END_RETRY, "a watch event is larger than --max-event-bytes (%zu)", r->o->max_line);
        end = END_RETRY;
    } else if (rc == WW_EAUTH) {
        set_end(r, END_FATAL, "credentials: %s", resp.error);
        end = END_FATAL;
    } else if (rc == WW_RETRY) {
        set_end(r, END_RETRY, "watch: %s", resp.error);
        end = END_RETRY;
    } else if (rc != WW_OK) {
        if (r->why == END_CLEAN) set_end(r, END_RETRY, "watch: %s", ww_strerror(rc));
        end = r->why;
    } else if (resp.status != 200) {
        if (streaming && (resp.status == 400 || resp.status == 422)) {
            set_end(r, END_FALLBACK, "streaming list refused: HTTP %ld", resp.status);
            end = END_FALLBACK;
        } else {
            end = http_error(r, "watch", &resp);
        }
    } else if (ww_framer_pending(&r->fr)) {
        set_end(r, END_RETRY, "the stream ended inside an event (%zu bytes torn off)", ww_framer_pending(&r->fr));
        end = END_RETRY;
    } else if (r->initial) {
        set_end(r, END_FALLBACK, "the streaming list ended before its initial-events-end bookmark");
        end = END_FALLBACK;
    } else if (r->nevents == 0 && ww_now() - started < 1.0) {
        set_end(r, END_RETRY, "the watch closed within 1 s without events");
        end = END_RETRY;
    } else {
        end = END_CLEAN;
    }
    ww_resp_free(&resp);
    ww_framer_free(&r->fr);
    ww_buf_free(&path);
    return end;
}

/* Paged LIST (1.1-1.3). Always a consistent read (resourceVersion unset) so
 * that `limit` is honoured and memory stays one page. */
static watch_end do_list(refl *r) {
    ww_span none = {NULL, 0};
    char cont[4096] = "", list_rv[RV_MAX] = "";
    unsigned long items = 0;
    r->st->lists++;
    if (emit(r, WW_DELTA_SNAPSHOT_BEGIN, none, none, NULL, NULL)) return END_STOP;
    for (;;) {
        ww_buf path;
        ww_buf_init(&path, 1 << 16);
        ww_reflector_path(r->o, &path, 0, NULL, cont, r->o->page_size, 0, 0);
        ww_req req = {.timeout_s = 300};
        ww_resp resp;
        ww_resp_init(&resp, r->o->max_page);
        ww_rc rc = ww_kube_request(r->c, path.p, &req, &resp);
        ww_buf_free(&path);
        watch_end end = END_CLEAN;
        if (rc == WW_ESTOP || *r->o->stop)
            end = END_STOP;
        else if (rc == WW_EAUTH) {
            set_end(r, END_FATAL, "credentials: %s", resp.error);
            end = END_FATAL;
        } else if (rc == WW_ETOOBIG) {
            set_end(r, END_RETRY, "a LIST page is larger than %zu bytes; lower --page-size", r->o->max_page);
            end = END_RETRY;
        } else if (rc) {
            set_end(r, END_RETRY, "list: %s", resp.error[0] ? resp.error : ww_strerror(rc));
            end = END_RETRY;
        } else if (resp.status == 410 && cont[0]) {
            /* The continue token expired: start the list again (PG FullListIfExpired). */
            ww_info("watch", "%s: list continuation expired; listing again from the start", r->name);
            cont[0] = 0;
            list_rv[0] = 0;
            ww_resp_free(&resp);
            if (emit(r, WW_DELTA_SNAPSHOT_BEGIN, none, none, NULL, NULL)) return END_STOP;
            continue;
        } else if (resp.status != 200) {
            end = http_error(r, "list", &resp);
        }
        if (end != END_CLEAN) {
            ww_resp_free(&resp);
            return end;
        }
        ww_span body = {resp.body.p ? resp.body.p : "", resp.body.len}, md, v, arr, item;
        char page_rv[RV_MAX];
        if (ww_json_validate(body) || ww_json_get(body, "metadata", &md) || ww_json_get(md, "resourceVersion", &v) ||
            ww_json_str(v, page_rv, RV_MAX)) {
            set_end(r, END_RETRY, "list: the response is not a valid list");
            ww_resp_free(&resp);
            return END_RETRY;
        }
        if (!list_rv[0]) memcpy(list_rv, page_rv, RV_MAX);
        cont[0] = 0;
        if (ww_json_get(md, "continue", &v) == WW_OK && ww_json_str(v, cont, sizeof cont) == WW_ETOOBIG) {
            set_end(r, END_RETRY, "list: continue token too long");
            ww_resp_free(&resp);
            return END_RETRY;
        }
        if (ww_json_get(body, "items", &arr) == WW_OK && arr.n && arr.p[0] == '[') {
            ww_json_iter it = {0};
            ww_rc ir;
            while ((ir = ww_json_array_next(arr, &it, &item)) == WW_OK) {
                ww_objmeta m;
                if (ww_objmeta_read(item, &m)) {
                    set_end(r, END_RETRY, "list: an item has no metadata.resourceVersion");
                    ww_resp_free(&resp);
                    return END_RETRY;
                }
                if (emit(r, WW_DELTA_SNAPSHOT_ITEM, none, item, m.rv, &m)) {
                    ww_resp_free(&resp);
                    return END_STOP;
                }
                items++;
            }
        }
        ww_resp_free(&resp);
        if (!cont[0]) break;
    }
    if (emit(r, WW_DELTA_SNAPSHOT_END, none, none, list_rv, NULL)) return END_STOP;
    memcpy(r->rv, list_rv, RV_MAX);
    gap_closed(r, list_rv);
    ww_info("watch", "%s: listed %lu %s at resourceVersion %s", r->name, items, r->o->resource, list_rv);
    return END_CLEAN;
}

ww_rc ww_reflector_run(ww_kube_client *c, const ww_reflector_opts *o, ww_reflector_stats *stats) {
    refl r;
    memset(&r, 0, sizeof r);
    r.c = c;
    r.o = o;
    r.st = stats;
    r.name = o->namespace_ && *o->namespace_ ? o->namespace_ : "all-namespaces";
    r.rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&r;
    ww_backoff_init(&r.bo, o->backoff_initial_s, o->backoff_cap_s, o->backoff_reset_s, r.rng ^ 0x5bd1e995);
    if (o->list_mode == WW_LIST_PAGED) r.stream_list_broken = 1;
    int need_list = 1;
    if (o->initial_rv && *o->initial_rv) {
        snprintf(r.rv, sizeof r.rv, "%s", o->initial_rv);
        need_list = 0;
        ww_info("watch", "%s: resuming the watch from resourceVersion %s", r.name, r.rv);
    }
    while (!*o->stop) {
        watch_end end;
        r.retry_after = -1;
        r.gone = 0;
        if (need_list && !r.stream_list_broken) {
            /* Streaming list (1.11): the initial state as ADDED events, then
             * the watch goes on in the same stream. Always a consistent read. */
            ww_span none = {NULL, 0};
            r.st->lists++;
            if (emit(&r, WW_DELTA_SNAPSHOT_BEGIN, none, none, NULL, NULL)) break;
            char keep[RV_MAX];
            memcpy(keep, r.rv, RV_MAX);
            r.rv[0] = 0;
            r.snapshot_done = 0;
            end = do_watch(&r, 1);
            if (r.snapshot_done) {
                need_list = 0;
            } else {
                memcpy(r.rv, keep, RV_MAX);
                if (end == END_FALLBACK) {
                    ww_info("watch", "%s: streaming list not available (%s); using paged LIST", r.name, r.why_msg);
                    r.stream_list_broken = 1;
                    continue;
                }
            }
        } else if (need_list) {
            end = do_list(&r);
            if (end == END_CLEAN) {
                need_list = 0;
                continue;
            }
        } else {
            end = do_watch(&r, 0);
        }
        if (end == END_STOP) break;
        if (end == END_FATAL) {
            ww_error("watch", "%s: %s", r.name, r.why_msg);
            return r.refused ? WW_EAUTH : WW_EINVAL;
        }
        if (end == END_CLEAN) {
            if (!r.rv[0]) need_list = 1;
            ww_debug("watch", "%s: watch ended cleanly; re-watching from resourceVersion %s", r.name, r.rv);
            continue;
        }
        r.st->reconnects++;
        double wait;
        /* A 410 relists at once: the relist is the remedy, and every second
         * of waiting widens the gap. Only a 410 that repeats backs off. */
        if (end == END_RELIST && r.gone && r.gone_streak++ == 0)
            wait = 0;
        else
            wait = ww_backoff_next(&r.bo, ww_now());
        if (r.retry_after > wait) wait = r.retry_after;
        if (end == END_RELIST) {
            if (r.gone) r.st->relists_gone++;
            need_list = 1;
            if (wait > 0)
                ww_warn("watch", "%s: %s; relisting in %.1f s", r.name, r.why_msg, wait);
            else
                ww_warn("watch", "%s: %s; relisting at once", r.name, r.why_msg);
        } else {
            if (!r.rv[0]) need_list = 1;
            ww_warn("watch", "%s: %s; %s in %.1f s", r.name, r.why_msg,
                    need_list ? "listing again" : "reconnecting from the last resourceVersion", wait);
        }
        if (ww_sleep_unless(wait, o->stop)) break;
    }
    return WW_ESTOP;
}
