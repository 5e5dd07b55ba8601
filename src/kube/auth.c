/* auth.c - token files, exec plugins and their caches. */
#include "kube/auth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/secret.h"

#define EXEC_OUTPUT_MAX (1u << 20)
#define EXEC_TIMEOUT_S 60.0

extern char **environ;

/* One answer of the exec plugin. Never changed once made, and counted: a
 * client keeps the one it sent while another thread replaces the cached
 * one, so the pointers ww_auth_get gave stay valid. */
typedef struct {
    unsigned refs; /* under the cache's mutex */
    unsigned run;  /* the run that gave it (ww_credentials.serial) */
    char *token;
    ww_blob cert, key;
    time_t expiry; /* 0: none */
} exec_cred;

/* The exec plugin's answer for every client made from one kubeconfig (a
 * reflector thread per namespace, the ConfigMap store): one run serves them
 * all. The mutex is held during a run, so the others wait for its answer
 * instead of running the plugin too. */
struct ww_exec_cache {
    pthread_mutex_t mu;
    exec_cred *cur;   /* NULL: the next request runs the plugin */
    unsigned runs;
    double timeout_s;
    double failed_at; /* monotonic end of the last failed run, 0 if none */
    char failure[512];
};

struct ww_auth {
    const ww_kubeconfig *k;
    char *file_token;    /* last good token read from token_file */
    double file_read_at; /* monotonic */
    double reread_s;
    exec_cred *cred; /* the exec answer the last request used (a reference) */
};

static void cred_put(exec_cred *cr) {
    if (!cr || --cr->refs) return;
    ww_secret_free_str(cr->token);
    ww_secret_free(cr->cert.p, cr->cert.n);
    ww_secret_free(cr->key.p, cr->key.n);
    free(cr);
}

struct ww_exec_cache *ww_exec_cache_new(void) {
    struct ww_exec_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (pthread_mutex_init(&c->mu, NULL)) {
        free(c);
        return NULL;
    }
    c->timeout_s = EXEC_TIMEOUT_S;
    return c;
}

void ww_exec_cache_free(struct ww_exec_cache *c) {
    if (!c) return;
    cred_put(c->cur);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

ww_auth *ww_auth_new(const ww_kubeconfig *k) {
    if (k->exec && !k->exec->cache) return NULL; /* not made by ww_kubeconfig_load */
    ww_auth *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->k = k;
    a->reread_s = 60.0;
    return a;
}

void ww_auth_set_token_reread(ww_auth *a, double s) { a->reread_s = s; }

void ww_auth_set_exec_timeout(ww_auth *a, double s) {
    if (!a->k->exec) return;
    pthread_mutex_lock(&a->k->exec->cache->mu);
    a->k->exec->cache->timeout_s = s;
    pthread_mutex_unlock(&a->k->exec->cache->mu);
}

void ww_auth_free(ww_auth *a) {
    if (!a) return;
    ww_secret_free_str(a->file_token);
    if (a->cred) {
        pthread_mutex_lock(&a->k->exec->cache->mu);
        cred_put(a->cred);
        pthread_mutex_unlock(&a->k->exec->cache->mu);
    }
    free(a);
}

unsigned ww_auth_exec_runs(const ww_auth *a) {
    if (!a->k->exec) return 0;
    pthread_mutex_lock(&a->k->exec->cache->mu);
    unsigned n = a->k->exec->cache->runs;
    pthread_mutex_unlock(&a->k->exec->cache->mu);
    return n;
}

static ww_rc read_token_file(ww_auth *a, char *err, size_t errsz) {
    ww_blob b;
    ww_rc rc = ww_read_file(a->k->token_file, 1u << 20, &b);
    a->file_read_at = ww_now();
    if (rc == WW_OK) {
        while (b.n && (b.p[b.n - 1] == '\n' || b.p[b.n - 1] == '\r' || b.p[b.n - 1] == ' ')) b.p[--b.n] = 0;
        if (b.n == 0) {
            ww_secret_free(b.p, b.n);
            rc = WW_EINVAL;
            errno = 0;
        }
    }
    if (rc) {
        if (a->file_token) {
            ww_warn("auth", "cannot re-read token file %s (%s); keeping the previous token", a->k->token_file,
                    errno ? strerror(errno) : "empty file");
            return WW_OK;
        }
        snprintf(err, errsz, "%s: user \"%s\": tokenFile %s: %s", a->k->source, a->k->user_name ? a->k->user_name : "",
                 a->k->token_file, errno ? strerror(errno) : "empty file");
        return WW_EAUTH;
    }
    ww_secret_free_str(a->file_token);
    a->file_token = (char *)b.p;
    return WW_OK;
}

/* Parses an RFC 3339 UTC time such as 2026-11-27T20:00:00Z. */
static int parse_rfc3339(const char *s, time_t *out) {
    struct tm tm = {0};
    const char *e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!e) return -1;
    if (*e == '.') {
        e++;
        while (*e >= '0' && *e <= '9') e++;
    }
    long off = 0;
    if (*e == '+' || *e == '-') {
        int hh, mm;
        if (sscanf(e + 1, "%d:%d", &hh, &mm) != 2) return -1;
        off = (hh * 3600 + mm * 60) * (*e == '-' ? -1 : 1);
    } else if (*e != 'Z' && *e != 'z') {
        return -1;
    }
    *out = timegm(&tm) - off;
    return 0;
}

