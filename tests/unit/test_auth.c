/* test_auth.c - credentials (auth.c) and the requests that carry them
 * (client.c): exec plugins run as shell scripts in a fresh mkdtemp() folder,
 * and a loopback HTTP server for the client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/base64.h"
#include "kube/auth.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"

/* One folder for the program (removed at the end), a fresh one inside it
 * per test. */
static char g_root[PATH_MAX], g_dir[PATH_MAX];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int group_setup(void **state) {
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/ww-auth-test-XXXXXX");
    return mkdtemp(g_root) ? 0 : -1;
}

static int group_teardown(void **state) {
    (void)state;
    return nftw(g_root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int fresh_dir(void **state) {
    static int n;
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/%d", g_root, ++n);
    return mkdir(g_dir, 0700);
}

/* g_dir/name, in out (PATH_MAX bytes). */
static const char *P(char *out, const char *name) {
    snprintf(out, PATH_MAX, "%s/%s", g_dir, name);
    return out;
}

static void write_file(const char *path, const char *content, mode_t mode) {
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("fopen %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static char *read_text(const char *path) {
    ww_blob b;
    if (ww_read_file(path, 1u << 20, &b)) return NULL;
    return (char *)b.p;
}

/* The default plugin: counts its runs in $RUNS and answers token tok-N
 * for its Nth run. */
static const char *PLUGIN_COUNTING =
    "echo run >> \"$RUNS\"\n"
    "n=$(wc -l < \"$RUNS\")\n"
    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
    "\"status\":{\"token\":\"tok-%d\"}}' $((n))\n";

/* Writes g_dir/config for a server on 127.0.0.1:port and the user (a YAML
 * flow mapping), and loads it. */
static ww_kubeconfig *load_kubeconfig(int port, const char *user) {
    char kc[PATH_MAX], text[16384], err[2048];
    snprintf(text, sizeof text,
             "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
             "clusters: [{name: cl, cluster: {server: \"http://127.0.0.1:%d\"}}]\n"
             "contexts: [{name: c, context: {cluster: cl, user: u}}]\n"
             "users: [{name: u, user: %s}]\n",
             port, user);
    write_file(P(kc, "config"), text, 0600);
    ww_kubeconfig_opts o;
    memset(&o, 0, sizeof o);
    o.explicit_path = kc;
    ww_kubeconfig *k = NULL;
    ww_rc rc = ww_kubeconfig_load(&o, &k, err, sizeof err);
    if (rc) fail_msg("load %s: rc %d: %s", kc, (int)rc, err);
    return k;
}

/* Writes the plugin script g_dir/plugin.sh (body after #!/bin/sh); into
 * out, the exec user that runs it with RUNS=g_dir/runs plus the env entries
 * given as YAML flow items (may be ""). */
static const char *exec_user(char *out, size_t n, const char *body, const char *more_env) {
    char plugin[PATH_MAX], runs[PATH_MAX], script[4096];
    snprintf(script, sizeof script, "#!/bin/sh\n%s", body);
    write_file(P(plugin, "plugin.sh"), script, 0755);
    snprintf(out, n,
             "{exec: {apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never,\n"
             "  command: \"%s\", env: [{name: RUNS, value: \"%s\"}%s%s]}}",
             plugin, P(runs, "runs"), more_env[0] ? ", " : "", more_env);
    return out;
}

/* A kubeconfig whose user runs the plugin body (see exec_user). */
static ww_kubeconfig *exec_kubeconfig(const char *body, const char *more_env) {
    char user[8192];
    return load_kubeconfig(1, exec_user(user, sizeof user, body, more_env));
}

/* Lines in g_dir/runs: how many times the plugin ran. */
static int plugin_runs(void) {
    char p[PATH_MAX];
    char *t = read_text(P(p, "runs"));
    int n = 0;
    for (char *s = t; s && *s; s++) n += *s == '\n';
    free(t);
    return n;
}

/* Open file descriptors of this process. */
static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own */
}

/* ---- exec plugins ---- */

/* When the second pipe cannot be made, the first one is closed again. */
static void test_exec_second_pipe_fails(void **state) {
    (void)state;
    ww_kubeconfig *k = exec_kubeconfig(PLUGIN_COUNTING, "");
    ww_auth *a = ww_auth_new(k);
    assert_non_null(a);
    int before = count_fds();
    /* Fill every gap below the highest open descriptor, so the next ones
     * handed out are consecutive; then allow exactly two more: the first
     * pipe gets them and the second fails with EMFILE. */
    int fill[1024], nfill = 0, hi = -1;
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d) && atoi(e->d_name) > hi) hi = atoi(e->d_name);
    closedir(d);
    for (int fd; nfill < 1024 && (fd = open("/dev/null", O_RDONLY)) >= 0;) {
        fill[nfill++] = fd;
        if (fd > hi) break;
    }
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)fill[nfill - 1] + 3;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    ww_credentials c;
    char err[1024] = "";
    ww_rc rc = ww_auth_get(a, &c, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 0; i < nfill; i++) close(fill[i]);
    assert_int_equal(rc, WW_EAUTH);
    if (!strstr(err, "pipe") || !strstr(err, "plugin.sh")) fail_msg("message: %s", err);
    assert_int_equal(count_fds(), before);
    assert_int_equal(plugin_runs(), 0);
    ww_auth_free(a);
    ww_kubeconfig_free(k);
}

