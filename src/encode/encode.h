/* encode.h - turns a change into a message for the sink.
 *
 * Formats are functions behind one signature. Object bytes are copied as
 * they came from the API server, never re-serialised. */
#ifndef WW_ENCODE_H
#define WW_ENCODE_H

#include "core/buf.h"
#include "watch/reflector.h"

/* The raw watch event: for watch deltas the line exactly as received; for
 * snapshot items {"type":"ADDED","object":<object>}, the bytes a watch
 * would have sent. Other deltas produce nothing (returns WW_AGAIN). */
ww_rc ww_encode_raw(const ww_delta *d, ww_buf *out);

#endif
