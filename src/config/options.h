/* options.h - every setting of workflow-watcher, from one table.
 *
 * Each option is declared once (name, seed alias, type, default,
 * environment variable, help) in options.c; flags, environment variables
 * and --help all come from that table, and all defaults are applied in one
 * place (nginx's directive tables). */
#ifndef WW_OPTIONS_H
#define WW_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#define WW_MAX_NAMESPACES 64

typedef struct {
    char *kubeconfig;
    char *context;
    char *namespaces[WW_MAX_NAMESPACES];
    size_t n_namespaces;
    int list_from_flags; /* --namespace was given: the environment's list is replaced */
    char *selector;
    char *field_selector;
    char *resource;
    char *resource_version;
    char *log_level;
    char *log_format;
    char *list_mode;
    long page_size;
    long max_event_bytes;
    long max_page_bytes;
    long watch_timeout_min;
    long watch_timeout_max;
    char *sink;
    char *checkpoint;
    char *redis_address;
    char *redis_password;
    long checkpoint_interval;
    long checkpoint_changes;
    int reset_checkpoint;
    char *initial_state;
    long queue_bytes;
    long batch_messages;
    long batch_bytes;
    long batch_linger_ms;
    char *dead_letter;
    char *on_reject;
    long grace_period;
    int help;
    int version;
} ww_config;

/* Parses argv (after defaults and WORKFLOW_WATCHER_* environment
 * variables). Returns 0, or 2 with a message on stderr for a usage error. */
int ww_config_parse(ww_config *c, int argc, char **argv);
void ww_config_free(ww_config *c);
void ww_config_usage(FILE *out);

#endif
