/* options.c - the option table, the flag parser and --help. */
#include "config/options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STR, T_LONG, T_BOOL, T_LIST } opt_type;

typedef struct {
    const char *name;  /* --name */
    const char *alias; /* the seed's -name, also accepted with two dashes */
    opt_type type;
    size_t off;
    const char *def;
    const char *metavar;
    const char *help;
    long min, max; /* for T_LONG */
} option;

#define OFF(f) offsetof(ww_config, f)

static const option options[] = {
    {"kubeconfig", NULL, T_STR, OFF(kubeconfig), NULL, "FILE",
     "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account)", 0, 0},
    {"context", NULL, T_STR, OFF(context), NULL, "NAME", "kubeconfig context (default: current-context)", 0, 0},
    {"namespace", NULL, T_LIST, OFF(namespaces), NULL, "NS",
     "watch only this namespace; repeat for several (default: all namespaces)", 0, 0},
    {"selector", NULL, T_STR, OFF(selector), NULL, "LABELS",
     "label selector sent to the server, e.g. app=etl,tier!=dev", 0, 0},
    {"field-selector", NULL, T_STR, OFF(field_selector), NULL, "FIELDS",
     "field selector sent to the server, e.g. metadata.name=nightly", 0, 0},
    {"resource", NULL, T_STR, OFF(resource), "workflows", "RES",
     "what to watch: workflows, cronworkflows, workflowtemplates, clusterworkflowtemplates, or GROUP/VERSION/RESOURCE "
     "(VERSION/RESOURCE for the core group)",
     0, 0},
    {"resource-version", "resourceVersion", T_STR, OFF(resource_version), NULL, "RV",
     "start watching from this resourceVersion instead of listing first", 0, 0},
    {"log-level", "logLevel", T_STR, OFF(log_level), "info", "LEVEL", "debug, info, warn or error", 0, 0},
    {"log-format", NULL, T_STR, OFF(log_format), "json", "FMT", "json (one object per line) or text", 0, 0},
    {"list-mode", NULL, T_STR, OFF(list_mode), "auto", "MODE",
     "how to read the initial state: stream (sendInitialEvents), list (paged LIST) or auto (stream, falling back to "
     "list)",
     0, 0},
    {"page-size", NULL, T_LONG, OFF(page_size), "100", "N", "objects per LIST page", 1, 100000},
    {"max-event-bytes", NULL, T_LONG, OFF(max_event_bytes), "16777216", "BYTES",
     "largest watch event accepted; a longer one is an error that reconnects", 4096, 1L << 30},
    {"max-page-bytes", NULL, T_LONG, OFF(max_page_bytes), "536870912", "BYTES", "largest LIST page accepted", 4096,
     1L << 34},
    {"watch-timeout-min", NULL, T_LONG, OFF(watch_timeout_min), "300", "SECONDS",
     "each watch asks the server to end it after a random time in [min,max)", 1, 86400},
    {"watch-timeout-max", NULL, T_LONG, OFF(watch_timeout_max), "600", "SECONDS", "see --watch-timeout-min", 2, 86400},
    {"sink", NULL, T_STR, OFF(sink), "stdout", "URL",
     "where messages go: stdout, or file://PATH[?max-message-bytes=N] (appended, fsync per batch)", 0, 0},
    {"checkpoint", NULL, T_STR, OFF(checkpoint), NULL, "URL",
     "where the checkpoint (resourceVersion and index) is kept: file://PATH, configmap://NAMESPACE/NAME, "
     "redis://[:PASSWORD@]HOST:PORT/KEY or none (default: file://$XDG_STATE_HOME/workflow-watcher/checkpoint, "
     "else ./workflow-watcher.checkpoint)",
     0, 0},
    {"redis-address", "redis-address", T_STR, OFF(redis_address), NULL, "HOST:PORT",
     "keep the checkpoint in Redis at HOST:PORT under the key workflow-watcher (same as --checkpoint "
     "redis://HOST:PORT/workflow-watcher)",
     0, 0},
    {"redis-password", "redis-password", T_STR, OFF(redis_password), NULL, "PASSWORD",
     "password for the Redis checkpoint store (better set by the environment variable)", 0, 0},
    {"checkpoint-interval", NULL, T_LONG, OFF(checkpoint_interval), "5", "SECONDS",
     "save the checkpoint at most this often while changes are acknowledged", 1, 86400},
    {"checkpoint-changes", NULL, T_LONG, OFF(checkpoint_changes), "1000", "N",
     "also save the checkpoint after this many acknowledged changes", 1, 100000000},
    {"reset-checkpoint", NULL, T_BOOL, OFF(reset_checkpoint), "false", NULL,
     "ignore a checkpoint that cannot be used (damaged, or written for another resource or selector) and start "
     "afresh",
     0, 0},
    {"initial-state", NULL, T_STR, OFF(initial_state), "emit", "MODE",
     "first start without a checkpoint: emit (ADDED for every existing object) or skip (record them, publish only "
     "later changes)",
     0, 0},
    {"queue-bytes", NULL, T_LONG, OFF(queue_bytes), "67108864", "BYTES",
     "bound of the queue between the watch and the sink; when full the watch stops reading", 65536, 1L << 40},
    {"batch-messages", NULL, T_LONG, OFF(batch_messages), "100", "N", "publish at most this many messages at once", 1,
     100000},
    {"batch-bytes", NULL, T_LONG, OFF(batch_bytes), "1048576", "BYTES", "publish once a batch holds this many bytes", 1,
     1L << 32},
    {"batch-linger-ms", NULL, T_LONG, OFF(batch_linger_ms), "20", "MS",
     "wait this long for more messages before publishing a batch that is not full", 0, 60000},
    {"dead-letter", NULL, T_STR, OFF(dead_letter), NULL, "FILE",
     "append messages the sink rejects for good to FILE (one JSON line each, with the reason)", 0, 0},
    {"on-reject", NULL, T_STR, OFF(on_reject), NULL, "WHAT",
     "what to do with a message the sink rejects for good: dead-letter (needs --dead-letter) or stop [default: "
     "dead-letter with --dead-letter, else stop]",
     0, 0},
    {"grace-period", NULL, T_LONG, OFF(grace_period), "10", "SECONDS",
     "on SIGTERM/SIGINT, time to deliver what is queued before exiting", 0, 3600},
    {"help", NULL, T_BOOL, OFF(help), "false", NULL, "show this help and exit", 0, 0},
    {"version", NULL, T_BOOL, OFF(version), "false", NULL, "show the version and exit", 0, 0},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

static int set(ww_config *c, const option *o, const char *val, const char *origin) {
    void *p = (char *)c + o->off;
    switch (o->type) {
    case T_STR: {
        char **s = p;
        free(*s);
        *s = strdup(val);
        return 0;
    }
    case T_LIST: {
        if (!*val) {
            fprintf(stderr, "workflow-watcher: %s: empty value\n", origin);
            return 2;
        }
        /* The flags replace the environment's list rather than add to it. */
        if (!strncmp(origin, "--", 2) && !c->list_from_flags) {
            for (size_t i = 0; i < c->n_namespaces; i++) free(c->namespaces[i]);
            c->n_namespaces = 0;
            c->list_from_flags = 1;
        }
        /* A namespace named twice is watched once (two streams of one
         * namespace would publish everything twice). */
        for (size_t i = 0; i < c->n_namespaces; i++)
            if (!strcmp(c->namespaces[i], val)) return 0;
        if (c->n_namespaces == WW_MAX_NAMESPACES) {
            fprintf(stderr, "workflow-watcher: %s: at most %d values\n", origin, WW_MAX_NAMESPACES);
            return 2;
        }
        c->namespaces[c->n_namespaces++] = strdup(val);
        return 0;
    }
    case T_LONG: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end || v < o->min || v > o->max) {
            fprintf(stderr, "workflow-watcher: %s: \"%s\" is not a whole number in [%ld, %ld]\n", origin, val, o->min,
                    o->max);
            return 2;
        }
        *(long *)p = v;
        return 0;
    }
    case T_BOOL:
        if (!strcmp(val, "true") || !strcmp(val, "1"))
            *(int *)p = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "0"))
            *(int *)p = 0;
        else {
            fprintf(stderr, "workflow-watcher: %s: \"%s\" is not true or false\n", origin, val);
            return 2;
        }
        return 0;
    }
    return 2;
}

