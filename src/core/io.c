/* io.c - writing a whole buffer to a file descriptor; cutting a torn last
 * line off an append-only text file. */
#include "core/io.h"

#include <errno.h>
#include <sys/stat.h>
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

ww_rc ww_cut_torn_tail(int fd, off_t *cut) {
    *cut = 0;
    struct stat st;
    if (fstat(fd, &st)) return WW_EIO;
    if (!S_ISREG(st.st_mode) || st.st_size == 0) return WW_OK;
    char buf[4096];
    off_t end = st.st_size, keep = 0;
    /* backwards a block at a time: a torn tail is usually short */
    while (end > 0) {
        off_t start = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t r = pread(fd, buf, (size_t)(end - start), start);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return WW_EIO;
        if (r != end - start) {
            /* shrunk under us: leave it to whoever did that */
            errno = EIO;
            return WW_EIO;
        }
        ssize_t i = r - 1;
        while (i >= 0 && buf[i] != '\n') i--;
        if (i >= 0) {
            keep = start + i + 1;
            break;
        }
        end = start;
    }
    if (keep == st.st_size) return WW_OK;
    if (ftruncate(fd, keep)) return WW_EIO;
    *cut = st.st_size - keep;
    return fsync(fd) ? WW_EIO : WW_OK;
}
