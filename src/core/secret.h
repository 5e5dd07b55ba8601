/* secret.h - freeing memory that held a secret (token, key, password).
 *
 * The bytes are overwritten through a volatile pointer first, so a later
 * heap dump or reuse of the block does not reveal them. */
#ifndef WW_SECRET_H
#define WW_SECRET_H

#include <stddef.h>

/* Overwrites n bytes at p with zeros (not optimised away). */
void ww_secret_wipe(void *p, size_t n);
/* Wipes n bytes at p and frees p. p may be NULL. */
void ww_secret_free(void *p, size_t n);
/* Wipes a NUL-terminated string and frees it. s may be NULL. */
void ww_secret_free_str(char *s);

#endif
