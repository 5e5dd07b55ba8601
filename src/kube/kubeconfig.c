/* kubeconfig.c - loading and merging kubeconfig files (libyaml), and the
 * in-cluster service-account configuration. */
#include "kube/kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/secret.h"
#include "kube/auth.h"

#define MAX_FILES 16
#define MAX_KUBECONFIG_BYTES (16u << 20)

typedef struct {
    char *path;
    char *dir;
    yaml_document_t doc;
} kfile;

typedef struct {
    kfile files[MAX_FILES];
    int n;
    char *err;
    size_t errsz;
} loader;

static void fail(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(loader *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->errsz, fmt, ap);
    va_end(ap);
}

static char *xstrdup(const char *s) { return s ? strdup(s) : NULL; }

/* The file may hold a secret (a kubeconfig, a token, a key), so it is read
 * without stdio (whose buffer is freed unwiped) into a secret buffer (grown
 * by copy and wipe, never realloc). */
ww_rc ww_read_file(const char *path, size_t max, ww_blob *out) {
    out->p = NULL;
    out->n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return WW_EIO;
    ww_buf b;
    ww_buf_init_secret(&b, max);
    char chunk[16384];
    ww_rc rc = ww_buf_append(&b, "", 0); /* an empty file is "", not NULL */
    while (!rc) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            rc = r < 0 ? WW_EIO : WW_OK;
            break;
        }
        rc = ww_buf_append(&b, chunk, (size_t)r);
    }
    ww_secret_wipe(chunk, sizeof chunk);
    int e = errno;
    close(fd);
    if (rc) {
        ww_buf_free(&b);
        errno = e; /* callers report strerror(errno) */
        return rc;
    }
    out->p = (unsigned char *)b.p;
    out->n = b.len;
    return WW_OK;
}

/* ---- libyaml document helpers ---- */

static yaml_node_t *root(kfile *f) { return yaml_document_get_root_node(&f->doc); }

static yaml_node_t *map_get(kfile *f, yaml_node_t *m, const char *key) {
    if (!m || m->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&f->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(&f->doc, p->value);
    }
    return NULL;
}

/* The scalar's text, or NULL when absent, null or not a scalar. */
static const char *scalar(yaml_node_t *n) {
    if (!n || n->type != YAML_SCALAR_NODE) return NULL;
    const char *v = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (strcmp(v, "null") == 0 || strcmp(v, "~") == 0)) return NULL;
    return v;
}

static const char *get_str(kfile *f, yaml_node_t *m, const char *key) { return scalar(map_get(f, m, key)); }

/* Looks up name in the list `section` (clusters, users, contexts) of each
 * file in order: the first file that defines it wins. Returns the inner
 * object (`inner`: cluster, user, context) and its file. */
static yaml_node_t *find_named(loader *L, const char *section, const char *inner, const char *name, kfile **where) {
    for (int i = 0; i < L->n; i++) {
        kfile *f = &L->files[i];
        yaml_node_t *seq = map_get(f, root(f), section);
        if (!seq || seq->type != YAML_SEQUENCE_NODE) continue;
        for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(&f->doc, *it);
            const char *n = get_str(f, e, "name");
            if (n && strcmp(n, name) == 0) {
                *where = f;
                yaml_node_t *in = map_get(f, e, inner);
                return in ? in : e; /* an entry with no body is an empty one */
            }
        }
    }
    return NULL;
}

static int parse_bool(const char *v, int *out) {
    if (!v) return 0;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
        *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        *out = 0;
    else
        return -1;
    return 0;
}

static char *resolve_path(const char *dir, const char *p) {
    if (!p || p[0] == '/' || !dir) return xstrdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, p);
    return s;
}

static char *dirname_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* Wipes every scalar of the document (tokens, keys, passwords are among
 * them) and deletes it. */
static void doc_delete(yaml_document_t *d) {
    for (yaml_node_t *n = d->nodes.start; n && n < d->nodes.top; n++)
        if (n->type == YAML_SCALAR_NODE) ww_secret_wipe(n->data.scalar.value, n->data.scalar.length);
    yaml_document_delete(d);
}