static char *exec_info(const ww_kubeconfig *k) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "apiVersion", k->exec->api_version);
    cJSON_AddStringToObject(o, "kind", "ExecCredential");
    cJSON *spec = cJSON_AddObjectToObject(o, "spec");
    cJSON_AddBoolToObject(spec, "interactive", 0);
    if (k->exec->provide_cluster_info) {
        cJSON *c = cJSON_AddObjectToObject(spec, "cluster");
        cJSON_AddStringToObject(c, "server", k->server);
        if (k->tls_server_name) cJSON_AddStringToObject(c, "tls-server-name", k->tls_server_name);
        cJSON_AddBoolToObject(c, "insecure-skip-tls-verify", k->insecure);
        if (k->ca.n) {
            /* certificate-authority-data is base64 in JSON ([]byte). */
            char *b = ww_base64_encode(k->ca.p, k->ca.n);
            if (b) cJSON_AddStringToObject(c, "certificate-authority-data", b);
            free(b);
        }
        if (k->proxy_url) cJSON_AddStringToObject(c, "proxy-url", k->proxy_url);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int env_is(const char *entry, const char *name) {
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

/* What the plugin inherits of our environment: not KUBERNETES_EXEC_INFO,
 * nor a variable the exec config sets (its value wins, as in client-go),
 * nor any WORKFLOW_WATCHER_* variable (the Redis password and the rest of
 * our configuration are none of the plugin's business). */
static int inherited(const ww_exec_conf *x, const char *entry) {
    if (strncmp(entry, "WORKFLOW_WATCHER_", 17) == 0 || env_is(entry, "KUBERNETES_EXEC_INFO")) return 0;
    for (size_t i = 0; i < x->n_env; i++)
        if (env_is(entry, x->env[i].name)) return 0;
    return 1;
}

/* The plugin's environment: what it inherits, the exec config's entries and
 * KUBERNETES_EXEC_INFO. The strings made here go into own[0..n_env] (the
 * caller wipes them: env values may be secrets). NULL when out of memory. */
static char **plugin_env(const ww_exec_conf *x, const char *info, char **own) {
    size_t nenv = 0;
    while (environ[nenv]) nenv++;
    char **envp = calloc(nenv + x->n_env + 2, sizeof(char *));
    if (!envp) return NULL;
    size_t ne = 0;
    for (size_t i = 0; i < nenv; i++)
        if (inherited(x, environ[i])) envp[ne++] = environ[i];
    for (size_t i = 0; i <= x->n_env; i++) {
        int r = i < x->n_env ? asprintf(&own[i], "%s=%s", x->env[i].name, x->env[i].value)
                             : asprintf(&own[i], "KUBERNETES_EXEC_INFO=%s", info);
        if (r < 0) {
            own[i] = NULL;
            free(envp);
            return NULL;
        }
        envp[ne++] = own[i];
    }
    return envp;
}

/* posix_spawn, not fork: between fork and exec a threaded process may only
 * call async-signal-safe functions. stdin is /dev/null (a daemon never
 * prompts), stdout and stderr go to the pipes. The plugin gets an empty
 * signal mask and SIGPIPE at its default (we ignore it), and a process
 * group of its own, so a timeout kills a wrapper script's children too. */
static ww_rc spawn_plugin(const ww_exec_conf *x, char **envp, int out_fd, int err_fd, pid_t *pid, char *err,
                          size_t errsz) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    int fa_ok = posix_spawn_file_actions_init(&fa) == 0, at_ok = posix_spawnattr_init(&at) == 0;
    int e = fa_ok && at_ok ? 0 : ENOMEM;
    if (!e) e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e) e = posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    if (!e) e = posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    if (!e) e = posix_spawnattr_setsigmask(&at, &none);
    if (!e) e = posix_spawnattr_setsigdefault(&at, &dflt);
    if (!e) e = posix_spawnattr_setpgroup(&at, 0);
    if (!e) e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    if (!e) e = posix_spawnp(pid, x->command, &fa, &at, x->args, envp);
    if (at_ok) posix_spawnattr_destroy(&at);
    if (fa_ok) posix_spawn_file_actions_destroy(&fa);
    if (e) {
        snprintf(err, errsz, "exec plugin %s: cannot run it: %s%s%s", x->command, strerror(e),
                 x->install_hint ? " -- " : "", x->install_hint ? x->install_hint : "");
        return WW_EAUTH;
    }
    return WW_OK;
}

