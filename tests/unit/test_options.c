/* test_options.c - flags, seed aliases, environment variables, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config/options.h"

extern char **environ;

static int parse(ww_config *c, char **argv) {
    int argc = 0;
    while (argv[argc]) argc++;
    return ww_config_parse(c, argc, argv);
}

#define PARSE(c, ...) parse((c), (char *[]){"workflow-watcher", __VA_ARGS__, NULL})

/* Removes every WORKFLOW_WATCHER_* variable so the host cannot leak in. */
static int clean_env(void **state) {
    (void)state;
    for (;;) {
        char name[256] = "";
        for (char **e = environ; e && *e; e++)
            if (strncmp(*e, "WORKFLOW_WATCHER_", 17) == 0) {
                const char *eq = strchr(*e, '=');
                size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
                if (n >= sizeof name) n = sizeof name - 1;
                memcpy(name, *e, n);
                name[n] = '\0';
                break;
            }
        if (!name[0]) break;
        unsetenv(name);
    }
    return 0;
}

static void test_defaults(void **state) {
    (void)state;
    ww_config c;
    char *argv[] = {"workflow-watcher", NULL};
    assert_int_equal(ww_config_parse(&c, 1, argv), 0);
    assert_null(c.kubeconfig);
    assert_null(c.context);
    assert_int_equal(c.n_namespaces, 0);
    assert_null(c.selector);
    assert_null(c.field_selector);
    assert_string_equal(c.resource, "workflows");
    assert_null(c.resource_version);
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.log_format, "json");
    assert_string_equal(c.list_mode, "auto");
    assert_int_equal(c.page_size, 100);
    assert_int_equal(c.max_event_bytes, 16777216);
    assert_int_equal(c.max_page_bytes, 536870912);
    assert_int_equal(c.watch_timeout_min, 300);
    assert_int_equal(c.watch_timeout_max, 600);
    assert_int_equal(c.help, 0);
    assert_int_equal(c.version, 0);
    ww_config_free(&c);
    /* argc 0 as well */
    assert_int_equal(ww_config_parse(&c, 0, argv), 0);
    assert_string_equal(c.resource, "workflows");
    ww_config_free(&c);
}

static void test_two_dash_and_seed_forms(void **state) {
    (void)state;
    ww_config c;
    assert_int_equal(PARSE(&c, "--kubeconfig", "x"), 0);
    assert_string_equal(c.kubeconfig, "x");
    ww_config_free(&c);

    assert_int_equal(PARSE(&c, "-kubeconfig", "/k/config"), 0);
    assert_string_equal(c.kubeconfig, "/k/config");
    ww_config_free(&c);

    assert_int_equal(PARSE(&c, "-resourceVersion", "123"), 0);
    assert_string_equal(c.resource_version, "123");
    ww_config_free(&c);

    assert_int_equal(PARSE(&c, "--resourceVersion", "124"), 0);
    assert_string_equal(c.resource_version, "124");
    ww_config_free(&c);

    assert_int_equal(PARSE(&c, "--resource-version", "125"), 0);
    assert_string_equal(c.resource_version, "125");
    ww_config_free(&c);

    assert_int_equal(PARSE(&c, "-logLevel", "debug"), 0);
    assert_string_equal(c.log_level, "debug");
    ww_config_free(&c);

    assert_int_equal(PARSE(&c, "--log-level=warn", "--context", "prod"), 0);
    assert_string_equal(c.log_level, "warn");
    assert_string_equal(c.context, "prod");
    ww_config_free(&c);
}

static void test_equals_form(void **state) {
    (void)state;
    ww_config c;
    assert_int_equal(PARSE(&c, "--selector=app=etl,tier!=dev", "--page-size=500", "--kubeconfig=", "-context=c1"), 0);
    assert_string_equal(c.selector, "app=etl,tier!=dev");
    assert_int_equal(c.page_size, 500);
    assert_string_equal(c.kubeconfig, "");
    assert_string_equal(c.context, "c1");
    ww_config_free(&c);
    /* a value that itself starts with a dash is taken as the value */
    assert_int_equal(PARSE(&c, "--field-selector", "-x"), 0);
    assert_string_equal(c.field_selector, "-x");
    ww_config_free(&c);
}

