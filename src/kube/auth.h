/* auth.h - the credentials for one request, kept fresh.
 *
 * A static token, a token file re-read about every minute (the old token is
 * kept when a read fails), basic auth, client certificates, and exec
 * plugins whose output is cached until it expires or the server says 401. */
#ifndef WW_AUTH_H
#define WW_AUTH_H

#include <time.h>
#include "core/rc.h"
#include "kube/kubeconfig.h"

typedef struct ww_auth ww_auth;

typedef struct {
    const char *token;   /* bearer token, or NULL */
    const ww_blob *cert; /* client certificate PEM, or NULL */
    const ww_blob *key;
    unsigned serial; /* names cert and key: another value means others (0: the kubeconfig's own) */
} ww_credentials;

/* k must outlive the ww_auth. */
ww_auth *ww_auth_new(const ww_kubeconfig *k);
void ww_auth_free(ww_auth *a);
/* Fills c for the next request, reading the token file or running the exec
 * plugin when due. The pointers stay valid until the next call. err gets a
 * message on failure (never a secret). */
ww_rc ww_auth_get(ww_auth *a, ww_credentials *c, char *err, size_t errsz);
/* The server answered 401: drop the cached exec credentials if they are
 * still the ones this ww_auth sent (another thread may have renewed them
 * already), or re-read the token file. Returns 1 if asking again may help. */
int ww_auth_unauthorized(ww_auth *a);
/* How many times the exec plugin of this kubeconfig ran (for logs and tests). */
unsigned ww_auth_exec_runs(const ww_auth *a);
/* Re-read period of token files, seconds (default 60). */
void ww_auth_set_token_reread(ww_auth *a, double seconds);
/* Longest run of the exec plugin, seconds (default 60); it is killed then.
 * Applies to every ww_auth of the kubeconfig. */
void ww_auth_set_exec_timeout(ww_auth *a, double seconds);

/* The exec cache hung off ww_exec_conf (made and freed by kubeconfig.c). */
struct ww_exec_cache *ww_exec_cache_new(void);
void ww_exec_cache_free(struct ww_exec_cache *c);

#endif
