/* status.h - the two facts the index keeps about a Workflow's progress:
 * status.phase and a digest of its node phases. */
#ifndef WW_STATUS_H
#define WW_STATUS_H

#include <stdint.h>
#include "core/json.h"

enum {
    WW_PHASE_NONE = 0, /* no status.phase (not yet picked up by the controller, or not a Workflow) */
    WW_PHASE_PENDING,
    WW_PHASE_RUNNING,
    WW_PHASE_SUCCEEDED,
    WW_PHASE_FAILED,
    WW_PHASE_ERROR,
    WW_PHASE_OTHER, /* a value this version does not know */
};

/* Reads status.phase and hashes the phase of every node in status.nodes
 * (or, when the controller compressed them, the status.compressedNodes
 * string). A missing or malformed status gives WW_PHASE_NONE and digest 0. */
void ww_status_read(ww_span obj, uint8_t *phase, uint32_t *digest);
const char *ww_phase_name(uint8_t phase);
uint8_t ww_phase_parse(const char *name);

#endif