/* Reads the plugin's stdout (capped; *too_big when it is exceeded) and
 * stderr until both are closed or the deadline. Closes both. Returns 1
 * when one was still open at the deadline. */
static int collect(int fd_out, int fd_err, ww_buf *out, ww_buf *errout, double deadline, int *too_big) {
    struct pollfd fds[2] = {{fd_out, POLLIN, 0}, {fd_err, POLLIN, 0}};
    int open_fds = 2;
    char tmp[8192];
    while (open_fds > 0) {
        int left = (int)((deadline - ww_now()) * 1000);
        if (left <= 0) break;
        if (poll(fds, 2, left) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t r = read(fds[i].fd, tmp, sizeof tmp);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            ww_buf *dst = i == 0 ? out : errout;
            if (ww_buf_append(dst, tmp, (size_t)r) == WW_ETOOBIG) *too_big |= i == 0;
        }
    }
    ww_secret_wipe(tmp, sizeof tmp);
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0) close(fds[i].fd);
    return open_fds > 0;
}

/* Waits for the plugin to exit until the deadline; past it (or at once when
 * kill_now), kills its process group and reaps it. Returns 0 when it exited
 * by itself, 1 when it was killed, -1 when it cannot be waited for. */
static int reap(pid_t pid, double deadline, int kill_now, int *st) {
    while (!kill_now) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid) return 0;
        if (r < 0 && errno != EINTR) return -1;
        if (ww_now() >= deadline) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    while (waitpid(pid, st, 0) < 0)
        if (errno != EINTR) return -1;
    return 1;
}

/* Runs the plugin directly (no shell) for at most timeout_s in all,
 * capturing stdout (capped) and stderr (for the error message). Messages
 * name the command, never its environment or output. */
