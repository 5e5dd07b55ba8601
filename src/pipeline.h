/* pipeline.h - the delivery side: bounded queue -> tracker -> encoder ->
 * sink, with acknowledgements committed in order and the checkpoint saved
 * to the store (docs/architecture.md, "Delivery").
 *
 * Reflector threads hand their deltas to ww_pipeline_enqueue(), which
 * copies them into the byte-bounded queue and blocks while it is full. One
 * delivery thread runs ww_pipeline_run(): it feeds the tracker, collects
 * the messages into batches (count, bytes, linger), journals the objects
 * the index does not know yet (store journal), publishes the batch,
 * commits the prepared state of each acknowledged message in order,
 * retries what the sink could not take (for ever, with backoff), sends what
 * it rejects for good to the dead-letter file or stops, and saves the
 * checkpoint every few seconds, every N changes and at the end. */
#ifndef WW_PIPELINE_H
#define WW_PIPELINE_H

#include <stddef.h>
#include "core/queue.h"
#include "sink/sink.h"
#include "store/store.h"
#include "track/checkpoint.h"
#include "track/tracker.h"

typedef struct {
    size_t batch_messages;
    size_t batch_bytes;
    double linger_s;
    size_t max_message; /* largest encoded message (--max-event-bytes plus room for the id) */
    double save_interval_s;
    unsigned long save_changes;
    const char *dead_letter; /* NULL: none */
    int reject_stop;         /* a rejected message stops the watcher */
    double grace_s;          /* after *stop: time left to drain */
    ww_ckpt_identity ident;
} ww_pipeline_opts;

typedef struct {
    unsigned long batches, acked, retries, rejected, saves, save_failures, journaled;
} ww_pipeline_stats;

typedef struct ww_pipeline ww_pipeline;

/* The dead-letter file is opened here: WW_EIO with err filled if it cannot be. */
ww_rc ww_pipeline_new(const ww_pipeline_opts *o, ww_tracker *t, ww_sink *sink, ww_store *store, ww_queue *q,
                      ww_stop_flag *stop, ww_pipeline **out, char *err, size_t errsz);
/* Copies d into the queue (the reflector's emit callback). */
ww_rc ww_pipeline_enqueue(ww_queue *q, size_t stream, const ww_delta *d, ww_stop_flag *stop);
/* Runs until the queue is closed and drained, the grace period after *stop
 * ran out, or a fatal error (then sets *stop). Saves the checkpoint at the
 * end. WW_OK, or the fatal error (already logged). */
ww_rc ww_pipeline_run(ww_pipeline *p);
const ww_pipeline_stats *ww_pipeline_stats_get(const ww_pipeline *p);
void ww_pipeline_free(ww_pipeline *p);

#endif
