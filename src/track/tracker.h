/* tracker.h - the single owner of state: the index of known objects and
 * the checkpoint resourceVersion of every stream (one stream per watched
 * namespace, or one for all namespaces).
 *
 * It turns reflector deltas into changes to publish. Watch events pass
 * through; a snapshot (list or relist) is diffed against the index: objects
 * not known become ADDED, objects whose resourceVersion changed become
 * MODIFIED, objects that vanished become DELETED with their last known
 * namespace/name/uid. Changes found by a relist after an earlier snapshot
 * or a stored checkpoint are marked recovered: they were not observed as
 * they happened.
 *
 * Nothing changes on the way out. Every change comes with a prepared state
 * (ww_commit) that the delivery side hands back to ww_tracker_commit() once
 * the change's message is acknowledged, in order; so the index and the
 * checkpoint always describe acknowledged changes only, and can be saved at
 * any moment. Two rules keep that sound: a snapshot begins only when
 * nothing is in flight (the delivery side flushes first), and a watch event
 * not newer than what the index holds for its object (a replay after a
 * crash, already covered by a recovered change) is not published again.
 *
 * Objects published for the first time are journaled by the delivery side
 * before they are published (ww_tracker_unknown, ww_tracker_mark_pending),
 * so a crash between two saves cannot make the watcher forget an object a
 * consumer has seen. */
#ifndef WW_TRACKER_H
#define WW_TRACKER_H

#include <stdint.h>
#include "core/buf.h"
#include "track/index.h"
#include "watch/reflector.h"

#define WW_MAX_STREAMS 64

typedef enum { WW_CHANGE_ADDED, WW_CHANGE_MODIFIED, WW_CHANGE_DELETED } ww_change_type;

typedef struct {
    ww_change_type type;
    ww_span line;   /* the watch event as received, when observed; else empty */
    ww_span object; /* the object (for synthesised DELETED: a minimal object) */
    int recovered;  /* synthesised from a relist diff */
    const char *uid;
    const char *rv;
    const char *id; /* stable identity: uid/rv; uid/deleted for every DELETED, observed or recovered */
} ww_change;

enum { WW_OP_NONE, WW_OP_PUT, WW_OP_DEL };

/* A prepared state change, applied by ww_tracker_commit. */
typedef struct {
    uint8_t kind;  /* WW_OP_* */
    uint8_t phase; /* PUT */
    uint16_t stream;
    uint32_t digest; /* PUT */
    uint32_t gen;    /* PUT */
    uint8_t end;     /* the end of a snapshot: the stream's list is complete */
    char rv[64];     /* the stream's checkpoint once this is committed; "" leaves it */
    ww_objmeta meta; /* PUT, DEL */
} ww_commit;

/* c is NULL when there is nothing to publish but state to commit (a
 * bookmark, the end of a list, an object recorded under
 * --initial-state=skip). */
typedef ww_rc (*ww_change_fn)(void *ud, const ww_change *c, const ww_commit *op);

/* A stream's state. A snapshot that publishes while the stream has a
 * checkpoint RV is "open": from then until its end is committed, a restart
 * must relist rather than watch from the RV, because the watch would replay
 * states older than those the snapshot published (a relist without 410
 * still has the history). So the store learns of an open snapshot (a
 * journal marker, or "relist" in a save) before its first message goes
 * out, and a stream loaded with "relist" lists first. */
typedef struct {
    char *namespace_; /* NULL: all namespaces */
    char rv[64];      /* committed checkpoint; "" when the stream must list first */
    uint32_t gen;     /* current snapshot generation */
    int listed;       /* a list of this stream was complete once: a snapshot is a diff, not the initial state */
    int recovering;   /* the current snapshot follows an earlier one or a stored checkpoint */
    int open;         /* a snapshot is in progress over a checkpoint RV (see above) */
    int open_durable; /* the store knows it is open */
    char relist_from[64]; /* loaded: the RV of a relist that did not complete before the last stop */
} ww_stream;

typedef struct {
    unsigned long published, recovered, stale, skipped;
} ww_tracker_stats;

typedef struct {
    ww_index index;
    ww_stream streams[WW_MAX_STREAMS];
    size_t n_streams;
    int skip_initial;      /* --initial-state=skip */
    int read_status;       /* keep phase and node digest in the index (formats that report transitions) */
    char api_version[128]; /* for synthesised DELETED objects */
    char kind[128];
    int kind_read;
    ww_buf scratch;
    char id[512];
    ww_tracker_stats stats;
    long long loaded_written; /* when the loaded checkpoint was saved (Unix time), 0: none */
    int journal_damaged;      /* damaged journal records were skipped at start */
    ww_buf dormant;           /* checkpoint streams of namespaces not watched now, kept as JSON */
    ww_change_fn emit;
    void *ud;
} ww_tracker;

/* namespaces: n names (n == 0: one stream for all namespaces). */
ww_rc ww_tracker_init(ww_tracker *t, char *const *namespaces, size_t n, ww_change_fn emit, void *ud);
void ww_tracker_free(ww_tracker *t);
/* Forgets every object and resourceVersion (a checkpoint that was only
 * partly read before it was refused). */
void ww_tracker_forget(ww_tracker *t);
/* Forgets the objects and streams of namespaces not watched now
 * (--reset-checkpoint). */
void ww_tracker_drop_unwatched(ww_tracker *t);
/* Feeds one delta of a stream. Returns what emit returned, or ENOMEM. */
ww_rc ww_tracker_feed(ww_tracker *t, size_t stream, const ww_delta *d);
/* Applies a prepared state change (its message was acknowledged). */
ww_rc ww_tracker_commit(ww_tracker *t, const ww_commit *op);
/* 1 if op is about to publish an object the index does not know (its
 * journal record must be durable before it is published). */
int ww_tracker_unknown(ww_tracker *t, const ww_commit *op);
/* 1 if publishing op needs the stream's open snapshot made durable first
 * (a journal marker; then ww_tracker_open_durable). */
int ww_tracker_needs_open_marker(const ww_tracker *t, const ww_commit *op);
void ww_tracker_open_durable(ww_tracker *t, size_t stream);
/* The stream lists first at this start, as a diff (its snapshot over its
 * RV did not complete, or the journal was damaged). */
void ww_tracker_relist(ww_tracker *t, size_t stream);
/* Records that op's object may have been published: a pending index entry
 * (a relist publishes it again if it is still there, and a recovered
 * DELETED if it is gone; a replayed watch event is not suppressed). */
ww_rc ww_tracker_mark_pending(ww_tracker *t, const ww_commit *op);
#endif