static ww_rc run_exec(const ww_kubeconfig *k, struct ww_exec_cache *c, ww_buf *out, ww_buf *errout, char *err,
                      size_t errsz) {
    const ww_exec_conf *x = k->exec;
    double timeout_s = c->timeout_s;
    char *info = exec_info(k);
    char **own = calloc(x->n_env + 1, sizeof(char *));
    char **envp = info && own ? plugin_env(x, info, own) : NULL;
    free(info);
    ww_rc rc = WW_OK;
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    if (!envp) {
        rc = WW_ENOMEM;
        goto done;
    }
    if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC)) {
        snprintf(err, errsz, "exec plugin %s: pipe: %s", x->command, strerror(errno));
        rc = WW_EAUTH;
        goto done;
    }
    pid_t pid;
    double deadline = ww_now() + timeout_s;
    if ((rc = spawn_plugin(x, envp, po[1], pe[1], &pid, err, errsz))) goto done;
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    c->runs++;
    int too_big = 0, st = 0;
    int late = collect(po[0], pe[0], out, errout, deadline, &too_big);
    po[0] = pe[0] = -1;
    int waited = reap(pid, deadline, late, &st);
    if (waited > 0) {
        snprintf(err, errsz, "exec plugin %s: no answer within %g s; killed it", x->command, timeout_s);
        rc = WW_EAUTH;
    } else if (waited < 0) {
        snprintf(err, errsz, "exec plugin %s: cannot wait for it: %s", x->command, strerror(errno));
        rc = WW_EAUTH;
    } else if (too_big) {
        snprintf(err, errsz, "exec plugin %s: output larger than %u bytes", x->command, EXEC_OUTPUT_MAX);
        rc = WW_EAUTH;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        /* Plugin stderr is meant for the user; keep it short. */
        size_t n = errout->len > 300 ? 300 : errout->len;
        snprintf(err, errsz, "exec plugin %s exited with %s %d: %.*s%s%s", x->command,
                 WIFEXITED(st) ? "status" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), (int)n,
                 errout->p ? errout->p : "", x->install_hint ? " -- " : "", x->install_hint ? x->install_hint : "");
        rc = WW_EAUTH;
    }
done:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0) close(po[i]);
        if (pe[i] >= 0) close(pe[i]);
    }
    for (size_t i = 0; own && i <= x->n_env; i++) ww_secret_free_str(own[i]);
    free(own);
    free(envp);
    return rc;
}

static ww_rc copy_string_field(cJSON *st, const char *name, ww_blob *out) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(st, name);
    if (!cJSON_IsString(v)) return WW_OK;
    /* clientCertificateData/KeyData are PEM strings, not base64. */
    out->n = strlen(v->valuestring);
    out->p = (unsigned char *)strdup(v->valuestring);
    return out->p ? WW_OK : WW_ENOMEM;
}

/* Runs the plugin and makes c->cur from its answer. Called with c->mu held. */
static ww_rc refresh_exec(const ww_kubeconfig *k, struct ww_exec_cache *c, char *err, size_t errsz) {
    const ww_exec_conf *x = k->exec;
    if (strcmp(x->interactive_mode, "Always") == 0) {
        snprintf(err, errsz,
                 "exec plugin %s: interactiveMode is Always, but workflow-watcher runs unattended and "
                 "never prompts; set interactiveMode: Never or IfAvailable",
                 x->command);
        return WW_EAUTH;
    }
    exec_cred *cr = calloc(1, sizeof *cr);
    if (!cr) return WW_ENOMEM;
    cr->refs = 1;
    ww_buf out, eout;
    ww_buf_init_secret(&out, EXEC_OUTPUT_MAX);
    ww_buf_init(&eout, 4096);
    ww_rc rc = run_exec(k, c, &out, &eout, err, errsz);
    ww_buf_free(&eout);
    if (rc) {
        ww_buf_free(&out);
        cred_put(cr);
        return rc;
    }
    cJSON *j = cJSON_ParseWithLength(out.p ? out.p : "", out.len);
    ww_buf_free(&out);
    cJSON *av = j ? cJSON_GetObjectItemCaseSensitive(j, "apiVersion") : NULL;
    cJSON *kind = j ? cJSON_GetObjectItemCaseSensitive(j, "kind") : NULL;
    cJSON *st = j ? cJSON_GetObjectItemCaseSensitive(j, "status") : NULL;
    rc = WW_EAUTH;
    if (!j) {
        snprintf(err, errsz, "exec plugin %s: output is not JSON", x->command);
    } else if (!cJSON_IsString(av) || strcmp(av->valuestring, x->api_version)) {
        snprintf(err, errsz, "exec plugin %s: output apiVersion %s%s%s does not match the kubeconfig's %s", x->command,
                 cJSON_IsString(av) ? "\"" : "", cJSON_IsString(av) ? av->valuestring : "missing",
                 cJSON_IsString(av) ? "\"" : "", x->api_version);
    } else if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential")) {
        snprintf(err, errsz, "exec plugin %s: output kind is not ExecCredential", x->command);
    } else if (!cJSON_IsObject(st)) {
        snprintf(err, errsz, "exec plugin %s: output has no status", x->command);
    } else {
        cJSON *tok = cJSON_GetObjectItemCaseSensitive(st, "token");
        cJSON *exp = cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp");
        if (cJSON_IsString(tok) && tok->valuestring[0]) cr->token = strdup(tok->valuestring);
        copy_string_field(st, "clientCertificateData", &cr->cert);
        copy_string_field(st, "clientKeyData", &cr->key);
        if (!cr->token && !(cr->cert.n && cr->key.n)) {
            snprintf(err, errsz, "exec plugin %s: status has neither token nor clientCertificateData and clientKeyData",
                     x->command);
        } else if (cJSON_IsString(exp) && parse_rfc3339(exp->valuestring, &cr->expiry) < 0) {
            snprintf(err, errsz, "exec plugin %s: status.expirationTimestamp \"%s\" is not RFC 3339", x->command,
                     exp->valuestring);
        } else {
            rc = WW_OK;
        }
    }
    if (j) {
        /* Wipe secrets held by cJSON before freeing. */
        cJSON *st2 = cJSON_GetObjectItemCaseSensitive(j, "status");
        for (cJSON *e = st2 ? st2->child : NULL; e; e = e->next)
            if (cJSON_IsString(e)) ww_secret_free_str(e->valuestring), e->valuestring = NULL;
        cJSON_Delete(j);
    }
    if (rc) {
        cred_put(cr);
        return rc;
    }
    cr->run = c->runs;
    c->cur = cr;
    ww_info("auth", "exec plugin %s gave credentials (run %u)", x->command, c->runs);
    return WW_OK;
}

