/* main.c - command line -> config -> run.
 *
 * Wires the pipeline of docs/architecture.md: kube client -> reflector
 * (one per namespace, each in its own thread) -> bounded queue -> delivery
 * (tracker -> encoder -> sink, acks -> store) on the main thread. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/options.h"
#include "core/log.h"
#include "core/queue.h"
#include "kube/client.h"
#include "kube/kubeconfig.h"
#include "pipeline.h"
#include "sink/sink.h"
#include "store/store.h"
#include "track/checkpoint.h"
#include "track/tracker.h"
#include "watch/reflector.h"
#include "watch/resource.h"

static ww_stop_flag g_stop;
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
    ww_reflector_opts opts;
    ww_kubeconfig *kc;
    ww_queue *queue;
    size_t stream;
    char rv[64]; /* where this stream resumes (the checkpoint's resourceVersion) */
    ww_reflector_stats stats;
    ww_rc rc;
    pthread_t th;
} worker;

static pthread_mutex_t g_workers_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t g_workers_left;

/* The reflector's callback: hand the delta to the delivery thread. */
static ww_rc enqueue(void *ud, const ww_delta *d) {
    worker *w = ud;
    return ww_pipeline_enqueue(w->queue, w->stream, d, &g_stop);
}

static void *run_worker(void *arg) {
    worker *w = arg;
    ww_kube_client *c = ww_kube_client_new(w->kc, &g_stop);
    if (!c) {
        ww_error("main", "cannot create the HTTP client");
        w->rc = WW_ENOMEM;
        g_stop = 1;
    } else {
        w->rc = ww_reflector_run(c, &w->opts, &w->stats);
        if (w->rc != WW_ESTOP) g_stop = 1;
        ww_kube_client_free(c);
    }
    /* The last reflector out closes the queue: the delivery side then
     * drains what is left and stops. */
    pthread_mutex_lock(&g_workers_mu);
    if (--g_workers_left == 0) ww_queue_close(w->queue);
    pthread_mutex_unlock(&g_workers_mu);
    return NULL;
}

/* --checkpoint, else --redis-address, else a file under $XDG_STATE_HOME or ./ */
static char *checkpoint_url(const ww_config *cfg) {
    char *u = NULL;
    const char *xdg = getenv("XDG_STATE_HOME");
    if (cfg->checkpoint)
        u = strdup(cfg->checkpoint);
    else if (cfg->redis_address) {
        if (asprintf(&u, "redis://%s/workflow-watcher", cfg->redis_address) < 0) u = NULL;
    } else if (xdg && *xdg) {
        if (asprintf(&u, "file://%s/workflow-watcher/checkpoint", xdg) < 0) u = NULL;
    } else
        u = strdup("file://./workflow-watcher.checkpoint");
    return u;
}