/* Seconds on the monotonic clock. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The pid the plugin wrote to g_dir/name. */
static pid_t read_pid(const char *name) {
    char p[PATH_MAX];
    char *t = read_text(P(p, name));
    if (!t) fail_msg("no %s", name);
    pid_t pid = (pid_t)atoi(t);
    free(t);
    assert_true(pid > 1);
    return pid;
}

/* Whether pid is gone or a zombie waiting for its new parent. */
static int gone(pid_t pid) {
    char p[64], st[256] = "";
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f) return 1;
    size_t n = fread(st, 1, sizeof st - 1, f);
    fclose(f);
    st[n] = 0;
    const char *paren = strrchr(st, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* A plugin that never answers is killed at the deadline, with its children,
 * and the message names the command but none of its env values. */
static void hung_plugin(const char *body) {
    ww_kubeconfig *k = exec_kubeconfig(body, "{name: SECRET, value: \"env-s3cret\"}");
    ww_auth *a = ww_auth_new(k);
    ww_auth_set_exec_timeout(a, 1.0);
    ww_credentials c;
    char err[1024] = "";
    double t0 = now_s();
    assert_int_equal(ww_auth_get(a, &c, err, sizeof err), WW_EAUTH);
    double took = now_s() - t0;
    if (took < 0.9 || took > 10) fail_msg("took %.1f s", took);
    if (!strstr(err, "plugin.sh") || !strstr(err, "no answer within 1 s")) fail_msg("message: %s", err);
    assert_null(strstr(err, "s3cret"));
    pid_t pid = read_pid("pid");
    assert_int_equal(kill(pid, 0), -1); /* killed and reaped */
    assert_int_equal(errno, ESRCH);
    char p[PATH_MAX];
    if (access(P(p, "child"), F_OK) == 0) {
        pid_t child = read_pid("child");
        double t1 = now_s();
        while (!gone(child) && now_s() - t1 < 5) usleep(10000);
        if (!gone(child)) fail_msg("the plugin's child %d survived", (int)child);
    }
    ww_auth_free(a);
    ww_kubeconfig_free(k);
}

static void test_exec_closes_its_pipes_and_never_exits(void **state) {
    (void)state;
    hung_plugin("echo $$ > \"${RUNS%/*}/pid\"\nexec >&- 2>&-\nexec sleep 30\n");
}

static void test_exec_silent_with_pipes_open(void **state) {
    (void)state;
    hung_plugin("echo $$ > \"${RUNS%/*}/pid\"\nexec sleep 30\n");
}

static void test_exec_wrapper_whose_child_hangs(void **state) {
    (void)state;
    hung_plugin("echo $$ > \"${RUNS%/*}/pid\"\nsleep 30 &\necho $! > \"${RUNS%/*}/child\"\n"
                "exec >&- 2>&-\nwait\n");
}

/* The plugin reads /dev/null, starts with no signal blocked and SIGPIPE at
 * its default whatever our threads do, in a process group of its own. */
static void test_exec_process_attributes(void **state) {
    (void)state;
    char body[4096], p[PATH_MAX];
    snprintf(body, sizeof body, "%s%s",
             "d=${RUNS%/*}\nreadlink /proc/$$/fd/0 > \"$d/stdin\"\n"
             "grep -E '^Sig(Blk|Ign)' /proc/self/status > \"$d/signals\"\n"
             "cut -d' ' -f5 /proc/$$/stat > \"$d/pgrp\"\necho $$ > \"$d/pid\"\n",
             PLUGIN_COUNTING);
    ww_kubeconfig *k = exec_kubeconfig(body, "");
    ww_auth *a = ww_auth_new(k);
    sigset_t usr1, old;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &old), 0);
    void (*was)(int) = signal(SIGPIPE, SIG_IGN); /* as main does */
    ww_credentials c;
    char err[1024] = "";
    ww_rc rc = ww_auth_get(a, &c, err, sizeof err);
    signal(SIGPIPE, was);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (rc) fail_msg("rc %d: %s", (int)rc, err);
    assert_string_equal(c.token, "tok-1");
    char *t = read_text(P(p, "stdin"));
    assert_string_equal(t, "/dev/null\n");
    free(t);
    t = read_text(P(p, "signals"));
    unsigned long long blk = 1, ign = 1;
    assert_non_null(t);
    assert_int_equal(sscanf(t, "SigBlk: %llx SigIgn: %llx", &blk, &ign), 2);
    assert_int_equal(blk, 0);
    assert_int_equal(ign & (1ull << (SIGPIPE - 1)), 0);
    free(t);
    assert_int_equal(read_pid("pgrp"), read_pid("pid"));
    ww_auth_free(a);
    ww_kubeconfig_free(k);
}

