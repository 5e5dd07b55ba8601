/* test_sink_stdout.c - the stdout sink never writes a torn line: a
 * non-blocking stdout whose reader is slow is waited for, and a line cut
 * short on a regular file is cut back out of it before it is retried. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sink/sink.h"

#define MAX_OUT ((size_t)1 << 20)

/* stdout (cmocka's too) is swapped for fd while a test publishes; nothing
 * may assert in between. */
static int saved_stdout = -1;

static void stdout_to(int fd) {
    fflush(stdout);
    saved_stdout = dup(STDOUT_FILENO);
    assert_true(saved_stdout >= 0);
    assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
}

static void stdout_back(void) {
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
    saved_stdout = -1;
}

/* Makes write(2) to a regular file stop n bytes from its start (EFBIG, no
 * SIGXFSZ): a disk that fills at a known place. Nothing asserts until
 * fsize_unlimit(). */
static struct rlimit fsize_was;
static void (*xfsz_was)(int);

static void fsize_limit(rlim_t n) {
    getrlimit(RLIMIT_FSIZE, &fsize_was);
    xfsz_was = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = fsize_was;
    lim.rlim_cur = n;
    setrlimit(RLIMIT_FSIZE, &lim);
}

static void fsize_unlimit(void) {
    setrlimit(RLIMIT_FSIZE, &fsize_was);
    signal(SIGXFSZ, xfsz_was);
}

static ww_sink *open_sink(void) {
    ww_sink *s = NULL;
    char err[256] = "";
    assert_int_equal(ww_sink_open("stdout", &s, err, sizeof err), WW_OK);
    return s;
}

/* n messages, message i being len bytes of 'a' + i. */
static ww_msg *messages(size_t n, size_t len) {
    ww_msg *m = calloc(n, sizeof *m);
    assert_non_null(m);
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(len);
        assert_non_null(p);
        memset(p, 'a' + (int)i, len);
        m[i].data = (ww_span){p, len};
    }
    return m;
}

static void free_messages(ww_msg *m, size_t n) {
    for (size_t i = 0; i < n; i++) free((void *)m[i].data.p);
    free(m);
}

/* The lines the messages make, concatenated (the caller frees it). */
static char *lines_of(const ww_msg *m, size_t n, size_t *len) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += m[i].data.n + 1;
    char *p = malloc(total + 1), *q = p;
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) {
        memcpy(q, m[i].data.p, m[i].data.n);
        q += m[i].data.n;
        *q++ = '\n';
    }
    *len = total;
    return p;
}

typedef struct {
    int fd;
    int pipe_bytes; /* wait for the pipe to be this full before reading */
    char *out;
    size_t len;
} reader;

/* A slow reader: waits until the writer found the pipe full, then reads
 * 4 KiB at a time until end of file. */
static void *read_slowly(void *arg) {
    reader *r = arg;
    for (int waited = 0; waited < 5000; waited++) {
        int queued = 0;
        if (ioctl(r->fd, FIONREAD, &queued) || queued >= r->pipe_bytes) break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    for (;;) {
        char buf[4096];
        ssize_t got = read(r->fd, buf, sizeof buf);
        if (got <= 0) break;
        if (r->len + (size_t)got <= MAX_OUT) memcpy(r->out + r->len, buf, (size_t)got);
        r->len += (size_t)got;
    }
    return NULL;
}

/* A non-blocking stdout (as a parent may leave it) whose reader is slower
 * than the watcher: write(2) writes part of a line and then says EAGAIN.
 * The sink waits for the pipe to drain and finishes every line. */
static void test_nonblocking_pipe_slow_reader(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    int cap = fcntl(p[1], F_GETPIPE_SZ);
    assert_true(cap > 0 && (size_t)cap * 4 < MAX_OUT);
    reader r = {p[0], cap, malloc(MAX_OUT), 0};
    assert_non_null(r.out);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, read_slowly, &r), 0);

    size_t n = 3;
    ww_msg *m = messages(n, (size_t)cap + (size_t)cap / 3); /* each longer than the pipe holds */
    ww_ack acks[3] = {WW_ACK_RETRY, WW_ACK_RETRY, WW_ACK_RETRY};
    ww_sink *s = open_sink();
    stdout_to(p[1]);
    close(p[1]);
    ww_rc rc = ww_sink_publish(s, m, n, acks);
    stdout_back(); /* closes the pipe's last write end: the reader ends */
    pthread_join(t, NULL);
    close(p[0]);

    assert_int_equal(rc, WW_OK);
    for (size_t i = 0; i < n; i++) assert_int_equal(acks[i], WW_ACK_OK);
    size_t want_len;
    char *want = lines_of(m, n, &want_len);
    assert_int_equal(r.len, want_len);
    assert_memory_equal(r.out, want, want_len);
    free(want);
    free(r.out);
    free_messages(m, n);
    ww_sink_close(s);
}