static const option *find(const char *name, size_t n) {
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option *o = &options[i];
        if ((strlen(o->name) == n && !strncmp(o->name, name, n)) ||
            (o->alias && strlen(o->alias) == n && !strncmp(o->alias, name, n)))
            return o;
    }
    return NULL;
}

static void env_name(const option *o, char *out, size_t n) {
    size_t j = snprintf(out, n, "WORKFLOW_WATCHER_");
    for (const char *s = o->name; *s && j + 1 < n; s++) out[j++] = *s == '-' ? '_' : (char)toupper((unsigned char)*s);
    out[j] = 0;
}

int ww_config_parse(ww_config *c, int argc, char **argv) {
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].def && set(c, &options[i], options[i].def, options[i].name)) return 2;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        char en[64];
        env_name(&options[i], en, sizeof en);
        const char *v = getenv(en);
        if (v && options[i].type != T_BOOL && set(c, &options[i], v, en)) return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            fprintf(stderr, "workflow-watcher: unexpected argument \"%s\" (options start with --); see --help\n", a);
            return 2;
        }
        const char *name = a + (a[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const option *o = find(name, nl);
        if (!o) {
            fprintf(stderr, "workflow-watcher: unknown option \"%.*s\"; see --help\n", (int)(nl + (size_t)(name - a)),
                    a);
            return 2;
        }
        char origin[80];
        snprintf(origin, sizeof origin, "--%s", o->name);
        const char *val;
        if (eq)
            val = eq + 1;
        else if (o->type == T_BOOL)
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            fprintf(stderr, "workflow-watcher: %s needs a value (%s)\n", origin, o->metavar ? o->metavar : "VALUE");
            return 2;
        }
        int rc = set(c, o, val, origin);
        if (rc) return rc;
    }
    if (c->watch_timeout_min >= c->watch_timeout_max) {
        fprintf(stderr, "workflow-watcher: --watch-timeout-min (%ld) must be less than --watch-timeout-max (%ld)\n",
                c->watch_timeout_min, c->watch_timeout_max);
        return 2;
    }
    if (strcmp(c->list_mode, "auto") && strcmp(c->list_mode, "stream") && strcmp(c->list_mode, "list")) {
        fprintf(stderr, "workflow-watcher: --list-mode: \"%s\" is not auto, stream or list\n", c->list_mode);
        return 2;
    }
    if (strcmp(c->initial_state, "emit") && strcmp(c->initial_state, "skip")) {
        fprintf(stderr, "workflow-watcher: --initial-state: \"%s\" is not emit or skip\n", c->initial_state);
        return 2;
    }
    if (c->on_reject && strcmp(c->on_reject, "stop") && strcmp(c->on_reject, "dead-letter")) {
        fprintf(stderr, "workflow-watcher: --on-reject: \"%s\" is not dead-letter or stop\n", c->on_reject);
        return 2;
    }
    if (c->on_reject && !strcmp(c->on_reject, "dead-letter") && !c->dead_letter) {
        fprintf(stderr, "workflow-watcher: --on-reject=dead-letter needs --dead-letter FILE\n");
        return 2;
    }
    if (c->redis_address && c->checkpoint) {
        fprintf(stderr, "workflow-watcher: give either --checkpoint or --redis-address, not both\n");
        return 2;
    }
    return 0;
}