/* Wipes what the parser still holds of the text (its raw and decoded
 * input buffers, scalars of tokens not yet consumed, as after an error) and
 * deletes it. What libyaml freed on its own while scanning (the old blocks
 * of scalars it grew, its temporary strings) is out of reach. */
static void parser_delete(yaml_parser_t *p) {
    if (p->raw_buffer.start) ww_secret_wipe(p->raw_buffer.start, (size_t)(p->raw_buffer.end - p->raw_buffer.start));
    if (p->buffer.start) ww_secret_wipe(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
    for (yaml_token_t *t = p->tokens.head; t && t < p->tokens.tail; t++)
        if (t->type == YAML_SCALAR_TOKEN) ww_secret_wipe(t->data.scalar.value, t->data.scalar.length);
    yaml_parser_delete(p);
}

static ww_rc load_file(loader *L, const char *path, int must_exist) {
    ww_blob b;
    ww_rc rc = ww_read_file(path, MAX_KUBECONFIG_BYTES, &b);
    if (rc == WW_EIO && errno == ENOENT && !must_exist) return WW_OK;
    if (rc) {
        fail(L, "kubeconfig %s: cannot read: %s", path, rc == WW_ETOOBIG ? "larger than 16 MiB" : strerror(errno));
        return WW_EINVAL;
    }
    if (L->n == MAX_FILES) {
        ww_secret_free(b.p, b.n);
        fail(L, "KUBECONFIG names more than %d files", MAX_FILES);
        return WW_EINVAL;
    }
    kfile *f = &L->files[L->n];
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, b.p, b.n);
    int ok = yaml_parser_load(&p, &f->doc);
    if (!ok)
        fail(L, "kubeconfig %s: not valid YAML: %s at line %zu column %zu", path, p.problem ? p.problem : "parse error",
             p.problem_mark.line + 1, p.problem_mark.column + 1);
    parser_delete(&p);
    ww_secret_free(b.p, b.n);
    if (!ok) return WW_EINVAL;
    yaml_node_t *r = yaml_document_get_root_node(&f->doc);
    if (r && r->type != YAML_MAPPING_NODE) {
        doc_delete(&f->doc);
        fail(L, "kubeconfig %s: not a kubeconfig (the top level is not a mapping)", path);
        return WW_EINVAL;
    }
    if (!r) { /* an empty file is an empty config, as in client-go */
        doc_delete(&f->doc);
        return WW_OK;
    }
    f->path = strdup(path);
    f->dir = dirname_of(path);
    L->n++;
    return WW_OK;
}

static void loader_free(loader *L) {
    for (int i = 0; i < L->n; i++) {
        doc_delete(&L->files[i].doc);
        free(L->files[i].path);
        free(L->files[i].dir);
    }
    L->n = 0;
}

/* Reads field `data_key` (base64) or else `path_key` (a file) into out. */
static ww_rc read_data_or_file(loader *L, kfile *f, yaml_node_t *m, const char *data_key, const char *path_key,
                               const char *what, ww_blob *out) {
    const char *d = get_str(f, m, data_key);
    if (d && *d) {
        if (ww_base64_decode(d, strlen(d), &out->p, &out->n)) {
            fail(L, "%s: %s: not valid base64", what, data_key);
            return WW_EINVAL;
        }
        return WW_OK;
    }
    const char *p = get_str(f, m, path_key);
    if (p && *p) {
        char *full = resolve_path(f->dir, p);
        ww_rc rc = full ? ww_read_file(full, 1u << 20, out) : WW_ENOMEM;
        if (rc) {
            fail(L, "%s: %s: cannot read %s: %s", what, path_key, full ? full : p,
                 rc == WW_EIO ? strerror(errno) : ww_strerror(rc));
            free(full);
            return WW_EINVAL;
        }
        free(full);
    }
    return WW_OK;
}

