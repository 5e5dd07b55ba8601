/* file.c - file://PATH[?max-message-bytes=N]: one message per line,
 * appended; a batch is acknowledged after fsync.
 *
 * Before each batch the sink checks that PATH still names the file it has
 * open, and reopens (creates, mode 0600) it when it was moved away, so
 * log rotation works. When PATH cannot be opened or written, every message
 * of the batch comes back "retry later" and the file is cut back to where
 * the batch began, so a failed batch never leaves a torn line. Messages
 * longer than max-message-bytes are rejected for good. A torn last line
 * left by a crash is cut off at start. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/io.h"
#include "core/log.h"
#include "sink/sink.h"

typedef struct {
    char *path;
    int fd;
    unsigned long long max_msg; /* 0: no limit */
    int failing;                /* the last batch failed (log once per outage) */
} file_sink;

static void fi_close(void *state) {
    file_sink *f = state;
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    free(f->path);
    free(f);
}

/* A crash in the middle of a write can leave a torn last line. Nothing of
 * it was acknowledged (acks come after fsync), so it is cut off here and the
 * message is sent again in full. */
static void cut_torn_tail(file_sink *f) {
    off_t cut;
    if (ww_cut_torn_tail(f->fd, &cut))
        ww_warn("sink", "file: %s ends with a torn line that cannot be cut off: %s", f->path, strerror(errno));
    else if (cut)
        ww_warn("sink",
                "file: cut a torn last line of %lld bytes off %s (a crash during a write; it was not "
                "acknowledged and is sent again)",
                (long long)cut, f->path);
}

static ww_rc fi_open(const char *url, void **state, char *err, size_t errsz) {
    const char *path = url + 7;
    if (strncmp(url, "file://", 7) || !*path || *path == '?') {
        snprintf(err, errsz, "--sink %s: expected file://PATH", url);
        return WW_EINVAL;
    }
    file_sink *f = calloc(1, sizeof *f);
    if (!f) return WW_ENOMEM;
    f->fd = -1;
    const char *q = strchr(path, '?');
    f->path = q ? strndup(path, (size_t)(q - path)) : strdup(path);
    if (!f->path) {
        fi_close(f);
        return WW_ENOMEM;
    }
    if (q) {
        const char *key = "?max-message-bytes=";
        char *end;
        errno = 0;
        f->max_msg = strncmp(q, key, strlen(key)) ? 0 : strtoull(q + strlen(key), &end, 10);
        if (strncmp(q, key, strlen(key)) || errno || end == q + strlen(key) || *end || !f->max_msg) {
            snprintf(err, errsz, "--sink %s: the only parameter is max-message-bytes=N (N > 0)", url);
            fi_close(f);
            return WW_EINVAL;
        }
    }
    f->fd = open(f->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (f->fd < 0) {
        snprintf(err, errsz, "--sink %s: cannot open %s: %s", url, f->path, strerror(errno));
        fi_close(f);
        return WW_EIO;
    }
    cut_torn_tail(f);
    *state = f;
    return WW_OK;
}

/* Reopens when PATH no longer names our file. */
static int ensure_open(file_sink *f) {
    struct stat a, b;
    if (f->fd >= 0 && !stat(f->path, &a) && !fstat(f->fd, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino) return 0;
    if (f->fd >= 0) close(f->fd);
    f->fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (f->fd < 0) return -1;
    ww_info("sink", "file: (re)opened %s", f->path);
    return 0;
}

static ww_rc write_batch(file_sink *f, const ww_msg *m, size_t n, const ww_ack *acks) {
    struct iovec iov[128];
    int cnt = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || cnt + 2 > (int)(sizeof iov / sizeof iov[0])) {
            struct iovec *v = iov;
            while (cnt > 0) {
                ssize_t w = writev(f->fd, v, cnt);
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) return WW_EIO;
                while (cnt > 0 && (size_t)w >= v->iov_len) w -= (ssize_t)v->iov_len, v++, cnt--;
                if (cnt > 0) v->iov_base = (char *)v->iov_base + w, v->iov_len -= (size_t)w;
            }
            if (i == n) break;
        }
        if (acks[i] != WW_ACK_OK) continue; /* rejected */
        iov[cnt++] = (struct iovec){(void *)m[i].data.p, m[i].data.n};
        iov[cnt++] = (struct iovec){(void *)"\n", 1};
    }
    return WW_OK;
}

static ww_rc fi_publish(void *state, const ww_msg *m, size_t n, ww_ack *acks) {
    file_sink *f = state;
    for (size_t i = 0; i < n; i++) acks[i] = f->max_msg && m[i].data.n > f->max_msg ? WW_ACK_REJECT : WW_ACK_OK;
    off_t start = -1;
    const char *what = "open";
    if (!ensure_open(f)) {
        struct stat st;
        start = fstat(f->fd, &st) ? -1 : st.st_size;
        what = "write";
        if (start >= 0 && !write_batch(f, m, n, acks)) {
            what = "fsync";
            if (!fsync(f->fd)) {
                if (f->failing) ww_info("sink", "file: %s is writable again", f->path);
                f->failing = 0;
                return WW_OK;
            }
        }
    }
    int e = errno;
    if (!f->failing) ww_warn("sink", "file: cannot %s %s: %s; will retry", what, f->path, strerror(e));
    f->failing = 1;
    if (f->fd >= 0 && start >= 0 && ftruncate(f->fd, start))
        ww_warn("sink", "file: cannot cut %s back to %lld bytes after a failed write: %s", f->path, (long long)start,
                strerror(errno));
    for (size_t i = 0; i < n; i++)
        if (acks[i] == WW_ACK_OK) acks[i] = WW_ACK_RETRY;
    return WW_RETRY;
}

static ww_rc fi_flush(void *state) {
    file_sink *f = state;
    return f->fd >= 0 && fsync(f->fd) ? WW_EIO : WW_OK;
}

static const char *fi_reason(void *state, const ww_msg *m) {
    (void)m;
    (void)state;
    return "longer than the sink's max-message-bytes";
}

const ww_sink_type ww_sink_file = {"file", fi_open, fi_publish, fi_flush, fi_close, fi_reason, 1};
