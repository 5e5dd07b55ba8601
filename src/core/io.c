/* io.c - writing a whole buffer to a file descriptor. */
#include "core/io.h"

#include <errno.h>
#include <unistd.h>

ww_rc ww_write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return WW_EIO;
        c += w;
        n -= (size_t)w;
    }
    return WW_OK;
}
