/* framer.h - splits a byte stream into newline-terminated lines.
 *
 * A watch response is one JSON event per line, in chunks that cut lines
 * anywhere. Whole lines inside a chunk are handed out without copying; only
 * a line that spans chunks is assembled, in a buffer capped at max_line. */
#ifndef WW_FRAMER_H
#define WW_FRAMER_H

#include <stddef.h>
#include "core/buf.h"
#include "core/rc.h"

typedef ww_rc (*ww_line_fn)(void *ud, const char *line, size_t n);

typedef struct {
    ww_buf partial;
    ww_line_fn on_line;
    void *ud;
} ww_framer;

void ww_framer_init(ww_framer *f, size_t max_line, ww_line_fn on_line, void *ud);
void ww_framer_free(ww_framer *f);
/* Feeds bytes; calls on_line for each complete line (without the '\n';
 * empty lines are skipped). WW_ETOOBIG when a line exceeds max_line, or the
 * first non-OK result of on_line. */
ww_rc ww_framer_feed(ww_framer *f, const char *data, size_t n);
/* Bytes of an unfinished line held (a torn last line at EOF). */
size_t ww_framer_pending(const ww_framer *f);
void ww_framer_reset(ww_framer *f);

#endif
