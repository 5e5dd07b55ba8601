/* checkpoint.h - the tracker's committed state as one blob for a store.
 *
 * Text, so an operator can read it:
 *   line 1: a JSON header: {"format":"workflow-watcher-checkpoint",
 *           "version":1, "written":..., "server":..., "resource":...,
 *           "selector":..., "fieldSelector":...,
 *           "streams":[{"namespace":null|"NS","resourceVersion":"RV"}],
 *           "objects":N, "crc32":"<8 hex digits of the lines below>"}
 *   then one line per known object:
 *           uid TAB namespace TAB name TAB resourceVersion TAB phase TAB digest
 *           [TAB pending] (published, but its delivery was not confirmed)
 * The resourceVersions and the index are written together, so a store that
 * replaces the blob atomically keeps them consistent. */
#ifndef WW_CHECKPOINT_H
#define WW_CHECKPOINT_H

#include <stddef.h>
#include "core/buf.h"
#include "track/tracker.h"

/* What the checkpoint was written for. A checkpoint of another resource or
 * selector is foreign; another server address is only worth a warning
 * (the same cluster has several addresses). */
typedef struct {
    const char *server;
    const char *resource; /* group/version/resource */
    const char *selector;
    const char *field_selector;
} ww_ckpt_identity;

ww_rc ww_checkpoint_write(const ww_tracker *t, const ww_ckpt_identity *id, ww_buf *out);
/* Loads a blob into a freshly initialised tracker. WW_EPROTO when it is
 * corrupt (not ours, torn, checksum mismatch), WW_EINVAL when it is foreign;
 * err says which and why. Streams are matched by namespace; a stream the
 * checkpoint does not know starts fresh, objects of a namespace no longer
 * watched are dropped. */
ww_rc ww_checkpoint_read(ww_tracker *t, const ww_ckpt_identity *id, const char *data, size_t n, char *err,
                         size_t errsz);

/* The journal (store.h): one record per object about to be published for
 * the first time, "uid TAB namespace TAB name TAB resourceVersion TAB crc",
 * and a marker "#relist TAB namespace-or-* TAB crc" before the first message
 * of a snapshot that is open over the stream's RV (tracker.h); crc is the
 * crc32 of the text before it, in 8 hex digits. */
ww_rc ww_checkpoint_journal_record(const ww_commit *op, ww_buf *out);
ww_rc ww_checkpoint_journal_open_marker(const ww_tracker *t, size_t stream, ww_buf *out);
/* "#kind TAB apiVersion TAB kind TAB crc": what a synthesised DELETED
 * carries, for a start whose saved checkpoint never saw an object (nothing
 * when the tracker does not know it yet). */
ww_rc ww_checkpoint_journal_kind(const ww_tracker *t, ww_buf *out);
/* Applies journal records read at start: each object the index does not
 * know becomes a pending entry (*applied counts them), a marker makes its
 * stream list first. A torn last record is ignored. A damaged record (bad
 * checksum or fields) is skipped and counted in *damaged, and then every
 * stream lists first, since a skipped marker must not let a watch replay.
 * Errors: WW_ENOMEM only. */
ww_rc ww_checkpoint_read_journal(ww_tracker *t, const char *data, size_t n, size_t *applied, size_t *damaged);

#endif
