/* rc.h - the one result code enum of workflow-watcher.
 *
 * Append only: values are logged and may be compared by tests. WW_OK is 0 so
 * `if (rc) goto out;` reads naturally. */
#ifndef WW_RC_H
#define WW_RC_H

#include <stdatomic.h>

typedef enum {
    WW_OK = 0,
    WW_AGAIN,     /* back-pressure: try the same thing later, not an error */
    WW_RETRY,     /* transient failure: back off and retry */
    WW_EINVAL,    /* bad input (flag, kubeconfig, server reply) */
    WW_ENOMEM,    /* allocation failed */
    WW_ETOOBIG,   /* a capped buffer would grow past its cap */
    WW_EIO,       /* file or socket error */
    WW_EHTTP,     /* the server answered with an HTTP error */
    WW_EAUTH,     /* 401/403, or credentials could not be obtained */
    WW_EGONE,     /* 410: the resourceVersion is too old, relist */
    WW_ESTOP,     /* shutdown was requested */
    WW_EPROTO,    /* the stream broke its framing or JSON rules */
    WW_ECONFLICT, /* another writer changed what we were about to replace */
    WW_ENOENT,    /* nothing stored yet */
    WW_EABORT,    /* a callback asked to abort the transfer (not an error of its own) */
    WW_EEXIST,    /* the name is taken */
    WW_EWATCH,    /* the server ended a watch with an ERROR event (its code says more) */
} ww_rc;

const char *ww_strerror(ww_rc rc);

/* The stop flag shared by the signal handler, the reflector threads and the
 * delivery thread (lock-free, so a signal handler may set it). */
typedef atomic_int ww_stop_flag;

#endif