static ww_rc load_exec(loader *L, kfile *f, yaml_node_t *e, const char *what, ww_kubeconfig *k) {
    ww_exec_conf *x = calloc(1, sizeof *x);
    if (!x) return WW_ENOMEM;
    k->exec = x;
    if (!(x->cache = ww_exec_cache_new())) return WW_ENOMEM;
    const char *cmd = get_str(f, e, "command");
    const char *api = get_str(f, e, "apiVersion");
    if (!cmd || !*cmd) {
        fail(L, "%s: exec.command: missing", what);
        return WW_EINVAL;
    }
    if (!api ||
        (strcmp(api, "client.authentication.k8s.io/v1") && strcmp(api, "client.authentication.k8s.io/v1beta1"))) {
        fail(L, "%s: exec.apiVersion: %s%s%s (want client.authentication.k8s.io/v1 or v1beta1)", what,
             api ? "\"" : "missing", api ? api : "", api ? "\" is not supported" : "");
        return WW_EINVAL;
    }
    x->api_version = strdup(api);
    /* A relative command with a slash is relative to the kubeconfig's folder;
     * a bare name is looked up in PATH when it runs. */
    x->command = strchr(cmd, '/') ? resolve_path(f->dir, cmd) : strdup(cmd);
    yaml_node_t *args = map_get(f, e, "args");
    size_t na = args && args->type == YAML_SEQUENCE_NODE
                    ? (size_t)(args->data.sequence.items.top - args->data.sequence.items.start)
                    : 0;
    x->args = calloc(na + 2, sizeof(char *));
    if (!x->args) return WW_ENOMEM;
    x->args[0] = strdup(x->command);
    for (size_t i = 0; i < na; i++) {
        const char *a = scalar(yaml_document_get_node(&f->doc, args->data.sequence.items.start[i]));
        x->args[i + 1] = strdup(a ? a : "");
    }
    yaml_node_t *env = map_get(f, e, "env");
    if (env && env->type == YAML_SEQUENCE_NODE) {
        size_t ne = (size_t)(env->data.sequence.items.top - env->data.sequence.items.start);
        x->env = calloc(ne ? ne : 1, sizeof(ww_kv));
        if (!x->env) return WW_ENOMEM;
        for (size_t i = 0; i < ne; i++) {
            yaml_node_t *kv = yaml_document_get_node(&f->doc, env->data.sequence.items.start[i]);
            const char *n = get_str(f, kv, "name"), *v = get_str(f, kv, "value");
            if (!n || !*n) {
                fail(L, "%s: exec.env[%zu].name: missing", what, i);
                return WW_EINVAL;
            }
            x->env[x->n_env].name = strdup(n);
            x->env[x->n_env].value = strdup(v ? v : "");
            x->n_env++;
        }
    }
    x->install_hint = xstrdup(get_str(f, e, "installHint"));
    const char *pci = get_str(f, e, "provideClusterInfo");
    if (parse_bool(pci, &x->provide_cluster_info) < 0) {
        fail(L, "%s: exec.provideClusterInfo: \"%s\" is not true or false", what, pci);
        return WW_EINVAL;
    }
    const char *im = get_str(f, e, "interactiveMode");
    if (!im) {
        if (strstr(api, "/v1beta1") == NULL) {
            fail(L, "%s: exec.interactiveMode: missing (required by client.authentication.k8s.io/v1)", what);
            return WW_EINVAL;
        }
        im = "IfAvailable";
    }
    if (strcmp(im, "Never") && strcmp(im, "IfAvailable") && strcmp(im, "Always")) {
        fail(L, "%s: exec.interactiveMode: \"%s\" is not Never, IfAvailable or Always", what, im);
        return WW_EINVAL;
    }
    x->interactive_mode = strdup(im);
    return WW_OK;
}

