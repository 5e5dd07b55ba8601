/* io.h - writing a whole buffer to a file descriptor; cutting a torn last
 * line off an append-only text file. */
#ifndef WW_IO_H
#define WW_IO_H

#include <stddef.h>
#include <sys/types.h>
#include "core/rc.h"

/* Writes all n bytes, going on after short writes and EINTR. WW_EIO with
 * errno set on failure. */
ww_rc ww_write_all(int fd, const void *p, size_t n);

/* For a file of newline-terminated lines that a crash may have left in the
 * middle of an append: cuts off the bytes after the last '\n' and fsyncs.
 * fd must be open for reading and writing. *cut is the number of bytes cut
 * (0 when the file ends with '\n', is empty or is no regular file).
 * WW_EIO with errno set when it cannot read or truncate the file (then
 * *cut is 0) or fsync the cut (then *cut says what was cut, maybe not
 * durably). */
ww_rc ww_cut_torn_tail(int fd, off_t *cut);

#endif
