/* file.c - the checkpoint in a local file: file://PATH.
 *
 * save() writes PATH.tmp (mode 0600), fsyncs it, renames it over PATH and
 * fsyncs the folder, so a crash leaves either the old or the new file; then
 * it empties the journal, PATH.journal (appended and fdatasync'ed record by
 * record between saves).
 *
 * The journal holds only whole lines: an append that fails part-way (full
 * disk, file size limit, fdatasync error) is cut back to where it began,
 * and a torn last record left by a crash during an append is cut off when
 * the journal is first opened, so the retried record never merges with a
 * fragment into one line.
 *
 * One watcher per checkpoint: open() takes flock(LOCK_EX) on PATH.lock (PATH
 * itself is replaced by rename, so its inode cannot carry the lock) and
 * writes the holder's pid, host and start time into it; a second watcher
 * fails with WW_ECONFLICT and names the first. The kernel drops the lock
 * when the holder dies. PATH.lock is never removed: a watcher that unlinked
 * it would let a third one lock a new file while a second still holds the
 * old one. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/io.h"
#include "core/log.h"
#include "store/store.h"

typedef struct {
    char *path;
    char *tmp;
    char *dir;
    char *journal;
    char *lock;
    int lfd;       /* PATH.lock, locked while we run */
    int jfd;       /* -1 until the journal is first opened */
    int jdir_sync; /* we created the journal: fsync the folder before the first record counts */
} file_store;

static void fs_close(void *state) {
    file_store *f = state;
    if (!f) return;
    if (f->jfd >= 0) close(f->jfd);
    if (f->lfd >= 0) close(f->lfd); /* drops the lock */
    free(f->path);
    free(f->tmp);
    free(f->dir);
    free(f->journal);
    free(f->lock);
    free(f);
}

/* Creates the folders of path (like mkdir -p), mode 0700. */
static int mkdirs(const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0700) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) && errno != EEXIST) return -1;
    return 0;
}

/* Who holds the lock, as its lock file says: the first line, printable
 * characters only (the file may hold anything). */
static void lock_holder(int fd, char *out, size_t outsz) {
    char buf[256];
    ssize_t r = pread(fd, buf, sizeof buf - 1, 0);
    size_t n = 0;
    for (ssize_t i = 0; i < r && buf[i] != '\n' && n + 1 < outsz; i++)
        out[n++] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '?';
    out[n] = '\0';
    /* taken a moment ago, not written yet */
    if (!n) snprintf(out, outsz, "another process");
}

/* Takes the lock on PATH.lock for as long as the store is open. */
static ww_rc take_lock(file_store *f, const char *url, char *err, size_t errsz) {
    f->lfd = open(f->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (f->lfd < 0) {
        snprintf(err, errsz, "--checkpoint %s: cannot open the lock file %s: %s", url, f->lock, strerror(errno));
        return WW_EIO;
    }
    int r;
    while ((r = flock(f->lfd, LOCK_EX | LOCK_NB)) && errno == EINTR) {}
    if (r && errno == EWOULDBLOCK) {
        char who[200];
        lock_holder(f->lfd, who, sizeof who);
        snprintf(err, errsz, "--checkpoint %s: %s is locked by %s; another workflow-watcher uses this checkpoint", url,
                 f->lock, who);
        return WW_ECONFLICT;
    }
    if (r) {
        snprintf(err, errsz, "--checkpoint %s: cannot lock %s: %s", url, f->lock, strerror(errno));
        return WW_EIO;
    }
    char host[256], since[32], line[400];
    if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "unknown-host");
    host[sizeof host - 1] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(since, sizeof since, "%lld", (long long)now);
    int n = snprintf(line, sizeof line, "pid %ld on host %s since %s\n", (long)getpid(), host, since);
    /* only for the message of a second watcher: the lock holds without it */
    if (ftruncate(f->lfd, 0) || pwrite(f->lfd, line, (size_t)n, 0) != n)
        ww_warn("store", "cannot write our pid into the lock file %s: %s", f->lock, strerror(errno));
    return WW_OK;
}

static ww_rc fs_open(const char *url, const ww_store_env *env, void **state, char *err, size_t errsz) {
    (void)env;
    const char *path = url + strlen("file://");
    if (strncmp(url, "file://", 7) || !*path) {
        snprintf(err, errsz, "--checkpoint %s: expected file://PATH", url);
        return WW_EINVAL;
    }
    file_store *f = calloc(1, sizeof *f);
    if (!f) return WW_ENOMEM;
    f->jfd = f->lfd = -1;
    f->path = strdup(path);
    char *d = strdup(path);
    if (!f->path || !d || asprintf(&f->tmp, "%s.tmp", path) < 0 || asprintf(&f->journal, "%s.journal", path) < 0 ||
        asprintf(&f->lock, "%s.lock", path) < 0) {
        free(d);
        fs_close(f);
        return WW_ENOMEM;
    }
    f->dir = strdup(dirname(d));
    free(d);
    if (!f->dir) {
        fs_close(f);
        return WW_ENOMEM;
    }
    struct stat st;
    if (stat(f->dir, &st) && mkdirs(f->dir)) {
        snprintf(err, errsz, "--checkpoint %s: cannot create the folder %s: %s", url, f->dir, strerror(errno));
        fs_close(f);
        return WW_EIO;
    }
    if (!stat(f->path, &st) && S_ISDIR(st.st_mode)) {
        snprintf(err, errsz, "--checkpoint %s: %s is a folder; name a file", url, f->path);
        fs_close(f);
        return WW_EINVAL;
    }
    ww_rc rc = take_lock(f, url, err, errsz);
    if (rc) {
        fs_close(f);
        return rc;
    }
    *state = f;
    return WW_OK;
}