static ww_rc load_user(loader *L, kfile *f, yaml_node_t *u, const char *what, ww_kubeconfig *k) {
    ww_rc rc;
    if ((rc = read_data_or_file(L, f, u, "client-certificate-data", "client-certificate", what, &k->client_cert)))
        return rc;
    if ((rc = read_data_or_file(L, f, u, "client-key-data", "client-key", what, &k->client_key))) return rc;
    if ((k->client_cert.n > 0) != (k->client_key.n > 0)) {
        fail(L, "%s: %s given without %s", what, k->client_cert.n ? "client-certificate" : "client-key",
             k->client_cert.n ? "client-key" : "client-certificate");
        return WW_EINVAL;
    }
    const char *tok = get_str(f, u, "token");
    const char *tf = get_str(f, u, "tokenFile");
    if (tok && *tok)
        k->token = strdup(tok);
    else if (tf && *tf)
        k->token_file = resolve_path(f->dir, tf);
    k->username = xstrdup(get_str(f, u, "username"));
    k->password = xstrdup(get_str(f, u, "password"));
    if ((k->token || k->token_file) && (k->username || k->password)) {
        fail(L, "%s: token and username/password are both set: choose one", what);
        return WW_EINVAL;
    }
    k->impersonate_user = xstrdup(get_str(f, u, "as"));
    k->impersonate_uid = xstrdup(get_str(f, u, "as-uid"));
    yaml_node_t *g = map_get(f, u, "as-groups");
    if (g && g->type == YAML_SEQUENCE_NODE) {
        size_t ng = (size_t)(g->data.sequence.items.top - g->data.sequence.items.start);
        k->impersonate_groups = calloc(ng + 1, sizeof(char *));
        if (!k->impersonate_groups) return WW_ENOMEM;
        for (size_t i = 0; i < ng; i++) {
            const char *s = scalar(yaml_document_get_node(&f->doc, g->data.sequence.items.start[i]));
            if (s) k->impersonate_groups[k->n_impersonate_groups++] = strdup(s);
        }
    }
    if ((k->impersonate_groups || k->impersonate_uid) && !k->impersonate_user) {
        fail(L, "%s: as-groups or as-uid given without as (the user to impersonate)", what);
        return WW_EINVAL;
    }
    yaml_node_t *ap = map_get(f, u, "auth-provider");
    yaml_node_t *ex = map_get(f, u, "exec");
    if (ap && ex) {
        fail(L, "%s: exec and auth-provider are both set: choose one", what);
        return WW_EINVAL;
    }
    if (ap) {
        fail(L,
             "%s: auth-provider: legacy auth providers are not supported; use an exec plugin "
             "(for GKE: gke-gcloud-auth-plugin, for AKS: kubelogin)",
             what);
        return WW_EINVAL;
    }
    /* client-go uses exec only when nothing else authenticates. */
    if (ex && !k->token && !k->token_file && !k->username && !k->client_cert.n) return load_exec(L, f, ex, what, k);
    return WW_OK;
}

static ww_rc load_cluster(loader *L, kfile *f, yaml_node_t *c, const char *what, ww_kubeconfig *k) {
    const char *server = get_str(f, c, "server");
    if (!server || !*server) {
        fail(L, "%s: server: missing", what);
        return WW_EINVAL;
    }
    if (strncmp(server, "https://", 8) && strncmp(server, "http://", 7)) {
        fail(L, "%s: server: \"%s\" is not an http:// or https:// URL", what, server);
        return WW_EINVAL;
    }
    k->server = strdup(server);
    size_t sl = strlen(k->server);
    while (sl > 0 && k->server[sl - 1] == '/') k->server[--sl] = '\0';
    const char *ins = get_str(f, c, "insecure-skip-tls-verify");
    if (parse_bool(ins, &k->insecure) < 0) {
        fail(L, "%s: insecure-skip-tls-verify: \"%s\" is not true or false", what, ins);
        return WW_EINVAL;
    }
    ww_rc rc = read_data_or_file(L, f, c, "certificate-authority-data", "certificate-authority", what, &k->ca);
    if (rc) return rc;
    if (k->insecure && k->ca.n) {
        fail(L,
             "%s: certificate-authority and insecure-skip-tls-verify are both set: "
             "a CA is pointless when verification is off; remove one",
             what);
        return WW_EINVAL;
    }
    k->tls_server_name = xstrdup(get_str(f, c, "tls-server-name"));
    k->proxy_url = xstrdup(get_str(f, c, "proxy-url"));
    return WW_OK;
}

