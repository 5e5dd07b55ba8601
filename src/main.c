/* main.c - command line -> config -> run.
 *
 * Wires the pipeline of docs/architecture.md: kube client -> reflector
 * (one per namespace, each in its own thread) -> tracker -> encoder -> sink. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/options.h"
#include "core/log.h"
#include "encode/encode.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "sink/sink.h"
#include "track/tracker.h"
#include "watch/reflector.h"
#include "watch/resource.h"

static volatile int g_stop;
static volatile sig_atomic_t g_signals;

static void on_signal(int sig) {
    (void)sig;
    if (++g_signals >= 2) {
        static const char m[] =
            "{\"level\":\"warn\",\"component\":\"main\",\"msg\":\"second signal: exiting at once\"}\n";
        ssize_t w = write(STDERR_FILENO, m, sizeof m - 1);
        (void)w;
        _exit(1);
    }
    g_stop = 1;
}

typedef struct {
    pthread_mutex_t mu;
    ww_sink *sink;
    ww_buf msg;
    int failed;
} pipeline;

/* Called by every tracker with each change, in order per reflector. */
static ww_rc deliver(void *ud, const ww_change *d) {
    pipeline *p = ud;
    ww_rc rc = WW_OK;
    pthread_mutex_lock(&p->mu);
    if (p->failed) {
        rc = WW_ESTOP;
        goto out;
    }
    ww_buf_reset(&p->msg);
    ww_rc e = ww_encode_raw(d, &p->msg);
    if (e) {
        ww_error("encode", "cannot encode an event of %zu bytes: %s", d->object.n, ww_strerror(e));
        p->failed = 1;
        g_stop = 1;
        rc = WW_ESTOP;
        goto out;
    }
    ww_msg m = {.data = {p->msg.p, p->msg.len}, .id = d->uid, .key = d->uid};
    ww_ack ack;
    if (ww_sink_publish(p->sink, &m, 1, &ack) || ack != WW_ACK_OK) {
        ww_error("sink", "the sink failed; stopping so that nothing is skipped");
        p->failed = 1;
        g_stop = 1;
        rc = WW_ESTOP;
    }
out:
    pthread_mutex_unlock(&p->mu);
    return rc;
}

typedef struct {
    ww_reflector_opts opts;
    ww_tracker tracker;
    ww_kubeconfig *kc;
    ww_reflector_stats stats;
    ww_rc rc;
    pthread_t th;
} worker;

static ww_rc track(void *ud, const ww_delta *d) { return ww_tracker_feed(ud, d); }

static void *run_worker(void *arg) {
    worker *w = arg;
    ww_kube_client *c = ww_kube_client_new(w->kc, &g_stop);
    if (!c) {
        ww_error("main", "cannot create the HTTP client");
        w->rc = WW_ENOMEM;
        g_stop = 1;
        return NULL;
    }
    w->rc = ww_reflector_run(c, &w->opts, &w->stats);
    if (w->rc != WW_ESTOP) g_stop = 1;
    ww_kube_client_free(c);
    return NULL;
}