/* Points a->cred at the cached answer, running the plugin when there is
 * none or it has expired. A thread that waited while another thread's run
 * failed gets that failure, not a run of its own. */
static ww_rc exec_get(ww_auth *a, char *err, size_t errsz) {
    struct ww_exec_cache *c = a->k->exec->cache;
    double asked = ww_now();
    ww_rc rc = WW_OK;
    pthread_mutex_lock(&c->mu);
    if (c->cur && c->cur->expiry && time(NULL) >= c->cur->expiry) {
        cred_put(c->cur);
        c->cur = NULL;
    }
    if (!c->cur && c->failed_at >= asked) {
        snprintf(err, errsz, "%s", c->failure);
        rc = WW_EAUTH;
    } else if (!c->cur && (rc = refresh_exec(a->k, c, err, errsz))) {
        snprintf(c->failure, sizeof c->failure, "%s", err);
        c->failed_at = ww_now();
    }
    if (!rc && a->cred != c->cur) {
        cred_put(a->cred);
        a->cred = c->cur;
        a->cred->refs++;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

ww_rc ww_auth_get(ww_auth *a, ww_credentials *c, char *err, size_t errsz) {
    const ww_kubeconfig *k = a->k;
    c->token = NULL;
    c->cert = c->key = NULL;
    c->serial = 0;
    if (k->client_cert.n) {
        c->cert = &k->client_cert;
        c->key = &k->client_key;
    }
    if (k->token) {
        c->token = k->token;
    } else if (k->token_file) {
        if (!a->file_token || ww_now() - a->file_read_at >= a->reread_s) {
            ww_rc rc = read_token_file(a, err, errsz);
            if (rc) return rc;
        }
        c->token = a->file_token;
    } else if (k->exec) {
        ww_rc rc = exec_get(a, err, errsz);
        if (rc) return rc;
        c->token = a->cred->token;
        c->serial = a->cred->run;
        if (a->cred->cert.n) {
            c->cert = &a->cred->cert;
            c->key = &a->cred->key;
        }
    }
    return WW_OK;
}

/* For exec, the cached answer is dropped only if it is the one this client
 * sent: when another thread already replaced it, the new one is tried. */
int ww_auth_unauthorized(ww_auth *a) {
    if (a->k->exec) {
        struct ww_exec_cache *c = a->k->exec->cache;
        pthread_mutex_lock(&c->mu);
        if (a->cred && c->cur == a->cred) {
            cred_put(c->cur);
            c->cur = NULL;
        }
        pthread_mutex_unlock(&c->mu);
        return 1;
    }
    if (a->k->token_file) {
        a->file_read_at = 0;
        return 1;
    }
    return 0;
}