/* Whether the text has a line that is exactly line. */
static int has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *s = text; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
        if (strncmp(s, line, n) == 0 && (s[n] == '\n' || s[n] == 0)) return 1;
    return 0;
}

/* The plugin sees our environment without any WORKFLOW_WATCHER_* variable,
 * the exec config's entries (winning over ours) and KUBERNETES_EXEC_INFO. */
static void test_exec_environment(void **state) {
    (void)state;
    char body[4096], p[PATH_MAX];
    snprintf(body, sizeof body, "env > \"${RUNS%%/*}/env\"\n%s", PLUGIN_COUNTING);
    ww_kubeconfig *k = exec_kubeconfig(body, "{name: WW_TEST_SET, value: from-kubeconfig}");
    ww_auth *a = ww_auth_new(k);
    setenv("WORKFLOW_WATCHER_REDIS_PASSWORD", "redis-s3cret", 1);
    setenv("WORKFLOW_WATCHER_LOG_LEVEL", "debug", 1);
    setenv("WW_TEST_KEPT", "kept", 1);
    setenv("WW_TEST_SET", "from-our-environment", 1);
    setenv("KUBERNETES_EXEC_INFO", "stale", 1);
    ww_credentials c;
    char err[1024] = "";
    ww_rc rc = ww_auth_get(a, &c, err, sizeof err);
    unsetenv("WORKFLOW_WATCHER_REDIS_PASSWORD");
    unsetenv("WORKFLOW_WATCHER_LOG_LEVEL");
    unsetenv("WW_TEST_KEPT");
    unsetenv("WW_TEST_SET");
    unsetenv("KUBERNETES_EXEC_INFO");
    if (rc) fail_msg("rc %d: %s", (int)rc, err);
    char *env = read_text(P(p, "env"));
    assert_non_null(env);
    /* (the plugin's whole environment is not printed: it is this machine's) */
    const char *leak = strstr(env, "WORKFLOW_WATCHER_");
    if (leak) fail_msg("the plugin saw %.*s", (int)strcspn(leak, "="), leak);
    assert_null(strstr(env, "s3cret"));
    assert_true(has_line(env, "WW_TEST_KEPT=kept"));
    assert_true(has_line(env, "WW_TEST_SET=from-kubeconfig"));
    assert_null(strstr(env, "from-our-environment"));
    assert_null(strstr(env, "KUBERNETES_EXEC_INFO=stale"));
    assert_non_null(strstr(env, "KUBERNETES_EXEC_INFO={\"apiVersion\":\"client.authentication.k8s.io/v1\""));
    assert_non_null(strstr(env, "\nPATH="));
    free(env);
    ww_auth_free(a);
    ww_kubeconfig_free(k);
}