static ww_rc load_in_cluster(loader *L, const ww_kubeconfig_opts *o, ww_kubeconfig *k) {
    const char *dir = o->sa_dir ? o->sa_dir : "/var/run/secrets/kubernetes.io/serviceaccount";
    const char *port = o->service_port && *o->service_port ? o->service_port : "443";
    const char *host = o->service_host;
    size_t n = strlen(host) + strlen(port) + 16;
    k->server = malloc(n);
    if (!k->server) return WW_ENOMEM;
    if (strchr(host, ':'))
        snprintf(k->server, n, "https://[%s]:%s", host, port);
    else
        snprintf(k->server, n, "https://%s:%s", host, port);
    k->source = strdup("in-cluster config");
    size_t dn = strlen(dir) + 16;
    k->token_file = malloc(dn);
    char *ca = malloc(dn), *ns = malloc(dn);
    if (!k->token_file || !ca || !ns) {
        free(ca);
        free(ns);
        return WW_ENOMEM;
    }
    snprintf(k->token_file, dn, "%s/token", dir);
    snprintf(ca, dn, "%s/ca.crt", dir);
    snprintf(ns, dn, "%s/namespace", dir);
    ww_rc rc = ww_read_file(ca, 1u << 20, &k->ca);
    if (rc) fail(L, "in-cluster config: cannot read the CA %s: %s", ca, strerror(errno));
    ww_blob nsb;
    if (!rc && ww_read_file(ns, 4096, &nsb) == WW_OK) {
        while (nsb.n && (nsb.p[nsb.n - 1] == '\n' || nsb.p[nsb.n - 1] == ' ')) nsb.p[--nsb.n] = 0;
        k->namespace_ = (char *)nsb.p;
    }
    ww_blob tok;
    if (!rc && ww_read_file(k->token_file, 1u << 20, &tok)) {
        fail(L, "in-cluster config: cannot read the service-account token %s: %s", k->token_file, strerror(errno));
        rc = WW_EINVAL;
    } else if (!rc) {
        ww_secret_free(tok.p, tok.n);
    }
    free(ca);
    free(ns);
    return rc ? WW_EINVAL : WW_OK;
}

