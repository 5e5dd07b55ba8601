/* tracker.h - turns reflector deltas into changes to publish.
 *
 * The single owner of the index. Watch events pass through (and update the
 * index); a snapshot (list or relist) is diffed against the index: objects
 * not known become ADDED, objects whose resourceVersion changed become
 * MODIFIED, objects that vanished become DELETED with their last known
 * namespace/name/uid. Changes synthesised from a relist that follows
 * another snapshot are marked recovered: they were not observed as they
 * happened. Unchanged objects in a relist are not published again. */
#ifndef WW_TRACKER_H
#define WW_TRACKER_H

#include "core/buf.h"
#include "track/index.h"
#include "watch/reflector.h"

typedef enum { WW_CHANGE_ADDED, WW_CHANGE_MODIFIED, WW_CHANGE_DELETED } ww_change_type;

typedef struct {
    ww_change_type type;
    ww_span line;   /* the watch event as received, when observed; else empty */
    ww_span object; /* the object (for synthesised DELETED: a minimal object) */
    int recovered;  /* synthesised from a relist diff */
    const char *uid;
    const char *rv;
} ww_change;

typedef ww_rc (*ww_change_fn)(void *ud, const ww_change *c);

typedef struct {
    ww_index index;
    uint32_t gen; /* current snapshot generation */
    unsigned long snapshots;
    int kind_read;         /* a list item was looked at for apiVersion and kind */
    char api_version[128]; /* for synthesised DELETED objects */
    char kind[128];
    ww_buf scratch;
    ww_change_fn emit;
    void *ud;
} ww_tracker;

void ww_tracker_init(ww_tracker *t, ww_change_fn emit, void *ud);
void ww_tracker_free(ww_tracker *t);
/* Feeds one delta (the reflector's callback). */
ww_rc ww_tracker_feed(ww_tracker *t, const ww_delta *d);

#endif