/* Every ww_auth of one kubeconfig shares one run of the plugin; a 401 seen
 * by one re-runs it only if the token it sent is still the cached one. */
static void test_exec_shared_by_clients(void **state) {
    (void)state;
    ww_kubeconfig *k = exec_kubeconfig(PLUGIN_COUNTING, "");
    ww_auth *a[3];
    ww_credentials c[3];
    char err[1024] = "";
    for (int i = 0; i < 3; i++) {
        a[i] = ww_auth_new(k);
        ww_rc rc = ww_auth_get(a[i], &c[i], err, sizeof err);
        if (rc) fail_msg("rc %d: %s", (int)rc, err);
        assert_string_equal(c[i].token, "tok-1");
    }
    assert_int_equal(plugin_runs(), 1);
    assert_int_equal(ww_auth_exec_runs(a[2]), 1);

    assert_true(ww_auth_unauthorized(a[0]));
    assert_int_equal(ww_auth_get(a[0], &c[0], err, sizeof err), WW_OK);
    assert_string_equal(c[0].token, "tok-2");
    assert_string_equal(c[2].token, "tok-1"); /* still valid until a[2] asks again */
    /* a[1] sent tok-1 too: the server's 401 for it is answered by tok-2 */
    assert_true(ww_auth_unauthorized(a[1]));
    assert_int_equal(ww_auth_get(a[1], &c[1], err, sizeof err), WW_OK);
    assert_string_equal(c[1].token, "tok-2");
    assert_int_equal(ww_auth_get(a[2], &c[2], err, sizeof err), WW_OK);
    assert_string_equal(c[2].token, "tok-2");
    assert_int_equal(plugin_runs(), 2);
    for (int i = 0; i < 3; i++) ww_auth_free(a[i]);
    ww_kubeconfig_free(k);
}

#define THREADS 8

typedef struct {
    ww_auth *a;
    pthread_barrier_t *start;
    ww_rc rc;
    char token[64];
    char err[1024];
} getter;

static void *get_in_thread(void *arg) {
    getter *g = arg;
    ww_credentials c;
    pthread_barrier_wait(g->start);
    g->rc = ww_auth_get(g->a, &c, g->err, sizeof g->err);
    if (!g->rc) snprintf(g->token, sizeof g->token, "%s", c.token);
    return NULL;
}