void ww_config_free(ww_config *c) {
    for (size_t i = 0; i < N_OPTIONS; i++) {
        void *p = (char *)c + options[i].off;
        if (options[i].type == T_STR) free(*(char **)p);
    }
    for (size_t i = 0; i < c->n_namespaces; i++) free(c->namespaces[i]);
}

void ww_config_usage(FILE *out) {
    fprintf(out, "Usage: workflow-watcher [OPTIONS]\n\n"
                 "Watches Argo Workflows on a Kubernetes API server and publishes every change as one JSON message\n"
                 "({\"type\":...,\"object\":...,\"id\":...}, the API server's watch event) to stdout or a file,\n"
                 "with a checkpoint that advances only after the sink acknowledged. Logs go to stderr.\n\n"
                 "Options (also --name=value; the seed's one-dash forms such as -kubeconfig work too;\n"
                 "each can be set by the environment variable shown):\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const option *o = &options[i];
        char head[128], en[64];
        snprintf(head, sizeof head, "--%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        fprintf(out, "  %s\n      %s", head, o->help);
        if (o->def && o->type != T_BOOL) fprintf(out, " [default: %s]", o->def);
        if (o->alias) fprintf(out, " (seed flag: -%s)", o->alias);
        if (o->type != T_BOOL) {
            env_name(o, en, sizeof en);
            fprintf(out, " (env %s)", en);
        }
        fputc('\n', out);
    }
    fprintf(out, "\nExit status: 0 after SIGINT/SIGTERM, 1 on a fatal runtime error (such as 403 Forbidden),\n"
                 "2 on a usage or configuration error.\n");
}
