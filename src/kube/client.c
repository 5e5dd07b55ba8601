/* client.c - libcurl requests to the API server. */
#include "kube/client.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/secret.h"

#define RETRY_AFTER_MAX_S 300.0

struct ww_kube_client {
    const ww_kubeconfig *k;
    ww_auth *auth;
    CURL *h;
    ww_stop_flag *stop;
    char *base;       /* URL prefix used for requests */
    char *connect_to; /* tls-server-name mapping for CURLOPT_CONNECT_TO */
    struct curl_slist *connect_to_list; /* libcurl keeps the pointer: lives with the handle */
    int tls_set;                        /* the handle holds tls_key/tls_serial's client certificate */
    const ww_blob *tls_key;
    unsigned tls_serial;
};

typedef struct {
    ww_kube_client *c;
    const ww_req *req;
    ww_resp *resp;
    ww_rc cb_rc;
    int status_seen;
} xfer;

ww_auth *ww_kube_client_auth(ww_kube_client *c) { return c->auth; }

void ww_resp_init(ww_resp *r, size_t max_body) {
    r->status = 0;
    r->retry_after = -1;
    r->error[0] = '\0';
    ww_buf_init(&r->body, max_body);
}

void ww_resp_free(ww_resp *r) { ww_buf_free(&r->body); }

ww_rc ww_url_escape(ww_buf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        ww_rc rc;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '.' || ch == '_' || ch == '~') {
            rc = ww_buf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            rc = ww_buf_append(b, e, 3);
        }
        if (rc) return rc;
    }
    return WW_OK;
}

/* With tls-server-name, requests go to https://NAME:PORT and CONNECT_TO
 * maps that to the real host, so SNI and verification use NAME. */
static int setup_urls(ww_kube_client *c) {
    const char *s = c->k->server;
    if (!c->k->tls_server_name) {
        c->base = strdup(s);
        return c->base ? 0 : -1;
    }
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, s, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
        size_t pl = strlen(path);
        while (pl && path[pl - 1] == '/') path[--pl] = 0;
        size_t n = strlen(c->k->tls_server_name) + strlen(port) + strlen(path) + 16;
        c->base = malloc(n);
        size_t m = strlen(c->k->tls_server_name) + strlen(host) + 2 * strlen(port) + 8;
        c->connect_to = malloc(m);
        if (c->base && c->connect_to) {
            snprintf(c->base, n, "https://%s:%s%s", c->k->tls_server_name, port, path);
            snprintf(c->connect_to, m, "%s:%s:%s:%s", c->k->tls_server_name, port, host, port);
            rc = 0;
        }
    }
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud);
static size_t on_write(char *data, size_t size, size_t n, void *ud);
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un);

/* What every request of the handle shares is set once (the handle is never
 * reset): libcurl copies strings such as the password on every set and
 * frees the copies unwiped. */
static int setup_handle(ww_kube_client *c) {
    CURL *h = c->h;
    const ww_kubeconfig *k = c->k;
    if (c->connect_to && !(c->connect_to_list = curl_slist_append(NULL, c->connect_to))) return -1;
    if (c->connect_to_list) curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to_list);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    /* No Accept-Encoding: watch streams may be gzip members libcurl rejects. */
    if (k->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    } else if (k->ca.n) {
        struct curl_blob b = {k->ca.p, k->ca.n, CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    }
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    if (k->username || k->password) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, k->username ? k->username : "");
        curl_easy_setopt(h, CURLOPT_PASSWORD, k->password ? k->password : "");
    }
    if (k->proxy_url) {
        curl_easy_setopt(h, CURLOPT_PROXY, k->proxy_url);
        /* client-go sends every request through proxy-url; without this,
         * libcurl would still skip it for hosts listed in $NO_PROXY. */
        curl_easy_setopt(h, CURLOPT_NOPROXY, "");
    }
    return 0;
}

