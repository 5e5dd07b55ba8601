/* reflector.h - the list/watch state machine (client-go's reflector).
 *
 * Lists a collection (paged, or as a streaming list), then watches it from
 * the list's resourceVersion, re-watching after clean ends, relisting after
 * 410 Gone and other errors, backing off on failures. It emits an ordered
 * stream of deltas and decides nothing about delivery. See
 * docs/architecture.md and shared design notes for the delta contract. */
#ifndef WW_REFLECTOR_H
#define WW_REFLECTOR_H

#include <stddef.h>
#include "core/json.h"
#include "core/rc.h"
#include "kube/client.h"

typedef enum {
    WW_DELTA_ADDED,
    WW_DELTA_MODIFIED,
    WW_DELTA_DELETED,
    WW_DELTA_BOOKMARK,       /* rv only */
    WW_DELTA_SNAPSHOT_BEGIN, /* a (re)list starts; a BEGIN before END restarts it */
    WW_DELTA_SNAPSHOT_ITEM,  /* one object of the list, as it is now */
    WW_DELTA_SNAPSHOT_END,   /* rv: the list's resourceVersion */
} ww_delta_type;

/* The identity of an object, read once from its metadata by the reflector
 * (Kubernetes limits: uid 36, namespace 63, name 253 characters). */
typedef struct {
    char uid[128];
    char ns[256];
    char name[256];
    char rv[64];
} ww_objmeta;

/* Reads metadata.{uid,namespace,name,resourceVersion} in one pass. WW_EINVAL
 * when metadata or resourceVersion is missing or a field is too long. */
ww_rc ww_objmeta_read(ww_span obj, ww_objmeta *m);

typedef struct {
    ww_delta_type type;
    ww_span line;           /* the watch event exactly as received (object events), else empty */
    ww_span object;         /* the raw object (object events and SNAPSHOT_ITEM) */
    const char *rv;         /* object's or list's resourceVersion; NULL for BEGIN */
    const ww_objmeta *meta; /* object events and SNAPSHOT_ITEM; else NULL */
    const char *stream;     /* which reflector (namespace or "" for all), for logs */
} ww_delta;

/* Return WW_OK to go on, WW_ESTOP to stop the reflector. */
typedef ww_rc (*ww_delta_fn)(void *ud, const ww_delta *d);

typedef struct {
    const char *group;      /* "argoproj.io"; "" for the core group */
    const char *version;    /* "v1alpha1" */
    const char *resource;   /* "workflows" */
    const char *namespace_; /* NULL or "" for all namespaces */
    const char *label_selector;
    const char *field_selector;
    const char *initial_rv;      /* resume from here (watch first); NULL to list first */
    long page_size;              /* LIST limit */
    size_t max_line;             /* cap of one watch event */
    size_t max_page;             /* cap of one LIST page body */
    int list_mode;               /* WW_LIST_AUTO, WW_LIST_STREAM, WW_LIST_PAGED */
    double watch_list_silence_s; /* fall back to LIST after this much silence before the end bookmark */
    long watch_timeout_min_s, watch_timeout_max_s; /* timeoutSeconds uniform in [min,max) */
    double backoff_initial_s, backoff_cap_s, backoff_reset_s;
    ww_stop_flag *stop;
    ww_delta_fn emit;
    void *ud;
} ww_reflector_opts;

enum { WW_LIST_AUTO, WW_LIST_STREAM, WW_LIST_PAGED };

typedef struct {
    unsigned long lists, watches, relists_gone, events, bookmarks, reconnects;
} ww_reflector_stats;

/* Runs until stop is set or a fatal error. Returns WW_ESTOP after a
 * requested stop, WW_EAUTH when the server refused us (401/403), WW_EINVAL
 * for other fatal errors (bad selector, credentials that cannot be
 * obtained); the message is already logged. */
ww_rc ww_reflector_run(ww_kube_client *c, const ww_reflector_opts *o, ww_reflector_stats *stats);

/* Builds the collection path with query for a request (exposed for tests). */
ww_rc ww_reflector_path(const ww_reflector_opts *o, ww_buf *out, int watch, const char *rv, const char *cont,
                        long limit, long timeout_s, int send_initial);

#endif
