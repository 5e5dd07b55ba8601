/* test_store_file.c - the file:// checkpoint store: its journal never keeps
 * a torn record (a failed append is cut back, a torn tail left by a crash is
 * cut at the first open), and one checkpoint has one watcher (PATH.lock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

#define REC1 "u1\tns\tw1\t100\n"
#define REC2 "u2\tns\tw2\t101\nu3\tns\tw3\t102\n"
#define REC3 "u4\tns\tw4\t103\n"

typedef struct {
    char dir[64];
    char url[128];
    char journal[128];
} fixture;

static int setup(void **state) {
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/ww-test-store-file.XXXXXX");
    if (!mkdtemp(fx->dir)) return -1;
    snprintf(fx->url, sizeof fx->url, "file://%s/ckpt", fx->dir);
    snprintf(fx->journal, sizeof fx->journal, "%s/ckpt.journal", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state) {
    fixture *fx = *state;
    const char *names[] = {"ckpt", "ckpt.journal", "ckpt.tmp", "ckpt.lock"};
    char p[192];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", fx->dir, names[i]);
        unlink(p);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static ww_store *open_store(const fixture *fx) {
    ww_store *s = NULL;
    char err[512] = "";
    ww_rc rc = ww_store_open(fx->url, NULL, &s, err, sizeof err);
    if (rc) fail_msg("open %s: rc %d: %s", fx->url, (int)rc, err);
    return s;
}

static void append_ok(ww_store *s, const char *rec) {
    char err[512] = "";
    ww_rc rc = ww_store_journal_append(s, rec, strlen(rec), err, sizeof err);
    if (rc) fail_msg("append: rc %d: %s", (int)rc, err);
}

/* The whole file, NUL-terminated (the caller frees it). */
static char *slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *p = calloc(1, 65536);
    assert_non_null(p);
    size_t n = fread(p, 1, 65535, fp);
    p[n] = '\0';
    fclose(fp);
    return p;
}

static void assert_file(const char *path, const char *want) {
    char *got = slurp(path);
    assert_string_equal(got, want);
    free(got);
}

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
    assert_int_equal(fclose(fp), 0);
}

/* A disk that fills in the middle of an append (here: the file size limit,
 * which makes write(2) write part of the record and then fail): the journal
 * is cut back to its size before the append, so the retry does not append
 * the whole record after a fragment of it. */
static void test_failed_append_is_cut_back(void **state) {
    fixture *fx = *state;
    ww_store *s = open_store(fx);
    append_ok(s, REC1);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = strlen(REC1) + 7; /* REC2 stops after 7 bytes */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char err[512] = "";
    ww_rc rc = ww_store_journal_append(s, REC2, strlen(REC2), err, sizeof err);
    struct stat st;
    int sr = stat(fx->journal, &st);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_xfsz);

    assert_int_equal(rc, WW_EIO);
    assert_non_null(strstr(err, fx->journal));
    assert_int_equal(sr, 0);
    assert_int_equal(st.st_size, (off_t)strlen(REC1));
    /* the retry (and the next record) append whole lines */
    append_ok(s, REC2);
    append_ok(s, REC3);
    assert_file(fx->journal, REC1 REC2 REC3);
    ww_store_close(s);
}

/* A crash (kill -9, OOM kill) in the middle of an append leaves a record
 * without its newline. The load at the next start cuts it off the file: it
 * is not returned, and the next record starts a line of its own. */
static void test_torn_tail_cut_at_load(void **state) {
    fixture *fx = *state;
    write_file(fx->journal, REC1 "u2\tns\tw");
    ww_store *s = open_store(fx);
    ww_buf b;
    ww_buf_init(&b, 1 << 20);
    char err[512] = "";
    ww_rc rc = ww_store_journal_load(s, &b, err, sizeof err);
    if (rc) fail_msg("load: rc %d: %s", (int)rc, err);
    assert_string_equal(b.p, REC1);
    ww_buf_free(&b);
    assert_file(fx->journal, REC1);
    append_ok(s, REC3);
    assert_file(fx->journal, REC1 REC3);
    ww_store_close(s);
}