/* THREADS threads ask at once; returns how many got tok-1. */
static int get_all_at_once(ww_kubeconfig *k, getter *g) {
    pthread_t th[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        memset(&g[i], 0, sizeof g[i]);
        g[i].a = ww_auth_new(k);
        g[i].start = &start;
        assert_int_equal(pthread_create(&th[i], NULL, get_in_thread, &g[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += g[i].rc == WW_OK && strcmp(g[i].token, "tok-1") == 0;
        ww_auth_free(g[i].a);
    }
    pthread_barrier_destroy(&start);
    return ok;
}

/* Threads that ask while the plugin runs wait for its answer, a success or
 * a failure, instead of running it again each. */
static void test_exec_one_run_for_threads(void **state) {
    (void)state;
    getter g[THREADS];
    char body[4096];
    snprintf(body, sizeof body, "sleep 0.3\n%s", PLUGIN_COUNTING);
    ww_kubeconfig *k = exec_kubeconfig(body, "");
    assert_int_equal(get_all_at_once(k, g), THREADS);
    assert_int_equal(plugin_runs(), 1);
    ww_kubeconfig_free(k);

    k = exec_kubeconfig("echo run >> \"$RUNS\"\nsleep 0.3\necho 'account locked' >&2\nexit 3\n", "");
    assert_int_equal(get_all_at_once(k, g), 0);
    assert_int_equal(plugin_runs(), 2); /* the runs file of the first kubeconfig is the same */
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(g[i].rc, WW_EAUTH);
        if (!strstr(g[i].err, "exited with status 3: account locked")) fail_msg("thread %d: %s", i, g[i].err);
    }
    ww_kubeconfig_free(k);
}

/* ---- secrets in freed memory ----
 *
 * The program is linked with --wrap=free,realloc: every free() and
 * realloc() made by our code (not by libyaml, libcurl or cJSON, which are
 * shared libraries) passes here first. While g_marker is set, a block that
 * still holds it when freed, or that is grown by realloc (which leaves the
 * old copy behind in freed memory), is counted. */
void __real_free(void *p);
void *__real_realloc(void *p, size_t n);
void __wrap_free(void *p);
void *__wrap_realloc(void *p, size_t n);

static const char *g_marker;
static int g_unwiped;

static void check_block(void *p) {
    if (p && g_marker && memmem(p, malloc_usable_size(p), g_marker, strlen(g_marker))) g_unwiped++;
}

void __wrap_free(void *p) {
    check_block(p);
    __real_free(p);
}

void *__wrap_realloc(void *p, size_t n) {
    check_block(p);
    return __real_realloc(p, n);
}

#define MARKER "ww-secret-marker-3f9c"

/* A kubeconfig over 8 KiB (so the reader's buffer grows) with a token, a
 * client key inline, a client key file, and a key that is not valid base64. */
static void test_secrets_in_kubeconfig_are_wiped(void **state) {
    (void)state;
    char kc[PATH_MAX], keyf[PATH_MAX], err[2048];
    char key[6000] = "-----BEGIN PRIVATE KEY-----\n" MARKER "\n";
    while (strlen(key) < sizeof key - 100) strcat(key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n");
    strcat(key, "-----END PRIVATE KEY-----\n");
    write_file(P(keyf, "client.key"), key, 0600);
    char *key_b64 = ww_base64_encode((const unsigned char *)key, strlen(key));
    static char text[32768];
    snprintf(text, sizeof text,
             "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
             "clusters: [{name: cl, cluster: {server: \"https://k.example\"}}]\n"
             "contexts: [{name: a, context: {cluster: cl, user: inline}}, {name: b, context: {cluster: cl, user: file}},\n"
             "  {name: c, context: {cluster: cl, user: bad}}]\n"
             "users:\n"
             "- name: inline\n  user:\n    token: " MARKER "-token\n    client-certificate-data: Q0VSVA==\n"
             "    client-key-data: %s\n"
             "- name: file\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key: client.key\n"
             "- name: bad\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: %s*\n"
             "# padding\n",
             key_b64, key_b64);
    free(key_b64);
    while (strlen(text) < 12000) strcat(text, "# ......................................................................\n");
    write_file(P(kc, "config"), text, 0600);
    /* c's key is cut short by a character outside base64 */
    const char *contexts[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        ww_kubeconfig_opts o;
        memset(&o, 0, sizeof o);
        o.explicit_path = kc;
        o.context = contexts[i];
        ww_kubeconfig *k = NULL;
        g_unwiped = 0;
        g_marker = MARKER;
        ww_rc rc = ww_kubeconfig_load(&o, &k, err, sizeof err);
        int in_load = g_unwiped;
        ww_kubeconfig_free(k);
        g_marker = NULL;
        if (rc != (i == 2 ? WW_EINVAL : WW_OK)) fail_msg("context %s: rc %d: %s", contexts[i], (int)rc, err);
        if (g_unwiped) fail_msg("context %s: %d blocks freed holding the secret (%d while loading)", contexts[i],
                                g_unwiped, in_load);
    }
}

/* The first read of the service-account token (to check it is there). */
static void test_in_cluster_token_is_wiped(void **state) {
    (void)state;
    char sa[PATH_MAX], p[PATH_MAX], err[2048];
    mkdir(P(sa, "sa"), 0700);
    write_file(P(p, "sa/token"), MARKER "-sa-token", 0600);
    write_file(P(p, "sa/ca.crt"), "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n", 0600);
    ww_kubeconfig_opts o;
    memset(&o, 0, sizeof o);
    o.sa_dir = sa;
    o.service_host = "10.0.0.1";
    ww_kubeconfig *k = NULL;
    g_unwiped = 0;
    g_marker = MARKER;
    ww_rc rc = ww_kubeconfig_load(&o, &k, err, sizeof err);
    ww_auth *a = rc ? NULL : ww_auth_new(k);
    ww_credentials c;
    ww_rc rc2 = a ? ww_auth_get(a, &c, err, sizeof err) : WW_EINVAL;
    ww_auth_free(a);
    ww_kubeconfig_free(k);
    g_marker = NULL;
    if (rc || rc2) fail_msg("rc %d/%d: %s", (int)rc, (int)rc2, err);
    assert_int_equal(g_unwiped, 0);
}

/* An exec plugin's answer of 21 KiB (read in pieces: its buffer grows). */
static void test_exec_output_is_wiped(void **state) {
    (void)state;
    char body[4096];
    snprintf(body, sizeof body,
             "t=" MARKER "\nfor i in 1 2 3 4 5 6 7 8 9 10; do t=$t$t; done\n"
             "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
             "\"status\":{\"token\":\"%%s\"}}' $t\n");
    ww_kubeconfig *k = exec_kubeconfig(body, "");
    ww_auth *a = ww_auth_new(k);
    ww_credentials c;
    char err[1024] = "";
    g_unwiped = 0;
    g_marker = MARKER;
    ww_rc rc = ww_auth_get(a, &c, err, sizeof err);
    size_t n = rc ? 0 : strlen(c.token);
    ww_auth_free(a);
    ww_kubeconfig_free(k);
    g_marker = NULL;
    if (rc) fail_msg("rc %d: %s", (int)rc, err);
    assert_int_equal(n, 1024 * strlen(MARKER));
    assert_int_equal(g_unwiped, 0);
}

/* ---- the client, against a loopback HTTP server ----
 *
 * curl_easy_setopt is wrapped too (--wrap), to count how often the client
 * key is handed to libcurl. Every option takes one argument that travels
 * in an integer register on LP64 (long, pointer, curl_off_t), so it is
 * passed on as a pointer. */
CURLcode __real_curl_easy_setopt(CURL *h, CURLoption o, ...);
CURLcode __wrap_curl_easy_setopt(CURL *h, CURLoption o, ...);

static int g_key_sets, g_key_copied;

CURLcode __wrap_curl_easy_setopt(CURL *h, CURLoption o, ...) {
    va_list ap;
    va_start(ap, o);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (o == CURLOPT_SSLKEY_BLOB && arg) {
        g_key_sets++;
        g_key_copied += ((struct curl_blob *)arg)->flags != CURL_BLOB_NOCOPY;
    }
    return __real_curl_easy_setopt(h, o, arg);
}

#define MAX_REPLIES 8

/* Answers one connection per reply, in order; an empty reply holds the
 * connection for 3 s without a byte. Keeps the head of each request. */
typedef struct {
    const char *reply[MAX_REPLIES + 1];
    int fd, port;
    pthread_t th;
    char request[MAX_REPLIES][4096];
} server;

static void *serve(void *arg) {
    server *sv = arg;
    for (int i = 0; i < MAX_REPLIES && sv->reply[i]; i++) {
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0) break;
        size_t n = 0;
        while (n < sizeof sv->request[i] - 1 && !strstr(sv->request[i], "\r\n\r\n")) {
            ssize_t r = read(c, sv->request[i] + n, sizeof sv->request[i] - 1 - n);
            if (r <= 0) break;
            n += (size_t)r;
            sv->request[i][n] = 0;
        }
        if (*sv->reply[i]) {
            ssize_t w = write(c, sv->reply[i], strlen(sv->reply[i]));
            (void)w;
        } else {
            sleep(3);
        }
        close(c);
    }
    return NULL;
}

static void server_start(server *sv) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    sv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sv->fd >= 0);
    assert_int_equal(bind(sv->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(sv->fd, 8), 0);
    assert_int_equal(getsockname(sv->fd, (struct sockaddr *)&a, &al), 0);
    sv->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&sv->th, NULL, serve, sv), 0);
}

