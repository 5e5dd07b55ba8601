/* encode.h - turns a change into a message for the sink.
 *
 * Formats are functions behind one signature. Object bytes are copied as
 * they came from the API server, never re-serialised. */
#ifndef WW_ENCODE_H
#define WW_ENCODE_H

#include "core/buf.h"
#include "track/tracker.h"

/* The raw watch event: for observed changes the line exactly as received;
 * for changes synthesised from a list {"type":T,"object":<object>}, the
 * bytes a watch would have sent, plus "recovered":true when the change was
 * found by diffing a relist rather than observed. Either way the change's
 * stable id is added as the last field: ,"id":"uid/rv[/recovered-type]"}. */
ww_rc ww_encode_raw(const ww_change *c, ww_buf *out);

#endif
