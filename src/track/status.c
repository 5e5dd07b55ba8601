/* status.c - phase and node-phase digest of a Workflow. */
#include "track/status.h"

#include <string.h>

static const char *const names[] = {"", "Pending", "Running", "Succeeded", "Failed", "Error", "Other"};

const char *ww_phase_name(uint8_t phase) { return phase <= WW_PHASE_OTHER ? names[phase] : names[WW_PHASE_OTHER]; }

uint8_t ww_phase_parse(const char *name) {
    for (uint8_t i = 0; i <= WW_PHASE_OTHER; i++)
        if (!strcmp(names[i], name)) return i;
    return WW_PHASE_OTHER;
}

static uint32_t fnv(uint32_t h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

void ww_status_read(ww_span obj, uint8_t *phase, uint32_t *digest) {
    *phase = WW_PHASE_NONE;
    *digest = 0;
    ww_span status, v;
    if (ww_json_get(obj, "status", &status)) return;
    static const char *const keys[] = {"phase", "nodes", "compressedNodes"};
    ww_span vals[3];
    if (ww_json_get_many(status, keys, vals, 3)) return;
    char buf[32];
    if (vals[0].n == 4 && !memcmp(vals[0].p, "null", 4))
        *phase = WW_PHASE_NONE;
    else if (vals[0].n && !ww_json_str(vals[0], buf, sizeof buf))
        *phase = ww_phase_parse(buf);
    else if (vals[0].n)
        *phase = WW_PHASE_OTHER;
    uint32_t h = 2166136261u;
    if (vals[1].n) {
        ww_json_iter it = {0};
        ww_span key, node;
        while (ww_json_object_next(vals[1], &it, &key, &node) == WW_OK) {
            h = fnv(h, key.p, key.n);
            if (ww_json_get(node, "phase", &v) == WW_OK) h = fnv(h, v.p, v.n);
        }
        *digest = h;
    } else if (vals[2].n) {
        *digest = fnv(h, vals[2].p, vals[2].n);
    }
}