ww_kube_client *ww_kube_client_new(const ww_kubeconfig *k, ww_stop_flag *stop) {
    ww_kube_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->k = k;
    c->stop = stop;
    c->auth = ww_auth_new(k);
    c->h = curl_easy_init();
    if (!c->auth || !c->h || setup_urls(c) || setup_handle(c)) {
        ww_kube_client_free(c);
        return NULL;
    }
    return c;
}

void ww_kube_client_free(ww_kube_client *c) {
    if (!c) return;
    /* the handle first: it points at the client key ww_auth holds */
    if (c->h) curl_easy_cleanup(c->h);
    ww_auth_free(c->auth);
    curl_slist_free_all(c->connect_to_list);
    free(c->base);
    free(c->connect_to);
    free(c);
}

/* The client certificate goes to the handle only when it changes: once for
 * the kubeconfig's own, again when an exec plugin gives a new one. The key
 * is not copied (CURL_BLOB_NOCOPY), so libcurl leaves no copy of it in
 * freed memory; ours outlives the handle's use of it (the kubeconfig's
 * lives as long as the kubeconfig, an exec answer until the next
 * ww_auth_get, which comes before the next transfer). */
static void set_client_cert(ww_kube_client *c, const ww_credentials *cr) {
    if (c->tls_set && cr->key == c->tls_key && cr->serial == c->tls_serial) return;
    struct curl_blob cb = {cr->cert ? cr->cert->p : NULL, cr->cert ? cr->cert->n : 0, CURL_BLOB_COPY};
    struct curl_blob kb = {cr->key ? cr->key->p : NULL, cr->key ? cr->key->n : 0, CURL_BLOB_NOCOPY};
    curl_easy_setopt(c->h, CURLOPT_SSLCERT_BLOB, cr->cert ? &cb : NULL);
    curl_easy_setopt(c->h, CURLOPT_SSLKEY_BLOB, cr->key ? &kb : NULL);
    c->tls_set = 1;
    c->tls_key = cr->key;
    c->tls_serial = cr->serial;
}

static size_t on_header(char *buf, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t len = size * n;
    if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        char tmp[64];
        size_t l = len - 12 < sizeof tmp - 1 ? len - 12 : sizeof tmp - 1;
        memcpy(tmp, buf + 12, l);
        tmp[l] = 0;
        char *end;
        double v = strtod(tmp, &end);
        /* Capped: a proxy answering 1e9 would park the stream for ever. */
        if (end != tmp && v >= 0) x->resp->retry_after = v < RETRY_AFTER_MAX_S ? v : RETRY_AFTER_MAX_S;
    }
    return len;
}

static size_t on_write(char *data, size_t size, size_t n, void *ud) {
    xfer *x = ud;
    size_t len = size * n;
    if (!x->status_seen) {
        curl_easy_getinfo(x->c->h, CURLINFO_RESPONSE_CODE, &x->resp->status);
        x->status_seen = 1;
    }
    if (x->resp->status >= 200 && x->resp->status < 300 && x->req->on_body) {
        x->cb_rc = x->req->on_body(x->req->ud, data, len);
        return x->cb_rc ? 0 : len;
    }
    ww_rc rc = ww_buf_append(&x->resp->body, data, len);
    if (rc == WW_ETOOBIG && !(x->resp->status >= 200 && x->resp->status < 300)) return len; /* keep the head */
    if (rc) {
        x->cb_rc = rc;
        return 0;
    }
    return len;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    xfer *x = ud;
    if (*x->c->stop) return 1;
    if (x->req->on_tick && (x->cb_rc = x->req->on_tick(x->req->ud)) != WW_OK) return 1;
    return 0;
}