int main(int argc, char **argv) {
    ww_config cfg;
    int prc = ww_config_parse(&cfg, argc, argv);
    if (prc) {
        ww_config_free(&cfg);
        return prc;
    }
    if (cfg.help) {
        ww_config_usage(stdout);
        ww_config_free(&cfg);
        return 0;
    }
    if (cfg.version) {
        printf("workflow-watcher %s\n", WW_VERSION);
        ww_config_free(&cfg);
        return 0;
    }
    int exit_code = 0;
    if (ww_log_set_level(cfg.log_level)) {
        fprintf(stderr, "workflow-watcher: --log-level: \"%s\" is not debug, info, warn or error\n", cfg.log_level);
        ww_config_free(&cfg);
        return 2;
    }
    if (ww_log_set_format(cfg.log_format)) {
        fprintf(stderr, "workflow-watcher: --log-format: \"%s\" is not json or text\n", cfg.log_format);
        ww_config_free(&cfg);
        return 2;
    }
    char err[1024];
    ww_resource res;
    if (ww_resource_parse(cfg.resource, &res, err, sizeof err)) {
        fprintf(stderr, "workflow-watcher: %s\n", err);
        ww_config_free(&cfg);
        return 2;
    }
    if (res.cluster_scoped && cfg.n_namespaces) {
        fprintf(stderr, "workflow-watcher: --namespace: %s are cluster-scoped; drop --namespace\n", res.resource);
        ww_config_free(&cfg);
        return 2;
    }

    ww_kubeconfig_opts ko = {
        .explicit_path = cfg.kubeconfig,
        .context = cfg.context,
        .env_kubeconfig = getenv("KUBECONFIG"),
        .home = getenv("HOME"),
        .sa_dir = getenv("WORKFLOW_WATCHER_SERVICEACCOUNT_DIR"),
        .service_host = getenv("KUBERNETES_SERVICE_HOST"),
        .service_port = getenv("KUBERNETES_SERVICE_PORT"),
    };
    ww_kubeconfig *kc = NULL;
    if (ww_kubeconfig_load(&ko, &kc, err, sizeof err)) {
        fprintf(stderr, "workflow-watcher: %s\n", err);
        ww_config_free(&cfg);
        return 2;
    }
    ww_info("main", "workflow-watcher %s: %s, server %s, user \"%s\", watching %s%s%s", WW_VERSION, kc->source,
            kc->server, kc->user_name ? kc->user_name : (kc->token_file ? "service account" : ""), res.resource,
            cfg.n_namespaces ? " in " : " in all namespaces", cfg.n_namespaces ? cfg.namespaces[0] : "");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    pipeline pl;
    pthread_mutex_init(&pl.mu, NULL);
    pl.failed = 0;
    ww_buf_init(&pl.msg, (size_t)cfg.max_event_bytes + 64);
    if (ww_sink_open("stdout", &pl.sink, err, sizeof err)) {
        fprintf(stderr, "workflow-watcher: %s\n", err);
        return 2;
    }

    size_t nw = cfg.n_namespaces ? cfg.n_namespaces : 1;
    worker *ws = calloc(nw, sizeof *ws);
    for (size_t i = 0; i < nw; i++) {
        ww_reflector_opts *o = &ws[i].opts;
        o->group = res.group;
        o->version = res.version;
        o->resource = res.resource;
        o->namespace_ = cfg.n_namespaces ? cfg.namespaces[i] : NULL;
        o->label_selector = cfg.selector;
        o->field_selector = cfg.field_selector;
        o->initial_rv = cfg.resource_version;
        o->page_size = cfg.page_size;
        o->max_line = (size_t)cfg.max_event_bytes;
        o->max_page = (size_t)cfg.max_page_bytes;
        o->list_mode = !strcmp(cfg.list_mode, "list")     ? WW_LIST_PAGED
                       : !strcmp(cfg.list_mode, "stream") ? WW_LIST_STREAM
                                                          : WW_LIST_AUTO;
        o->watch_list_silence_s = 30;
        o->watch_timeout_min_s = cfg.watch_timeout_min;
        o->watch_timeout_max_s = cfg.watch_timeout_max;
        o->backoff_initial_s = 0.8;
        o->backoff_cap_s = 30;
        o->backoff_reset_s = 120;
        o->stop = &g_stop;
        ww_tracker_init(&ws[i].tracker, deliver, &pl);
        o->emit = track;
        o->ud = &ws[i].tracker;
        ws[i].kc = kc;
        pthread_create(&ws[i].th, NULL, run_worker, &ws[i]);
    }
    for (size_t i = 0; i < nw; i++) {
        pthread_join(ws[i].th, NULL);
        if (ws[i].rc != WW_ESTOP && ws[i].rc != WW_OK) exit_code = 1;
        const ww_reflector_stats *st = &ws[i].stats;
        ww_info("main", "%s: %lu events, %lu lists, %lu watches, %lu reconnects (%lu after 410), %lu bookmarks",
                ws[i].opts.namespace_ ? ws[i].opts.namespace_ : "all-namespaces", st->events, st->lists, st->watches,
                st->reconnects, st->relists_gone, st->bookmarks);
        ww_tracker_free(&ws[i].tracker);
    }
    if (pl.failed) exit_code = 1;
    for (size_t i = 0; i < nw; i++)
        if (ws[i].rc == WW_EAUTH) {
            ww_error("main", "the API server refused user \"%s\"%s%s of %s%s%s%s",
                     kc->user_name ? kc->user_name : "(none)", kc->impersonate_user ? " impersonating " : "",
                     kc->impersonate_user ? kc->impersonate_user : "", kc->source, kc->context ? ", context \"" : "",
                     kc->context ? kc->context : "", kc->context ? "\"" : "");
            if (!cfg.n_namespaces && kc->namespace_)
                ww_error("main", "hint: to watch only the namespace \"%s\" of this %s, pass --namespace %s",
                         kc->namespace_, kc->context ? "context" : "service account", kc->namespace_);
            break;
        }
    ww_sink_flush(pl.sink);
    ww_sink_close(pl.sink);
    ww_info("main", "stopped%s", exit_code ? " after an error" : "");
    free(ws);
    ww_buf_free(&pl.msg);
    pthread_mutex_destroy(&pl.mu);
    ww_kubeconfig_free(kc);
    ww_config_free(&cfg);
    curl_global_cleanup();
    return exit_code;
}
