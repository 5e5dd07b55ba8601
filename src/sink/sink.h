/* sink.h - where messages go. One static ww_sink_type per backend,
 * registered by URL scheme (Redis's ConnectionType, curl's Curl_cftype).
 *
 * publish() reports per message: acknowledged (durable at the destination),
 * retry later, or rejected for good. "Acknowledged" never means "handed to
 * a library". It returns WW_OK or WW_RETRY (some message must be retried);
 * anything else means the sink is broken for good and the watcher stops.
 *
 * Per-object order: the pipeline never hands one publish() call two
 * messages of the same key, and never a message while an earlier one of its
 * key is unacknowledged; so a sink may acknowledge the messages of one call
 * in any combination. A sink that sets in_order never acknowledges a
 * message after one of the same call it answered "retry" for (an append-only
 * file or stream): it may be given several messages of one key, in order. Acknowledged messages are never
 * published again by the same process; the state is committed in order. */
#ifndef WW_SINK_H
#define WW_SINK_H

#include <stddef.h>
#include "core/json.h"
#include "core/rc.h"

typedef struct {
    ww_span data;    /* the encoded message, without a trailing newline */
    const char *id;  /* stable identity (uid/resourceVersion) or NULL */
    const char *key; /* ordering key (uid) or NULL */
} ww_msg;

typedef enum { WW_ACK_OK, WW_ACK_RETRY, WW_ACK_REJECT } ww_ack;

typedef struct ww_sink ww_sink;

typedef struct ww_sink_type {
    const char *scheme; /* "stdout", "file", ... */
    ww_rc (*open)(const char *url, void **state, char *err, size_t errsz);
    ww_rc (*publish)(void *state, const ww_msg *msgs, size_t n, ww_ack *acks);
    ww_rc (*flush)(void *state);
    void (*close)(void *state);
    /* Why a message was rejected, for the log and the dead-letter file
     * (NULL: the sink never rejects). */
    const char *(*reject_reason)(void *state, const ww_msg *m);
    int in_order; /* nothing acknowledged after a retry within one call (see above) */
} ww_sink_type;

struct ww_sink {
    const ww_sink_type *type;
    void *state;
};

/* Picks the backend by URL scheme ("stdout", "stdout://", "file://PATH"). */
ww_rc ww_sink_open(const char *url, ww_sink **out, char *err, size_t errsz);
static inline ww_rc ww_sink_publish(ww_sink *s, const ww_msg *m, size_t n, ww_ack *acks) {
    return s->type->publish(s->state, m, n, acks);
}
static inline ww_rc ww_sink_flush(ww_sink *s) { return s->type->flush(s->state); }
void ww_sink_close(ww_sink *s);

#endif
