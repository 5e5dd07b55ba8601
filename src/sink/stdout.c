/* stdout.c - the default sink: one message per line on standard output.
 *
 * A message is acknowledged once write(2) to the pipe or file succeeded;
 * a closed stdout (EPIPE) is a permanent failure of the sink. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
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

static ww_rc write_all(const struct iovec *iov, int cnt) {
    struct iovec v[2];
    memcpy(v, iov, sizeof(struct iovec) * (size_t)cnt);
    int i = 0;
    while (i < cnt) {
        ssize_t w = writev(STDOUT_FILENO, v + i, cnt - i);
        if (w < 0) {
            if (errno == EINTR) continue;
            return WW_EIO;
        }
        while (i < cnt && (size_t)w >= v[i].iov_len) {
            w -= (ssize_t)v[i].iov_len;
            i++;
        }
        if (i < cnt) {
            v[i].iov_base = (char *)v[i].iov_base + w;
            v[i].iov_len -= (size_t)w;
        }
    }
    return WW_OK;
}

static ww_rc so_publish(void *state, const ww_msg *m, size_t n, ww_ack *acks) {
    (void)state;
    for (size_t i = 0; i < n; i++) {
        struct iovec iov[2] = {{(void *)m[i].data.p, m[i].data.n}, {(void *)"\n", 1}};
        if (write_all(iov, 2)) {
            int e = errno;
            for (size_t j = i; j < n; j++) acks[j] = WW_ACK_RETRY;
            if (e == EPIPE) {
                ww_error("sink", "stdout: the reader went away (broken pipe)");
                return WW_EIO;
            }
            ww_warn("sink", "stdout: write failed: %s; will retry", strerror(e));
            return WW_RETRY;
        }
        acks[i] = WW_ACK_OK;
    }
    return WW_OK;
}

static ww_rc so_flush(void *state) {
    (void)state;
    return WW_OK;
}

static void so_close(void *state) { (void)state; }

const ww_sink_type ww_sink_stdout = {"stdout", so_open, so_publish, so_flush, so_close, NULL, 1};
