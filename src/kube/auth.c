/* auth.c - token files, exec plugins and their caches. */
#include "kube/auth.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/backoff.h"
#include "core/base64.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/secret.h"

#define EXEC_OUTPUT_MAX (1u << 20)
#define EXEC_TIMEOUT_S 60.0

extern char **environ;

struct ww_auth {
    const ww_kubeconfig *k;
    char *file_token;    /* last good token read from token_file */
    double file_read_at; /* monotonic */
    double reread_s;
    char *exec_token;
    ww_blob exec_cert, exec_key;
    time_t exec_expiry; /* 0: no expiry */
    int exec_valid;
    unsigned exec_runs;
};

ww_auth *ww_auth_new(const ww_kubeconfig *k) {
    ww_auth *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->k = k;
    a->reread_s = 60.0;
    return a;
}

void ww_auth_set_token_reread(ww_auth *a, double s) { a->reread_s = s; }

static void exec_clear(ww_auth *a) {
    ww_secret_free_str(a->exec_token);
    a->exec_token = NULL;
    ww_secret_free(a->exec_cert.p, a->exec_cert.n);
    ww_secret_free(a->exec_key.p, a->exec_key.n);
    a->exec_cert.p = a->exec_key.p = NULL;
    a->exec_cert.n = a->exec_key.n = 0;
    a->exec_valid = 0;
}

void ww_auth_free(ww_auth *a) {
    if (!a) return;
    ww_secret_free_str(a->file_token);
    exec_clear(a);
    free(a);
}

unsigned ww_auth_exec_runs(const ww_auth *a) { return a->exec_runs; }

