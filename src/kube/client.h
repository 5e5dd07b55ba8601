/* client.h - HTTP requests to the API server (libcurl).
 *
 * One client per thread. Handles TLS, proxies, impersonation and
 * credentials (auth.c), a 401 retry for exec and token-file credentials,
 * streaming of response bodies, and early abort when stop is set. */
#ifndef WW_CLIENT_H
#define WW_CLIENT_H

#include <stddef.h>
#include "core/buf.h"
#include "core/rc.h"
#include "kube/auth.h"
#include "kube/kubeconfig.h"

typedef struct ww_kube_client ww_kube_client;

/* Called with each piece of a 2xx response body. Return WW_OK to go on;
 * anything else (WW_EABORT, say) aborts the transfer and is returned by the
 * request as it is. */
typedef ww_rc (*ww_body_fn)(void *ud, const char *data, size_t n);

typedef struct {
    const char *method; /* NULL: GET */
    const char *body;   /* request body (JSON) or NULL */
    size_t body_len;
    ww_body_fn on_body; /* NULL: collect the body in resp->body */
    void *ud;
    ww_rc (*on_tick)(void *ud); /* about once a second; non-OK aborts */
    long timeout_s;             /* whole request; 0: none */
    long connect_timeout_s;
} ww_req;

typedef struct {
    long status;        /* HTTP status, 0 if none */
    double retry_after; /* seconds from Retry-After (at most 300), -1 if absent */
    ww_buf body;        /* error bodies always, 2xx bodies without on_body */
    char error[512];    /* transport error text */
} ww_resp;

ww_kube_client *ww_kube_client_new(const ww_kubeconfig *k, ww_stop_flag *stop);
void ww_kube_client_free(ww_kube_client *c);
/* path is absolute ("/apis/..."), query included. Returns WW_OK when an HTTP
 * answer arrived (see resp->status), WW_RETRY for a transport failure,
 * WW_EAUTH when credentials could not be obtained, WW_ESTOP on stop, or
 * whatever on_body returned. Initialise resp with ww_resp_init first. */
ww_rc ww_kube_request(ww_kube_client *c, const char *path, const ww_req *req, ww_resp *resp);
void ww_resp_init(ww_resp *r, size_t max_body);
void ww_resp_free(ww_resp *r);
ww_auth *ww_kube_client_auth(ww_kube_client *c);
/* Percent-encodes s for a query parameter value. */
ww_rc ww_url_escape(ww_buf *b, const char *s);

#endif