static ww_rc read_file(const char *path, ww_buf *out, char *err, size_t errsz) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return WW_ENOENT;
        snprintf(err, errsz, "cannot open the checkpoint %s: %s", path, strerror(errno));
        return WW_EIO;
    }
    char chunk[65536];
    ww_rc rc = WW_OK;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errsz, "cannot read the checkpoint %s: %s", path, strerror(errno));
            rc = WW_EIO;
            break;
        }
        if (r == 0) break;
        if ((rc = ww_buf_append(out, chunk, (size_t)r))) {
            snprintf(err, errsz, "the checkpoint %s is larger than %zu bytes", path, out->max);
            break;
        }
    }
    close(fd);
    return rc;
}

static ww_rc fs_load(void *state, ww_buf *out, char *err, size_t errsz) {
    return read_file(((file_store *)state)->path, out, err, errsz);
}

/* fsyncs the folder, so that a file created or renamed in it stays. */
static int sync_dir(const char *dir) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return -1;
    int r = fsync(dfd);
    int e = errno;
    close(dfd);
    errno = e;
    return r;
}

/* Opens the journal once, for reading at start and for appends (created
 * when create is set; WW_ENOENT when it does not exist and create is not).
 * A torn last record (a crash during an append) is cut off first: its batch
 * was never published, and the next record must start a line of its own. */
static ww_rc journal_open(file_store *f, int create, char *err, size_t errsz) {
    if (f->jfd >= 0) return WW_OK;
    int fd = open(f->journal, O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create &&
        (fd = open(f->journal, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) >= 0)
        f->jdir_sync = 1;
    if (fd < 0) {
        if (errno == ENOENT && !create) return WW_ENOENT;
        snprintf(err, errsz, "cannot open the journal %s: %s", f->journal, strerror(errno));
        return WW_EIO;
    }
    off_t cut;
    if (ww_cut_torn_tail(fd, &cut) && !cut) {
        snprintf(err, errsz, "the journal %s ends with a torn record that cannot be cut off: %s", f->journal,
                 strerror(errno));
        close(fd);
        return WW_EIO;
    }
    if (cut)
        ww_warn("store",
                "cut a torn last record of %lld bytes off the journal %s (a crash during an append; its batch "
                "was not published)",
                (long long)cut, f->journal);
    f->jfd = fd;
    return WW_OK;
}

static ww_rc fs_journal_load(void *state, ww_buf *out, char *err, size_t errsz) {
    file_store *f = state;
    ww_rc rc = journal_open(f, 0, err, errsz);
    return rc ? rc : read_file(f->journal, out, err, errsz);
}

static ww_rc fs_journal_append(void *state, const char *data, size_t n, char *err, size_t errsz) {
    file_store *f = state;
    ww_rc rc = journal_open(f, 1, err, errsz);
    if (rc) return rc;
    if (f->jdir_sync) {
        if (sync_dir(f->dir)) {
            snprintf(err, errsz, "cannot fsync the folder %s after creating the journal: %s", f->dir, strerror(errno));
            return WW_EIO;
        }
        f->jdir_sync = 0;
    }
    struct stat st;
    if (fstat(f->jfd, &st)) {
        snprintf(err, errsz, "cannot stat the journal %s: %s", f->journal, strerror(errno));
        return WW_EIO;
    }
    const char *what = ww_write_all(f->jfd, data, n) ? "append to" : fdatasync(f->jfd) ? "fdatasync" : NULL;
    if (!what) return WW_OK;
    int e = errno;
    /* The append is retried whole: a fragment of it (or a record not known
     * to be on disk) must not stay before it. */
    if (ftruncate(f->jfd, st.st_size) || fdatasync(f->jfd)) {
        /* reopened (and its torn tail cut) before the next append */
        ww_warn("store", "cannot cut the journal %s back to %lld bytes after a failed append: %s", f->journal,
                (long long)st.st_size, strerror(errno));
        close(f->jfd);
        f->jfd = -1;
    }
    snprintf(err, errsz, "cannot %s the journal %s: %s", what, f->journal, strerror(e));
    return WW_EIO;
}

static ww_rc fs_save(void *state, const char *data, size_t n, char *err, size_t errsz) {
    file_store *f = state;
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errsz, "cannot write the checkpoint %s: %s", f->tmp, strerror(errno));
        return WW_EIO;
    }
    const char *what = ww_write_all(fd, data, n) ? "write" : fsync(fd) ? "fsync" : NULL;
    if (what) {
        snprintf(err, errsz, "cannot %s the checkpoint %s: %s", what, f->tmp, strerror(errno));
        close(fd);
        unlink(f->tmp);
        return WW_EIO;
    }
    close(fd);
    if (rename(f->tmp, f->path)) {
        snprintf(err, errsz, "cannot rename %s to %s: %s", f->tmp, f->path, strerror(errno));
        unlink(f->tmp);
        return WW_EIO;
    }
    (void)sync_dir(f->dir);
    /* The new checkpoint covers every journal record. */
    if (f->jfd >= 0 ? ftruncate(f->jfd, 0) || fdatasync(f->jfd) : truncate(f->journal, 0) && errno != ENOENT)
        ww_warn("store", "cannot empty the journal %s: %s (its records are covered by the checkpoint)", f->journal,
                strerror(errno));
    return WW_OK;
}

const ww_store_type ww_store_file = {"file", fs_open, fs_load, fs_save, fs_close, fs_journal_append, fs_journal_load};