static void server_stop(server *sv) {
    shutdown(sv->fd, SHUT_RDWR);
    pthread_join(sv->th, NULL);
    close(sv->fd);
}

static ww_stop_flag g_no_stop;

static ww_rc get(ww_kube_client *c, const ww_req *req, ww_resp *resp) {
    ww_resp_init(resp, 4096);
    return ww_kube_request(c, "/api", req, resp);
}

#define REPLY(status, headers) "HTTP/1.1 " status "\r\n" headers "Content-Length: 0\r\nConnection: close\r\n\r\n"

/* Retry-After is capped at 300 s: a proxy answering 1e9 must not park the
 * stream for ever. */
static void test_client_retry_after_is_capped(void **state) {
    (void)state;
    server sv = {.reply = {REPLY("429 Too Many Requests", "Retry-After: 1000000000\r\n"),
                           REPLY("503 Service Unavailable", "Retry-After: 7\r\n"),
                           REPLY("429 Too Many Requests", "Retry-After: 1e9\r\n"),
                           REPLY("503 Service Unavailable", "Retry-After: 301\r\n"),
                           REPLY("503 Service Unavailable", "")}};
    server_start(&sv);
    ww_kubeconfig *k = load_kubeconfig(sv.port, "{token: t}");
    ww_kube_client *c = ww_kube_client_new(k, &g_no_stop);
    const double want[] = {300, 7, 300, 300, -1};
    const long status[] = {429, 503, 429, 503, 503};
    ww_req req = {0};
    for (int i = 0; i < 5; i++) {
        ww_resp resp;
        assert_int_equal(get(c, &req, &resp), WW_OK);
        assert_int_equal(resp.status, status[i]);
        if (resp.retry_after != want[i]) fail_msg("reply %d: retry_after %g, want %g", i, resp.retry_after, want[i]);
        ww_resp_free(&resp);
    }
    ww_kube_client_free(c);
    ww_kubeconfig_free(k);
    server_stop(&sv);
}