static ww_rc read_token_file(ww_auth *a, char *err, size_t errsz) {
    ww_blob b;
    ww_rc rc = ww_read_file(a->k->token_file, 1u << 20, &b);
    a->file_read_at = ww_now();
    if (rc == WW_OK) {
        while (b.n && (b.p[b.n - 1] == '\n' || b.p[b.n - 1] == '\r' || b.p[b.n - 1] == ' ')) b.p[--b.n] = 0;
        if (b.n == 0) {
            free(b.p);
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

static char *exec_info(const ww_auth *a) {
    const ww_kubeconfig *k = a->k;
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

/* Runs the plugin directly (no shell), stdin from /dev/null: a daemon never
 * prompts. Captures stdout (capped) and stderr (for the error message). */
static ww_rc run_exec(ww_auth *a, ww_buf *out, ww_buf *errout, char *err, size_t errsz) {
    const ww_exec_conf *x = a->k->exec;
    char *info = exec_info(a);
    if (!info) return WW_ENOMEM;
    size_t nenv = 0;
    while (environ[nenv]) nenv++;
    char **envp = calloc(nenv + x->n_env + 2, sizeof(char *));
    if (!envp) {
        free(info);
        return WW_ENOMEM;
    }
    size_t ne = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) != 0) envp[ne++] = environ[i];
    char **own = calloc(x->n_env + 1, sizeof(char *));
    for (size_t i = 0; own && i < x->n_env; i++) {
        if (asprintf(&own[i], "%s=%s", x->env[i].name, x->env[i].value) < 0) own[i] = NULL;
        if (own[i]) envp[ne++] = own[i];
    }
    char *infoenv = NULL;
    if (asprintf(&infoenv, "KUBERNETES_EXEC_INFO=%s", info) >= 0) envp[ne++] = infoenv;
    envp[ne] = NULL;
    free(info);

    int po[2], pe[2];
    ww_rc rc = WW_OK;
    if (pipe2(po, O_CLOEXEC)) {
        snprintf(err, errsz, "exec plugin %s: pipe: %s", x->command, strerror(errno));
        rc = WW_EAUTH;
        goto done;
    }
    if (pipe2(pe, O_CLOEXEC)) {
        snprintf(err, errsz, "exec plugin %s: pipe: %s", x->command, strerror(errno));
        close(po[0]), close(po[1]);
        rc = WW_EAUTH;
        goto done;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errsz, "exec plugin %s: fork: %s", x->command, strerror(errno));
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        rc = WW_EAUTH;
        goto done;
    }
    if (pid == 0) {
        int dn = open("/dev/null", O_RDONLY);
        if (dn >= 0) dup2(dn, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        execvpe(x->command, x->args, envp);
        dprintf(2, "cannot run %s: %s", x->command, strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    a->exec_runs++;
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2, too_big = 0;
    double deadline = ww_now() + EXEC_TIMEOUT_S;
    while (open_fds > 0) {
        int left = (int)((deadline - ww_now()) * 1000);
        if (left <= 0) break;
        if (poll(fds, 2, left) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char tmp[8192];
            ssize_t r = read(fds[i].fd, tmp, sizeof tmp);
            if (r <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            ww_buf *dst = i == 0 ? out : errout;
            if (ww_buf_append(dst, tmp, (size_t)r) == WW_ETOOBIG) too_big |= i == 0;
        }
    }
    int timed_out = open_fds > 0;
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0) close(fds[i].fd);
    if (timed_out) kill(pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) {
        snprintf(err, errsz, "exec plugin %s: no answer within %.0f s", x->command, EXEC_TIMEOUT_S);
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
    if (own)
        for (size_t i = 0; i < x->n_env; i++) ww_secret_free_str(own[i]);
    free(own);
    free(infoenv);
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

static ww_rc refresh_exec(ww_auth *a, char *err, size_t errsz) {
    const ww_exec_conf *x = a->k->exec;
    if (strcmp(x->interactive_mode, "Always") == 0) {
        snprintf(err, errsz,
                 "exec plugin %s: interactiveMode is Always, but workflow-watcher runs unattended and "
                 "never prompts; set interactiveMode: Never or IfAvailable",
                 x->command);
        return WW_EAUTH;
    }
    ww_buf out, eout;
    ww_buf_init(&out, EXEC_OUTPUT_MAX);
    ww_buf_init(&eout, 4096);
    exec_clear(a);
    ww_rc rc = run_exec(a, &out, &eout, err, errsz);
    ww_buf_free(&eout);
    if (rc) {
        ww_buf_free(&out);
        return rc;
    }
    cJSON *j = cJSON_ParseWithLength(out.p ? out.p : "", out.len);
    if (out.p) ww_secret_free(out.p, out.cap);
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
        if (cJSON_IsString(tok) && tok->valuestring[0]) a->exec_token = strdup(tok->valuestring);
        copy_string_field(st, "clientCertificateData", &a->exec_cert);
        copy_string_field(st, "clientKeyData", &a->exec_key);
        if (!a->exec_token && !(a->exec_cert.n && a->exec_key.n)) {
            snprintf(err, errsz, "exec plugin %s: status has neither token nor clientCertificateData and clientKeyData",
                     x->command);
        } else if (cJSON_IsString(exp) && parse_rfc3339(exp->valuestring, &a->exec_expiry) < 0) {
            snprintf(err, errsz, "exec plugin %s: status.expirationTimestamp \"%s\" is not RFC 3339", x->command,
                     exp->valuestring);
        } else {
            if (!cJSON_IsString(exp)) a->exec_expiry = 0;
            a->exec_valid = 1;
            rc = WW_OK;
        }
    }
    if (j) {
        /* Wipe secrets held by cJSON before freeing. */
        cJSON *st2 = cJSON_GetObjectItemCaseSensitive(j, "status");
        for (cJSON *c = st2 ? st2->child : NULL; c; c = c->next)
            if (cJSON_IsString(c)) ww_secret_free_str(c->valuestring), c->valuestring = NULL;
        cJSON_Delete(j);
    }
    if (rc)
        exec_clear(a);
    else
        ww_info("auth", "exec plugin %s gave credentials (run %u)", x->command, a->exec_runs);
    return rc;
}

ww_rc ww_auth_get(ww_auth *a, ww_credentials *c, char *err, size_t errsz) {
    const ww_kubeconfig *k = a->k;
    c->token = NULL;
    c->cert = c->key = NULL;
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
        if (!a->exec_valid || (a->exec_expiry && time(NULL) >= a->exec_expiry)) {
            ww_rc rc = refresh_exec(a, err, errsz);
            if (rc) return rc;
        }
        if (a->exec_token) c->token = a->exec_token;
        if (a->exec_cert.n) {
            c->cert = &a->exec_cert;
            c->key = &a->exec_key;
        }
    }
    return WW_OK;
}

int ww_auth_unauthorized(ww_auth *a) {
    if (a->k->exec) {
        exec_clear(a);
        return 1;
    }
    if (a->k->token_file) {
        a->file_read_at = 0;
        return 1;
    }
    return 0;
}