static void test_repeated(void **state) {
    (void)state;
    ww_config c;
    assert_int_equal(PARSE(&c, "--namespace", "a", "--namespace=b", "-namespace", "c"), 0);
    assert_int_equal(c.n_namespaces, 3);
    assert_string_equal(c.namespaces[0], "a");
    assert_string_equal(c.namespaces[1], "b");
    assert_string_equal(c.namespaces[2], "c");
    ww_config_free(&c);
    /* a repeated single-valued option: the last wins (and nothing leaks) */
    assert_int_equal(PARSE(&c, "--kubeconfig", "one", "--kubeconfig", "two"), 0);
    assert_string_equal(c.kubeconfig, "two");
    ww_config_free(&c);
    /* an empty namespace is an error */
    assert_int_equal(PARSE(&c, "--namespace="), 2);
    ww_config_free(&c);
}

/* --namespace replaces the environment's list; a namespace named twice is
 * one stream. */
static void test_namespaces_env_and_flags(void **state) {
    (void)state;
    ww_config c;
    assert_int_equal(setenv("WORKFLOW_WATCHER_NAMESPACE", "argo", 1), 0);
    assert_int_equal(PARSE(&c, "--namespace", "argo"), 0);
    assert_int_equal(c.n_namespaces, 1);
    assert_string_equal(c.namespaces[0], "argo");
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--namespace", "ci"), 0);
    assert_int_equal(c.n_namespaces, 1);
    assert_string_equal(c.namespaces[0], "ci");
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--log-level", "info"), 0);
    assert_int_equal(c.n_namespaces, 1);
    assert_string_equal(c.namespaces[0], "argo");
    ww_config_free(&c);
    unsetenv("WORKFLOW_WATCHER_NAMESPACE");
    assert_int_equal(PARSE(&c, "--namespace", "a", "--namespace", "b", "--namespace", "a"), 0);
    assert_int_equal(c.n_namespaces, 2);
    assert_string_equal(c.namespaces[0], "a");
    assert_string_equal(c.namespaces[1], "b");
    ww_config_free(&c);
}

static void test_too_many_namespaces(void **state) {
    (void)state;
    char *argv[2 * WW_MAX_NAMESPACES + 4];
    char vals[WW_MAX_NAMESPACES + 1][16];
    int argc = 0;
    argv[argc++] = "workflow-watcher";
    for (int i = 0; i < WW_MAX_NAMESPACES; i++) {
        snprintf(vals[i], sizeof vals[i], "ns%d", i);
        argv[argc++] = "--namespace";
        argv[argc++] = vals[i];
    }
    argv[argc] = NULL;
    ww_config c;
    assert_int_equal(ww_config_parse(&c, argc, argv), 0);
    assert_int_equal(c.n_namespaces, WW_MAX_NAMESPACES);
    assert_string_equal(c.namespaces[WW_MAX_NAMESPACES - 1], "ns63");
    ww_config_free(&c);
    argv[argc++] = "--namespace";
    argv[argc++] = "one-too-many";
    argv[argc] = NULL;
    assert_int_equal(ww_config_parse(&c, argc, argv), 2);
    ww_config_free(&c);
}