ww_rc ww_kubeconfig_load(const ww_kubeconfig_opts *o, ww_kubeconfig **out, char *err, size_t errsz) {
    loader L = {.n = 0, .err = err, .errsz = errsz};
    err[0] = '\0';
    *out = NULL;
    ww_kubeconfig *k = calloc(1, sizeof *k);
    if (!k) return WW_ENOMEM;
    ww_rc rc = WW_OK;
    char names[1024] = "";

    if (o->explicit_path) {
        if ((rc = load_file(&L, o->explicit_path, 1))) goto out;
        snprintf(names, sizeof names, "%s", o->explicit_path);
    } else if (o->env_kubeconfig && *o->env_kubeconfig) {
        char *list = strdup(o->env_kubeconfig), *save = NULL;
        if (!list) {
            rc = WW_ENOMEM;
            goto out;
        }
        for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
            int dup = 0;
            for (int i = 0; i < L.n; i++) dup |= strcmp(L.files[i].path, p) == 0;
            if (dup) continue;
            if ((rc = load_file(&L, p, 0))) break;
        }
        free(list);
        if (rc) goto out;
        snprintf(names, sizeof names, "%s", o->env_kubeconfig);
    } else if (o->home) {
        char p[4096];
        snprintf(p, sizeof p, "%s/.kube/config", o->home);
        if ((rc = load_file(&L, p, 0))) goto out;
        snprintf(names, sizeof names, "%s", p);
    }

    if (L.n == 0) {
        if (!o->explicit_path && o->service_host && *o->service_host) {
            rc = load_in_cluster(&L, o, k);
            goto out;
        }
        fail(&L,
             "no kubeconfig found (looked at %s) and not running in a pod: "
             "pass --kubeconfig FILE or set KUBECONFIG",
             names[0] ? names : "$KUBECONFIG, ~/.kube/config");
        rc = WW_EINVAL;
        goto out;
    }

    const char *ctx = o->context;
    for (int i = 0; !ctx && i < L.n; i++) {
        const char *c = get_str(&L.files[i], root(&L.files[i]), "current-context");
        if (c && *c) ctx = c;
    }
    if (!ctx) {
        fail(&L, "kubeconfig %s: current-context: not set; pass --context NAME", names);
        rc = WW_EINVAL;
        goto out;
    }
    kfile *cf = NULL, *clf = NULL, *uf = NULL;
    yaml_node_t *cn = find_named(&L, "contexts", "context", ctx, &cf);
    if (!cn) {
        fail(&L, "kubeconfig %s: context \"%s\": not found", names, ctx);
        rc = WW_EINVAL;
        goto out;
    }
    k->context = strdup(ctx);
    size_t sn = strlen(cf->path) + 20;
    k->source = malloc(sn);
    if (k->source) snprintf(k->source, sn, "kubeconfig %s", cf->path);
    const char *cluster = get_str(cf, cn, "cluster");
    const char *user = get_str(cf, cn, "user");
    k->namespace_ = xstrdup(get_str(cf, cn, "namespace"));
    char what[1024];
    if (!cluster || !*cluster) {
        fail(&L, "kubeconfig %s: context \"%s\": cluster: missing", cf->path, ctx);
        rc = WW_EINVAL;
        goto out;
    }
    yaml_node_t *cl = find_named(&L, "clusters", "cluster", cluster, &clf);
    if (!cl) {
        fail(&L, "kubeconfig %s: context \"%s\": cluster \"%s\": not found", names, ctx, cluster);
        rc = WW_EINVAL;
        goto out;
    }
    k->cluster_name = strdup(cluster);
    snprintf(what, sizeof what, "kubeconfig %s: context \"%s\": cluster \"%s\"", clf->path, ctx, cluster);
    if ((rc = load_cluster(&L, clf, cl, what, k))) goto out;
    if (user && *user) {
        yaml_node_t *un = find_named(&L, "users", "user", user, &uf);
        if (!un) {
            fail(&L, "kubeconfig %s: context \"%s\": user \"%s\": not found", names, ctx, user);
            rc = WW_EINVAL;
            goto out;
        }
        k->user_name = strdup(user);
        snprintf(what, sizeof what, "kubeconfig %s: context \"%s\": user \"%s\"", uf->path, ctx, user);
        if ((rc = load_user(&L, uf, un, what, k))) goto out;
    }

out:
    loader_free(&L);
    if (rc) {
        ww_kubeconfig_free(k);
        return rc == WW_ENOMEM ? rc : WW_EINVAL;
    }
    *out = k;
    return WW_OK;
}

void ww_kubeconfig_free(ww_kubeconfig *k) {
    if (!k) return;
    free(k->source);
    free(k->context);
    free(k->user_name);
    free(k->cluster_name);
    free(k->namespace_);
    free(k->server);
    free(k->tls_server_name);
    free(k->ca.p);
    free(k->proxy_url);
    ww_secret_free(k->client_cert.p, k->client_cert.n);
    ww_secret_free(k->client_key.p, k->client_key.n);
    ww_secret_free_str(k->token);
    free(k->token_file);
    free(k->username);
    ww_secret_free_str(k->password);
    free(k->impersonate_user);
    free(k->impersonate_uid);
    for (size_t i = 0; i < k->n_impersonate_groups; i++) free(k->impersonate_groups[i]);
    free(k->impersonate_groups);
    if (k->exec) {
        ww_exec_conf *x = k->exec;
        free(x->command);
        for (size_t i = 0; x->args && x->args[i]; i++) free(x->args[i]);
        free(x->args);
        for (size_t i = 0; i < x->n_env; i++) {
            free(x->env[i].name);
            ww_secret_free_str(x->env[i].value);
        }
        free(x->env);
        free(x->api_version);
        free(x->install_hint);
        free(x->interactive_mode);
        ww_exec_cache_free(x->cache);
        free(x);
    }
    free(k);
}