/* Reads the stored checkpoint into t. 0, or the exit code. */
static int load_checkpoint(ww_store *st, ww_tracker *t, const ww_ckpt_identity *id, const ww_config *cfg) {
    ww_buf blob;
    ww_buf_init(&blob, (size_t)1 << 32);
    char err[1024] = "";
    ww_rc rc = ww_store_load(st, &blob, err, sizeof err);
    int code = 0;
    if (rc == WW_ENOENT) {
        ww_info("store", "%s: no checkpoint yet: listing everything%s", st->url,
                strcmp(cfg->initial_state, "skip") ? "" : " (existing objects are recorded, not published)");
    } else if (rc) {
        ww_error("store", "%s: cannot read the checkpoint: %s", st->url, err[0] ? err : ww_strerror(rc));
        code = 1;
    } else if ((rc = ww_checkpoint_read(t, id, blob.p, blob.len, err, sizeof err))) {
        if (cfg->reset_checkpoint) {
            ww_warn("store", "%s: %s; starting afresh (--reset-checkpoint)", st->url, err);
            ww_tracker_forget(t);
        } else {
            ww_error("store",
                     "%s: refusing the checkpoint: %s. Point --checkpoint elsewhere, or pass "
                     "--reset-checkpoint to start afresh (existing objects are then published again)",
                     st->url, err);
            code = 2;
        }
    } else {
        ww_info("store", "%s: resuming: %zu known objects, resourceVersion %s%s", st->url, t->index.len,
                t->streams[0].rv[0] ? t->streams[0].rv : "(list not complete)",
                t->n_streams > 1 ? " (first namespace)" : "");
    }
    if (!code) {
        ww_buf_reset(&blob);
        rc = ww_store_journal_load(st, &blob, err, sizeof err);
        size_t applied = 0, damaged = 0;
        if (rc && rc != WW_ENOENT) {
            ww_error("store", "%s: cannot read the journal: %s", st->url, err[0] ? err : ww_strerror(rc));
            code = 1;
        } else if (!rc && blob.len && ww_checkpoint_read_journal(t, blob.p, blob.len, &applied, &damaged)) {
            ww_error("store", "%s: out of memory reading the journal", st->url);
            code = 1;
        } else if (damaged) {
            ww_warn("store",
                    "%s: %zu journal records are damaged (checksum or fields wrong) and were skipped; every stream "
                    "lists again to re-check what it knew. An object such a record named, if it was published and "
                    "then deleted while the watcher was down, gets no DELETED",
                    st->url, damaged);
        }
        if (!code && applied) {
            ww_info("store",
                    "%s: the journal names %zu objects published after the last save; a relist publishes "
                    "them again, or their deletion",
                    st->url, applied);
        }
    }
    ww_buf_free(&blob);
    return code;
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

    size_t nw = cfg.n_namespaces ? cfg.n_namespaces : 1;
    worker *ws = calloc(nw, sizeof *ws);
    char *store_url = checkpoint_url(&cfg);
    char resource_id[512];
    snprintf(resource_id, sizeof resource_id, "%s/%s/%s", res.group, res.version, res.resource);
    ww_ckpt_identity ident = {kc->server, resource_id, cfg.selector, cfg.field_selector};
    ww_tracker tracker;
    ww_store *store = NULL;
    ww_sink *sink = NULL;
    ww_pipeline *pl = NULL;
    ww_queue queue;
    ww_queue_init(&queue, (size_t)cfg.queue_bytes);
    static ww_stop_flag never;
    ww_store_env senv = {kc, &never, cfg.redis_password};
    if (!ws || !store_url || ww_tracker_init(&tracker, cfg.namespaces, cfg.n_namespaces, NULL, NULL)) {
        fprintf(stderr, "workflow-watcher: out of memory\n");
        return 1;
    }
    tracker.skip_initial = !strcmp(cfg.initial_state, "skip");
    ww_rc rc = ww_store_open(store_url, &senv, &store, err, sizeof err);
    if (rc) {
        ww_error("store", "%s", err);
        exit_code = rc == WW_EINVAL || rc == WW_ECONFLICT ? 2 : 1; /* bad URL, or another watcher holds it */
        goto out;
    }
    if ((exit_code = load_checkpoint(store, &tracker, &ident, &cfg))) goto out;
    if (cfg.reset_checkpoint) ww_tracker_drop_unwatched(&tracker);
    for (size_t i = 0; i < tracker.n_streams; i++)
        if (tracker.streams[i].relist_from[0] && !tracker.streams[i].rv[0])
            ww_warn("watch", "%s: relisting: the relist after resourceVersion %s did not complete before the last stop",
                    tracker.streams[i].namespace_ ? tracker.streams[i].namespace_ : "all-namespaces",
                    tracker.streams[i].relist_from);
    if (cfg.resource_version) {
        int known = tracker.index.len > 0;
        for (size_t i = 0; i < tracker.n_streams; i++) known |= tracker.streams[i].listed || tracker.streams[i].rv[0];
        if (known && !cfg.reset_checkpoint) {
            /* Watching from another RV than the checkpoint's would never
             * publish the deletion of an object the index knows that was
             * deleted in between. */
            ww_error("main",
                     "-resourceVersion %s and the checkpoint %s (%zu known objects) both say where to start; drop "
                     "-resourceVersion to resume from the checkpoint, or add --reset-checkpoint to forget the "
                     "checkpoint and start from %s",
                     cfg.resource_version, store->url, tracker.index.len, cfg.resource_version);
            exit_code = 2;
            goto out;
        }
        if (known) {
            ww_warn("main", "--reset-checkpoint: forgetting the checkpoint; watching from -resourceVersion %s",
                    cfg.resource_version);
            ww_tracker_forget(&tracker);
        }
        ww_info("main", "watching from -resourceVersion %s", cfg.resource_version);
        for (size_t i = 0; i < tracker.n_streams; i++)
            snprintf(tracker.streams[i].rv, sizeof tracker.streams[i].rv, "%s", cfg.resource_version);
    }
    if ((rc = ww_sink_open(cfg.sink, &sink, err, sizeof err))) {
        ww_error("sink", "%s", err);
        exit_code = rc == WW_EINVAL ? 2 : 1;
        goto out;
    }
    ww_pipeline_opts po = {
        .batch_messages = (size_t)cfg.batch_messages,
        .batch_bytes = (size_t)cfg.batch_bytes,
        .linger_s = (double)cfg.batch_linger_ms / 1000.0,
        .max_message = (size_t)cfg.max_event_bytes + 1024,
        .save_interval_s = (double)cfg.checkpoint_interval,
        .save_changes = (unsigned long)cfg.checkpoint_changes,
        .dead_letter = cfg.dead_letter,
        .reject_stop = cfg.on_reject ? !strcmp(cfg.on_reject, "stop") : !cfg.dead_letter,
        .grace_s = (double)cfg.grace_period,
        .ident = ident,
    };
    if ((rc = ww_pipeline_new(&po, &tracker, sink, store, &queue, &g_stop, &pl, err, sizeof err))) {
        ww_error("main", "%s", err);
        exit_code = 2;
        goto out;
    }

    g_workers_left = nw;
    for (size_t i = 0; i < nw; i++) {
        ww_reflector_opts *o = &ws[i].opts;
        o->group = res.group;
        o->version = res.version;
        o->resource = res.resource;
        o->namespace_ = cfg.n_namespaces ? cfg.namespaces[i] : NULL;
        o->label_selector = cfg.selector;
        o->field_selector = cfg.field_selector;
        snprintf(ws[i].rv, sizeof ws[i].rv, "%s", tracker.streams[i].rv);
        o->initial_rv = ws[i].rv[0] ? ws[i].rv : NULL;
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
        o->emit = enqueue;
        o->ud = &ws[i];
        ws[i].kc = kc;
        ws[i].queue = &queue;
        ws[i].stream = i;
    }
    for (size_t i = 0; i < nw; i++) pthread_create(&ws[i].th, NULL, run_worker, &ws[i]);
    rc = ww_pipeline_run(pl);
    if (rc) exit_code = 1;
    for (size_t i = 0; i < nw; i++) {
        pthread_join(ws[i].th, NULL);
        if (ws[i].rc != WW_ESTOP && ws[i].rc != WW_OK) exit_code = 1;
        const ww_reflector_stats *st = &ws[i].stats;
        ww_info("main", "%s: %lu events, %lu lists, %lu watches, %lu reconnects (%lu after 410), %lu bookmarks",
                ws[i].opts.namespace_ ? ws[i].opts.namespace_ : "all-namespaces", st->events, st->lists, st->watches,
                st->reconnects, st->relists_gone, st->bookmarks);
    }
    {
        const ww_pipeline_stats *ps = ww_pipeline_stats_get(pl);
        ww_info("main",
                "delivered %lu messages in %lu batches (%lu recovered, %lu replays not republished), %lu "
                "retries, %lu rejected, %lu checkpoint saves (%lu failed), %lu objects journaled, queue peak %zu "
                "bytes, %lu waits for room",
                ps->acked, ps->batches, tracker.stats.recovered, tracker.stats.stale, ps->retries, ps->rejected,
                ps->saves, ps->save_failures, ps->journaled, queue.peak_bytes, queue.waits);
    }
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
out:
    ww_pipeline_free(pl);
    ww_sink_close(sink);
    ww_store_close(store);
    ww_tracker_free(&tracker);
    ww_queue_destroy(&queue);
    ww_info("main", "stopped%s", exit_code ? " after an error" : "");
    free(ws);
    free(store_url);
    ww_kubeconfig_free(kc);
    ww_config_free(&cfg);
    curl_global_cleanup();
    return exit_code;
}
