/* stdout.c - the default sink: one message per line on standard output.
 *
 * A message is acknowledged once its whole line was written. A line is
 * never torn and never followed by a copy of itself:
 * - EINTR and EAGAIN (a non-blocking stdout with a slow reader) end no
 *   line: the sink waits in poll() for POLLOUT and writes the rest;
 * - an error before any byte of a line: that line and the rest of the
 *   batch are retried (EPIPE, the reader went away: the sink fails);
 * - an error in the middle of a line: when stdout is a regular file (a
 *   redirect onto a full disk) and the part is the file's tail, it is cut
 *   back out (ftruncate, like the file sink) and the batch is retried; on
 *   a pipe, terminal or socket the part cannot be taken back, so the sink
 *   fails for good (WW_EIO: the watcher stops, nothing is committed, and
 *   the message is sent again at the next start) rather than retry the
 *   whole line after the fragment. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "sink/sink.h"

static int g_dummy;

static ww_rc so_open(const char *url, void **state, char *err, size_t errsz) {
    (void)url, (void)err, (void)errsz;
    *state = &g_dummy;
    return WW_OK;
}

/* Writes n bytes at p and a newline. 0, or -1 with errno set; *done says
 * how many bytes of the line (n + 1) were written either way. */
static int write_line(const char *p, size_t n, size_t *done) {
    *done = 0;
    while (*done <= n) {
        struct iovec v[2] = {{(void *)(p + *done), n - *done}, {(void *)"\n", 1}};
        int first = *done == n; /* only the newline is left */
        ssize_t w = writev(STDOUT_FILENO, v + first, 2 - first);
        if (w > 0) {
            *done += (size_t)w;
            continue;
        }
        if (w == 0) errno = EIO; /* no progress: do not spin */
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* the reader is slow: wait, however long a blocking write
             * would have waited */
            struct pollfd pfd = {STDOUT_FILENO, POLLOUT, 0};
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

/* After done bytes of a line went to stdout and the rest failed: cuts them
 * off when stdout is a regular file that ends with them (whatever else
 * writes to it, e.g. our log on `2>&1`, must not lose its lines). 1 if the
 * file now ends where the line began. */
static int cut_back(size_t done) {
    struct stat st;
    off_t end = lseek(STDOUT_FILENO, 0, SEEK_CUR); /* -1 on a pipe or terminal */
    if (end < (off_t)done || fstat(STDOUT_FILENO, &st) || !S_ISREG(st.st_mode) || st.st_size != end) return 0;
    off_t start = end - (off_t)done;
    /* back to where the line began, or the next write would leave a hole */
    return !ftruncate(STDOUT_FILENO, start) && lseek(STDOUT_FILENO, start, SEEK_SET) == start;
}

static ww_rc so_publish(void *state, const ww_msg *m, size_t n, ww_ack *acks) {
    (void)state;
    for (size_t i = 0; i < n; i++) {
        size_t done;
        if (!write_line(m[i].data.p, m[i].data.n, &done)) {
            acks[i] = WW_ACK_OK;
            continue;
        }
        int e = errno;
        for (size_t j = i; j < n; j++) acks[j] = WW_ACK_RETRY;
        if (e == EPIPE) {
            ww_error("sink", "stdout: the reader went away (broken pipe)");
            return WW_EIO;
        }
        if (done && !cut_back(done)) {
            ww_error("sink",
                     "stdout: write failed after %zu of the %zu bytes of a line: %s; what was written cannot be "
                     "taken back, so the watcher stops rather than write the line again after it (the message "
                     "is not acknowledged and is sent again at the next start)",
                     done, m[i].data.n + 1, strerror(e));
            return WW_EIO;
        }
        ww_warn("sink", "stdout: write failed: %s; will retry%s", strerror(e),
                done ? " (the part of the line written was cut back out of the file)" : "");
        return WW_RETRY;
    }
    return WW_OK;
}

static ww_rc so_flush(void *state) {
    (void)state;
    return WW_OK;
}

static void so_close(void *state) { (void)state; }

const ww_sink_type ww_sink_stdout = {"stdout", so_open, so_publish, so_flush, so_close, NULL, 1};
