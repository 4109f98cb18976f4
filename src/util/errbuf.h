/* errbuf.h: one-line error messages into a caller's buffer, for code that
 * reports host-side input errors (command line, images, snapshots) to its
 * caller instead of printing them. */
#ifndef PINVM_ERRBUF_H
#define PINVM_ERRBUF_H

#include <stddef.h>

/* Format into err[0..errlen) and return -1, so a check reads
 * `return errbuf_fail(err, errlen, "...", ...);`. */
__attribute__((format(printf, 3, 4)))
int errbuf_fail(char *err, size_t errlen, const char *fmt, ...);

#endif
