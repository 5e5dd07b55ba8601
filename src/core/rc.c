/* rc.c - text for each ww_rc. */
#include "core/rc.h"

const char *ww_strerror(ww_rc rc) {
    switch (rc) {
    case WW_OK: return "ok";
    case WW_AGAIN: return "try again";
    case WW_RETRY: return "transient failure";
    case WW_EINVAL: return "invalid input";
    case WW_ENOMEM: return "out of memory";
    case WW_ETOOBIG: return "too large";
    case WW_EIO: return "i/o error";
    case WW_EHTTP: return "HTTP error";
    case WW_EAUTH: return "authentication or authorization failed";
    case WW_EGONE: return "resource version too old";
    case WW_ESTOP: return "stopping";
    case WW_EPROTO: return "protocol error";
    case WW_ECONFLICT: return "conflict with another writer";
    case WW_ENOENT: return "not found";
    case WW_EABORT: return "aborted";
    case WW_EEXIST: return "already exists";
    case WW_EWATCH: return "the watch ended with an ERROR event";
    }
    return "unknown error";
}