/* The same when the first thing done with the journal is an append. */
static void test_torn_tail_cut_before_first_append(void **state) {
    fixture *fx = *state;
    write_file(fx->journal, REC1 "u2\tns\tw2\t10");
    ww_store *s = open_store(fx);
    append_ok(s, REC3);
    assert_file(fx->journal, REC1 REC3);
    ww_store_close(s);
}

/* A journal holding only a torn record loads as empty. */
static void test_torn_only_record(void **state) {
    fixture *fx = *state;
    write_file(fx->journal, "u2\tns");
    ww_store *s = open_store(fx);
    ww_buf b;
    ww_buf_init(&b, 1 << 20);
    char err[512] = "";
    ww_rc rc = ww_store_journal_load(s, &b, err, sizeof err);
    assert_true(rc == WW_OK || rc == WW_ENOENT);
    assert_int_equal(b.len, 0);
    ww_buf_free(&b);
    assert_file(fx->journal, "");
    ww_store_close(s);
}

/* No journal yet: load says so and creates nothing; the first append
 * creates it (mode 0600); a save empties it. */
static void test_journal_created_and_emptied(void **state) {
    fixture *fx = *state;
    ww_store *s = open_store(fx);
    ww_buf b;
    ww_buf_init(&b, 1 << 20);
    char err[512] = "";
    assert_int_equal(ww_store_journal_load(s, &b, err, sizeof err), WW_ENOENT);
    assert_int_equal(access(fx->journal, F_OK), -1);
    append_ok(s, REC1);
    struct stat st;
    assert_int_equal(stat(fx->journal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(ww_store_save(s, "blob\n", 5, err, sizeof err), WW_OK);
    assert_file(fx->journal, "");
    append_ok(s, REC3);
    assert_file(fx->journal, REC3);
    ww_buf_free(&b);
    ww_store_close(s);
}

/* A second watcher on the same checkpoint (here: a second open, which is a
 * second open file description, as in another process) is refused with
 * WW_ECONFLICT and told who holds it; once the first closes, it is free. */
static void test_second_open_is_refused(void **state) {
    fixture *fx = *state;
    ww_store *s1 = open_store(fx);
    char lock[192], host[256], want[400];
    snprintf(lock, sizeof lock, "%s/ckpt.lock", fx->dir);
    assert_int_equal(gethostname(host, sizeof host), 0);
    snprintf(want, sizeof want, "pid %ld on host %s since 20", (long)getpid(), host);
    char *text = slurp(lock);
    assert_non_null(strstr(text, want));
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);

    ww_store *s2 = NULL;
    char err[512] = "";
    assert_int_equal(ww_store_open(fx->url, NULL, &s2, err, sizeof err), WW_ECONFLICT);
    assert_null(s2);
    char msg[700];
    snprintf(msg, sizeof msg, "%s is locked by %s", lock, want);
    if (!strstr(err, msg)) fail_msg("\"%s\" lacks \"%s\"", err, msg);
    assert_non_null(strstr(err, "; another workflow-watcher uses this checkpoint"));

    ww_store_close(s1);
    ww_store *s3 = open_store(fx);
    ww_store_close(s3);
}

/* Whatever the lock file holds, the message shows one line of printable
 * characters; an empty one (taken a moment ago) says so. */
static void test_lock_holder_text_is_sanitised(void **state) {
    fixture *fx = *state;
    char lock[192];
    snprintf(lock, sizeof lock, "%s/ckpt.lock", fx->dir);
    write_file(lock, "");
    int fd = open(lock, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    ww_store *s = NULL;
    char err[512] = "";
    assert_int_equal(ww_store_open(fx->url, NULL, &s, err, sizeof err), WW_ECONFLICT);
    assert_non_null(strstr(err, "is locked by another process; another workflow-watcher"));
    assert_int_equal(pwrite(fd, "pid 7\x1b[31m\tx\nsecond line", 25, 0), 25);
    assert_int_equal(ww_store_open(fx->url, NULL, &s, err, sizeof err), WW_ECONFLICT);
    if (!strstr(err, "is locked by pid 7?[31m?x; another")) fail_msg("%s", err);
    close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failed_append_is_cut_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_cut_at_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_cut_before_first_append, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_only_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_created_and_emptied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_open_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_holder_text_is_sanitised, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
