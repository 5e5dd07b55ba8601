/* log.h - one logging call, JSON lines (default) or text, on stderr.
 *
 * The level is checked before anything is formatted. Never pass a secret
 * (token, key, password) to these functions: they print what they get. */
#ifndef WW_LOG_H
#define WW_LOG_H

enum { WW_LOG_DEBUG, WW_LOG_INFO, WW_LOG_WARN, WW_LOG_ERROR };

/* Returns 0, or -1 if name is not one of debug, info, warn(ing), error. */
int ww_log_set_level(const char *name);
int ww_log_set_format(const char *name); /* "json" or "text" */
int ww_log_enabled(int level);
void ww_log(int level, const char *component, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define ww_debug(c, ...)                                                                                               \
    do {                                                                                                               \
        if (ww_log_enabled(WW_LOG_DEBUG)) ww_log(WW_LOG_DEBUG, c, __VA_ARGS__);                                        \
    } while (0)
#define ww_info(c, ...) ww_log(WW_LOG_INFO, c, __VA_ARGS__)
#define ww_warn(c, ...) ww_log(WW_LOG_WARN, c, __VA_ARGS__)
#define ww_error(c, ...) ww_log(WW_LOG_ERROR, c, __VA_ARGS__)

#endif
