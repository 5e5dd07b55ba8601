/* log.c - JSON-lines or text logger on stderr, safe to call from any thread
 * (one write(2) per line, so lines never interleave). */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

static int g_level = WW_LOG_INFO;
static int g_text = 0;

int ww_log_set_level(const char *name) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, names[i]) == 0) {
            g_level = i;
            return 0;
        }
    if (strcasecmp(name, "warning") == 0) {
        g_level = WW_LOG_WARN;
        return 0;
    }
    return -1;
}

int ww_log_set_format(const char *name) {
    if (strcmp(name, "json") == 0)
        g_text = 0;
    else if (strcmp(name, "text") == 0)
        g_text = 1;
    else
        return -1;
    return 0;
}

int ww_log_enabled(int level) { return level >= g_level; }

void ww_log(int level, const char *component, const char *fmt, ...) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < g_level) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    ww_buf b;
    ww_buf_init(&b, 16384);
    if (g_text) {
        ww_buf_printf(&b, "%s %-5s %s: %s\n", when, names[level], component, msg);
    } else {
        ww_buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"", when, names[level],
                      component);
        ww_buf_json_escape(&b, msg, strlen(msg));
        ww_buf_puts(&b, "\"}\n");
    }
    if (b.p) {
        ssize_t off = 0;
        while ((size_t)off < b.len) {
            ssize_t w = write(STDERR_FILENO, b.p + off, b.len - (size_t)off);
            if (w <= 0) break;
            off += w;
        }
    }
    ww_buf_free(&b);
}
