/* io.h - writing a whole buffer to a file descriptor. */
#ifndef WW_IO_H
#define WW_IO_H

#include <stddef.h>
#include "core/rc.h"

/* Writes all n bytes, going on after short writes and EINTR. WW_EIO with
 * errno set on failure. */
ww_rc ww_write_all(int fd, const void *p, size_t n);

#endif
