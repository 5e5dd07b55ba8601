/* hash.h - the one string hash for open-addressing tables (FNV-1a, 64 bit). */
#ifndef WW_HASH_H
#define WW_HASH_H

#include <stdint.h>

static inline uint64_t ww_hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

#endif