static void test_usage_errors(void **state) {
    (void)state;
    ww_config c;
    assert_int_equal(PARSE(&c, "--nope"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--nope=1"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--kube"), 2); /* no prefix matching */
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "-"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "positional"), 2);
    ww_config_free(&c);
    /* missing value */
    assert_int_equal(PARSE(&c, "--kubeconfig"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--selector", "a=b", "--context"), 2);
    ww_config_free(&c);
    /* out of range / not a number */
    assert_int_equal(PARSE(&c, "--page-size", "0"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--page-size", "100001"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--page-size", "-5"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--page-size", "abc"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--page-size", "10x"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--page-size="), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--page-size", "99999999999999999999999"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--max-event-bytes", "4095"), 2);
    ww_config_free(&c);
    /* the bounds themselves are fine */
    assert_int_equal(PARSE(&c, "--page-size", "1"), 0);
    assert_int_equal(c.page_size, 1);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--page-size", "100000"), 0);
    assert_int_equal(c.page_size, 100000);
    ww_config_free(&c);
    /* list mode */
    assert_int_equal(PARSE(&c, "--list-mode", "bogus"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--list-mode", "stream"), 0);
    assert_string_equal(c.list_mode, "stream");
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--list-mode=list"), 0);
    assert_string_equal(c.list_mode, "list");
    ww_config_free(&c);
    /* min must be below max */
    assert_int_equal(PARSE(&c, "--watch-timeout-min", "600"), 2);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--watch-timeout-min", "10", "--watch-timeout-max", "20"), 0);
    assert_int_equal(c.watch_timeout_min, 10);
    assert_int_equal(c.watch_timeout_max, 20);
    ww_config_free(&c);
}

static void test_bools(void **state) {
    (void)state;
    ww_config c;
    assert_int_equal(PARSE(&c, "--help"), 0);
    assert_int_equal(c.help, 1);
    assert_int_equal(c.version, 0);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "-help"), 0);
    assert_int_equal(c.help, 1);
    ww_config_free(&c);
    /* a bool takes no separate value: the next word is its own argument */
    assert_int_equal(PARSE(&c, "--version", "--kubeconfig", "k"), 0);
    assert_int_equal(c.version, 1);
    assert_string_equal(c.kubeconfig, "k");
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--help=false"), 0);
    assert_int_equal(c.help, 0);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--help=1"), 0);
    assert_int_equal(c.help, 1);
    ww_config_free(&c);
    assert_int_equal(PARSE(&c, "--help=maybe"), 2);
    ww_config_free(&c);
}

static void test_env(void **state) {
    (void)state;
    ww_config c;
    char *argv[] = {"workflow-watcher", NULL};
    assert_int_equal(setenv("WORKFLOW_WATCHER_SELECTOR", "app=etl", 1), 0);
    assert_int_equal(ww_config_parse(&c, 1, argv), 0);
    assert_string_equal(c.selector, "app=etl");
    ww_config_free(&c);
    /* a flag beats the environment */
    assert_int_equal(PARSE(&c, "--selector", "app=web"), 0);
    assert_string_equal(c.selector, "app=web");
    ww_config_free(&c);
    unsetenv("WORKFLOW_WATCHER_SELECTOR");
    assert_int_equal(ww_config_parse(&c, 1, argv), 0);
    assert_null(c.selector);
    ww_config_free(&c);

    /* dashes become underscores; numbers are checked like flags */
    setenv("WORKFLOW_WATCHER_PAGE_SIZE", "250", 1);
    setenv("WORKFLOW_WATCHER_FIELD_SELECTOR", "metadata.name=x", 1);
    assert_int_equal(ww_config_parse(&c, 1, argv), 0);
    assert_int_equal(c.page_size, 250);
    assert_string_equal(c.field_selector, "metadata.name=x");
    ww_config_free(&c);
    setenv("WORKFLOW_WATCHER_PAGE_SIZE", "0", 1);
    assert_int_equal(ww_config_parse(&c, 1, argv), 2);
    ww_config_free(&c);
    unsetenv("WORKFLOW_WATCHER_PAGE_SIZE");
    unsetenv("WORKFLOW_WATCHER_FIELD_SELECTOR");

    /* booleans are not read from the environment */
    setenv("WORKFLOW_WATCHER_HELP", "true", 1);
    assert_int_equal(ww_config_parse(&c, 1, argv), 0);
    assert_int_equal(c.help, 0);
    ww_config_free(&c);
    unsetenv("WORKFLOW_WATCHER_HELP");

}

static void test_usage_text(void **state) {
    (void)state;
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    assert_non_null(f);
    ww_config_usage(f);
    fclose(f);
    assert_non_null(strstr(text, "--kubeconfig FILE"));
    assert_non_null(strstr(text, "(seed flag: -resourceVersion)"));
    assert_non_null(strstr(text, "(env WORKFLOW_WATCHER_FIELD_SELECTOR)"));
    assert_non_null(strstr(text, "[default: 100]"));
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_two_dash_and_seed_forms),
        cmocka_unit_test(test_equals_form),
        cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_too_many_namespaces),
        cmocka_unit_test(test_namespaces_env_and_flags),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_bools),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_usage_text),
    };
    return cmocka_run_group_tests(tests, clean_env, NULL);
}