static ww_rc once(ww_kube_client *c, const char *path, const ww_req *req, ww_resp *resp, int *unauthorized) {
    CURL *h = c->h;
    char err[512];
    ww_credentials cr;
    ww_rc rc = ww_auth_get(c->auth, &cr, err, sizeof err);
    if (rc) {
        snprintf(resp->error, sizeof resp->error, "%s", err);
        return rc;
    }
    ww_buf url;
    ww_buf_init(&url, 1 << 16);
    if (ww_buf_puts(&url, c->base) || ww_buf_puts(&url, path)) {
        ww_buf_free(&url);
        return WW_EINVAL;
    }
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "User-Agent: workflow-watcher/" WW_VERSION);
    char *authz = NULL;
    if (cr.token) {
        size_t n = strlen(cr.token) + 32;
        authz = malloc(n);
        if (authz) {
            snprintf(authz, n, "Authorization: Bearer %s", cr.token);
            hdrs = curl_slist_append(hdrs, authz);
        }
    }
    const ww_kubeconfig *k = c->k;
    ww_buf tmp;
    ww_buf_init(&tmp, 4096);
    if (k->impersonate_user) {
        ww_buf_printf(&tmp, "Impersonate-User: %s", k->impersonate_user);
        hdrs = curl_slist_append(hdrs, tmp.p);
        for (size_t i = 0; i < k->n_impersonate_groups; i++) {
            ww_buf_reset(&tmp);
            ww_buf_printf(&tmp, "Impersonate-Group: %s", k->impersonate_groups[i]);
            hdrs = curl_slist_append(hdrs, tmp.p);
        }
        if (k->impersonate_uid) {
            ww_buf_reset(&tmp);
            ww_buf_printf(&tmp, "Impersonate-Uid: %s", k->impersonate_uid);
            hdrs = curl_slist_append(hdrs, tmp.p);
        }
    }
    ww_buf_free(&tmp);
    if (req->body) hdrs = curl_slist_append(hdrs, "Content-Type: application/json");

    xfer x = {.c = c, .req = req, .resp = resp, .cb_rc = WW_OK, .status_seen = 0};
    curl_easy_setopt(h, CURLOPT_URL, url.p);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, req->connect_timeout_s ? req->connect_timeout_s : 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, req->timeout_s);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    /* The handle is reused: every request says its method and body. */
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, req->body ? (curl_off_t)req->body_len : (curl_off_t)-1);
    if (!req->body) curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    set_client_cert(c, &cr);

    CURLcode cc = curl_easy_perform(h);
    if (!x.status_seen) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    /* The handle lives on: leave it no pointer into this request. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);

    ww_secret_free_str(authz);
    /* curl_slist_append copied the Authorization header: wipe that too. */
    for (struct curl_slist *l = hdrs; l; l = l->next) ww_secret_wipe(l->data, strlen(l->data));
    curl_slist_free_all(hdrs);
    ww_buf_free(&url);

    if (cc == CURLE_OK) {
        *unauthorized = resp->status == 401;
        return WW_OK;
    }
    if ((cc == CURLE_WRITE_ERROR || cc == CURLE_ABORTED_BY_CALLBACK) && x.cb_rc) return x.cb_rc;
    if (cc == CURLE_ABORTED_BY_CALLBACK || *c->stop) return WW_ESTOP;
    snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(cc));
    if (cc == CURLE_SSL_CACERT || cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CERTPROBLEM)
        snprintf(resp->error, sizeof resp->error, "TLS: %s (check the CA and tls-server-name of %s)",
                 curl_easy_strerror(cc), k->source);
    return WW_RETRY;
}

ww_rc ww_kube_request(ww_kube_client *c, const char *path, const ww_req *req, ww_resp *resp) {
    int unauthorized = 0;
    ww_rc rc = once(c, path, req, resp, &unauthorized);
    if (rc == WW_OK && unauthorized && ww_auth_unauthorized(c->auth)) {
        ww_info("kube", "401 Unauthorized: refreshing credentials and trying once more");
        ww_buf_reset(&resp->body);
        resp->status = 0;
        resp->retry_after = -1;
        rc = once(c, path, req, resp, &unauthorized);
    }
    return rc;
}
