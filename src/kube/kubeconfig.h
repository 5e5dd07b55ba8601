/* kubeconfig.h - where the API server is and who we are to it.
 *
 * Loads kubeconfig files with client-go's rules (KUBECONFIG with several
 * files, first definition of a name wins, relative paths against the file
 * that named them), or the in-cluster service account. The result is a flat,
 * validated description; reading tokens and running exec plugins at request
 * time is auth.c's job. Knows nothing about Workflows. */
#ifndef WW_KUBECONFIG_H
#define WW_KUBECONFIG_H

#include <stddef.h>
#include "core/rc.h"

typedef struct {
    unsigned char *p;
    size_t n;
} ww_blob;

typedef struct {
    char *name;
    char *value;
} ww_kv;

struct ww_exec_cache;

typedef struct {
    char *command; /* resolved as client-go does */
    char **args;   /* NULL-terminated argv, args[0] == command */
    ww_kv *env;
    size_t n_env;
    char *api_version;
    char *install_hint;
    int provide_cluster_info;
    char *interactive_mode; /* Never, IfAvailable, Always */
    struct ww_exec_cache *cache; /* the plugin's last answer, for every client of this kubeconfig (auth.c) */
} ww_exec_conf;

typedef struct {
    char *source;  /* "kubeconfig FILE" or "in-cluster config", for messages */
    char *context; /* context name (NULL in-cluster) */
    char *user_name;
    char *cluster_name;
    char *namespace_; /* the context's namespace, or NULL */

    char *server; /* https://host:port[/prefix] without a trailing slash */
    char *tls_server_name;
    int insecure;
    ww_blob ca; /* PEM; empty means system trust store */
    char *proxy_url;

    ww_blob client_cert; /* PEM, in memory only */
    ww_blob client_key;
    char *token;
    char *token_file;
    char *username;
    char *password;
    char *impersonate_user;
    char *impersonate_uid;
    char **impersonate_groups;
    size_t n_impersonate_groups;
    ww_exec_conf *exec;
} ww_kubeconfig;

typedef struct {
    const char *explicit_path;  /* --kubeconfig; NULL to use $KUBECONFIG, ~/.kube/config */
    const char *context;        /* --context; NULL for current-context */
    const char *env_kubeconfig; /* value of $KUBECONFIG (NULL: unset) */
    const char *home;           /* $HOME */
    const char *sa_dir;         /* service-account dir for in-cluster config */
    const char *service_host;   /* $KUBERNETES_SERVICE_HOST */
    const char *service_port;   /* $KUBERNETES_SERVICE_PORT */
} ww_kubeconfig_opts;

/* Loads and validates. On failure returns WW_EINVAL (or WW_EIO) and writes a
 * message naming the file, context and field into err. */
ww_rc ww_kubeconfig_load(const ww_kubeconfig_opts *o, ww_kubeconfig **out, char *err, size_t errsz);
void ww_kubeconfig_free(ww_kubeconfig *k);
/* Reads a whole file (capped at max bytes). */
ww_rc ww_read_file(const char *path, size_t max, ww_blob *out);

#endif