static ww_rc abort_body(void *ud, const char *data, size_t n) {
    (void)ud, (void)data, (void)n;
    return WW_EABORT;
}

static ww_rc abort_tick(void *ud) {
    (void)ud;
    return WW_EABORT;
}

/* A callback's WW_EABORT ends the transfer and is what the request returns. */
static void test_client_callbacks_abort(void **state) {
    (void)state;
    server sv = {.reply = {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", ""}};
    server_start(&sv);
    ww_kubeconfig *k = load_kubeconfig(sv.port, "{token: t}");
    ww_kube_client *c = ww_kube_client_new(k, &g_no_stop);
    ww_resp resp;
    ww_req body = {.on_body = abort_body};
    assert_int_equal(get(c, &body, &resp), WW_EABORT);
    ww_resp_free(&resp);
    ww_req tick = {.on_tick = abort_tick};
    double t0 = now_s();
    assert_int_equal(get(c, &tick, &resp), WW_EABORT);
    assert_true(now_s() - t0 < 2.5); /* the server holds the connection for 3 s */
    ww_resp_free(&resp);
    ww_kube_client_free(c);
    ww_kubeconfig_free(k);
    server_stop(&sv);
}

#define OK_REPLY REPLY("200 OK", "")

/* The kubeconfig's client key goes to libcurl once per handle, uncopied,
 * not once per request. */
static void test_client_key_set_once_per_handle(void **state) {
    (void)state;
    server sv = {.reply = {OK_REPLY, OK_REPLY, OK_REPLY}};
    server_start(&sv);
    ww_kubeconfig *k = load_kubeconfig(sv.port, "{client-certificate-data: Q0VSVA==, client-key-data: S0VZ}");
    ww_kube_client *c = ww_kube_client_new(k, &g_no_stop);
    g_key_sets = g_key_copied = 0;
    ww_req req = {0};
    for (int i = 0; i < 3; i++) {
        ww_resp resp;
        assert_int_equal(get(c, &req, &resp), WW_OK);
        assert_int_equal(resp.status, 200);
        ww_resp_free(&resp);
    }
    assert_int_equal(g_key_sets, 1);
    assert_int_equal(g_key_copied, 0);
    ww_kube_client_free(c);
    ww_kubeconfig_free(k);
    server_stop(&sv);
}

/* A 401 runs the exec plugin again and the request is sent once more with
 * the new token; the new client key goes to libcurl then, and only then. */
static void test_client_401_renews_exec_credentials(void **state) {
    (void)state;
    server sv = {.reply = {REPLY("401 Unauthorized", ""), OK_REPLY, OK_REPLY}};
    server_start(&sv);
    char user[8192];
    exec_user(user, sizeof user,
              "echo run >> \"$RUNS\"\nn=$(wc -l < \"$RUNS\")\n"
              "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
              "\"status\":{\"token\":\"tok-%d\",\"clientCertificateData\":\"CERT\",\"clientKeyData\":\"KEY-%d\"}}' "
              "$((n)) $((n))\n",
              "");
    ww_kubeconfig *k = load_kubeconfig(sv.port, user);
    ww_kube_client *c = ww_kube_client_new(k, &g_no_stop);
    g_key_sets = g_key_copied = 0;
    ww_req req = {0};
    ww_resp resp;
    assert_int_equal(get(c, &req, &resp), WW_OK);
    assert_int_equal(resp.status, 200);
    ww_resp_free(&resp);
    assert_int_equal(get(c, &req, &resp), WW_OK);
    assert_int_equal(resp.status, 200);
    ww_resp_free(&resp);
    ww_kube_client_free(c);
    ww_kubeconfig_free(k);
    server_stop(&sv);
    assert_non_null(strstr(sv.request[0], "\r\nAuthorization: Bearer tok-1\r\n"));
    assert_non_null(strstr(sv.request[1], "\r\nAuthorization: Bearer tok-2\r\n"));
    assert_non_null(strstr(sv.request[2], "\r\nAuthorization: Bearer tok-2\r\n"));
    assert_int_equal(plugin_runs(), 2);
    assert_int_equal(g_key_sets, 2);
    assert_int_equal(g_key_copied, 0);
}

int main(void) {
    /* the loopback server is reached directly, whatever the environment says */
    setenv("no_proxy", "*", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_exec_second_pipe_fails, fresh_dir),
        cmocka_unit_test_setup(test_exec_process_attributes, fresh_dir),
        cmocka_unit_test_setup(test_exec_environment, fresh_dir),
        cmocka_unit_test_setup(test_exec_shared_by_clients, fresh_dir),
        cmocka_unit_test_setup(test_exec_one_run_for_threads, fresh_dir),
        cmocka_unit_test_setup(test_secrets_in_kubeconfig_are_wiped, fresh_dir),
        cmocka_unit_test_setup(test_in_cluster_token_is_wiped, fresh_dir),
        cmocka_unit_test_setup(test_exec_output_is_wiped, fresh_dir),
        cmocka_unit_test_setup(test_client_retry_after_is_capped, fresh_dir),
        cmocka_unit_test_setup(test_client_callbacks_abort, fresh_dir),
        cmocka_unit_test_setup(test_client_key_set_once_per_handle, fresh_dir),
        cmocka_unit_test_setup(test_client_401_renews_exec_credentials, fresh_dir),
        cmocka_unit_test_setup(test_exec_closes_its_pipes_and_never_exits, fresh_dir),
        cmocka_unit_test_setup(test_exec_silent_with_pipes_open, fresh_dir),
        cmocka_unit_test_setup(test_exec_wrapper_whose_child_hangs, fresh_dir),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
