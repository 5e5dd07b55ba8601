/* test_auth.c - credentials (auth.c) and the requests that carry them
 * (client.c): exec plugins run as shell scripts in a fresh mkdtemp() folder,
 * and a loopback HTTP server for the client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/auth.h"
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

/* Writes the plugin script g_dir/plugin.sh (body after #!/bin/sh) and a
 * kubeconfig that runs it with RUNS=g_dir/runs plus the env entries given
 * as YAML flow items (may be ""); returns the loaded kubeconfig. */
static ww_kubeconfig *exec_kubeconfig(const char *body, const char *more_env) {
    char plugin[PATH_MAX], runs[PATH_MAX], kc[PATH_MAX], script[4096], text[8192], err[2048];
    snprintf(script, sizeof script, "#!/bin/sh\n%s", body);
    write_file(P(plugin, "plugin.sh"), script, 0755);
    snprintf(text, sizeof text,
             "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
             "clusters: [{name: cl, cluster: {server: \"http://127.0.0.1:1\"}}]\n"
             "contexts: [{name: c, context: {cluster: cl, user: u}}]\n"
             "users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never,\n"
             "  command: \"%s\", env: [{name: RUNS, value: \"%s\"}%s%s]}}}]\n",
             plugin, P(runs, "runs"), more_env[0] ? ", " : "", more_env);
    write_file(P(kc, "config"), text, 0600);
    ww_kubeconfig_opts o;
    memset(&o, 0, sizeof o);
    o.explicit_path = kc;
    ww_kubeconfig *k = NULL;
    ww_rc rc = ww_kubeconfig_load(&o, &k, err, sizeof err);
    if (rc) fail_msg("load %s: rc %d: %s", kc, (int)rc, err);
    return k;
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_exec_second_pipe_fails, fresh_dir),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