/* stdout redirected to a regular file on a disk that fills in the middle
 * of a line (here: the file size limit, so write(2) writes part of it and
 * then fails). The part is cut back out of the file, the rest of the batch
 * is retried, and the retry writes whole lines where the torn one began. */
static void cut_back_on(int flags) {
    char path[] = "/tmp/ww-test-sink-stdout.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | flags);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x\n", 2), 2);

    ww_msg *m = messages(3, 1000);
    m[0].data.n = 50;
    ww_ack acks[3];
    ww_sink *s = open_sink();
    stdout_to(fd);
    fsize_limit(2 + 51 + 100); /* message 1 stops after 100 bytes */
    ww_rc rc1 = ww_sink_publish(s, m, 3, acks);
    ww_ack first[3] = {acks[0], acks[1], acks[2]};
    fsize_unlimit();
    ww_rc rc2 = ww_sink_publish(s, m + 1, 2, acks + 1);
    stdout_back();
    close(fd);

    assert_int_equal(rc1, WW_RETRY);
    assert_int_equal(first[0], WW_ACK_OK);
    assert_int_equal(first[1], WW_ACK_RETRY);
    assert_int_equal(first[2], WW_ACK_RETRY);
    assert_int_equal(rc2, WW_OK);
    assert_int_equal(acks[1], WW_ACK_OK);
    assert_int_equal(acks[2], WW_ACK_OK);

    size_t want_len;
    char *lines = lines_of(m, 3, &want_len);
    char *got = calloc(1, MAX_OUT);
    assert_non_null(got);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    size_t got_len = fread(got, 1, MAX_OUT, fp);
    fclose(fp);
    unlink(path);
    assert_int_equal(got_len, 2 + want_len);
    assert_memory_equal(got, "x\n", 2);
    assert_memory_equal(got + 2, lines, want_len);
    free(got);
    free(lines);
    free_messages(m, 3);
    ww_sink_close(s);
}

static void test_regular_file_cut_back(void **state) {
    (void)state;
    cut_back_on(0);
}

/* The same with `>>` (O_APPEND). */
static void test_regular_file_cut_back_append(void **state) {
    (void)state;
    cut_back_on(O_APPEND);
}

/* An error in the middle of a line whose part cannot be cut off (here: a
 * regular file that goes on after it, as a pipe's reader has what it was
 * given): the sink fails for good, the message unacknowledged, rather than
 * write the line again after the fragment; the file is left as it is. */
static void test_torn_line_that_cannot_be_cut_fails(void **state) {
    (void)state;
    char path[] = "/tmp/ww-test-sink-stdout.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *z = malloc(10000);
    assert_non_null(z);
    memset(z, 'z', 10000);
    assert_int_equal(write(fd, z, 10000), 10000);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);

    ww_msg *m = messages(2, 1000);
    ww_ack acks[2];
    ww_sink *s = open_sink();
    stdout_to(fd);
    fsize_limit(100); /* message 0 stops after 100 bytes */
    ww_rc rc = ww_sink_publish(s, m, 2, acks);
    fsize_unlimit();
    stdout_back();
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    close(fd);
    unlink(path);

    assert_int_equal(rc, WW_EIO);
    assert_int_equal(acks[0], WW_ACK_RETRY);
    assert_int_equal(acks[1], WW_ACK_RETRY);
    assert_int_equal(st.st_size, 10000);
    free(z);
    free_messages(m, 2);
    ww_sink_close(s);
}

/* A write error before any byte of a line (a full device): the line and
 * the rest of the batch are retried; nothing to take back. */
static void test_error_before_the_line_is_retried(void **state) {
    (void)state;
    int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0); /* Linux always has /dev/full; without it this test cannot say anything */
    ww_msg *m = messages(2, 10);
    ww_ack acks[2];
    ww_sink *s = open_sink();
    stdout_to(fd);
    ww_rc rc = ww_sink_publish(s, m, 2, acks);
    stdout_back();
    close(fd);
    assert_int_equal(rc, WW_RETRY);
    assert_int_equal(acks[0], WW_ACK_RETRY);
    assert_int_equal(acks[1], WW_ACK_RETRY);
    free_messages(m, 2);
    ww_sink_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonblocking_pipe_slow_reader),
        cmocka_unit_test(test_regular_file_cut_back),
        cmocka_unit_test(test_regular_file_cut_back_append),
        cmocka_unit_test(test_torn_line_that_cannot_be_cut_fails),
        cmocka_unit_test(test_error_before_the_line_is_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
