/* chardev.h: where a serial port's bytes go (-serial stdio|none|file:PATH).
 * Writes are unbuffered (write(2) per call) so a reader on a pipe sees
 * each byte as the guest sends it, and nothing is lost on exit(). */
#ifndef PINVM_CHARDEV_H
#define PINVM_CHARDEV_H

#include <stddef.h>

struct chardev {
    int fd;       /* -1: output discarded */
    int owns_fd;  /* close on chardev_close */
    int in_fd;    /* input (stdin for -serial stdio), -1: none or EOF */
};

void chardev_init_null(struct chardev *cd);
void chardev_init_fd(struct chardev *cd, int fd); /* e.g. stdout */
/* Creates/truncates path. Returns 0, or -1 with errno set. */
int chardev_open_file(struct chardev *cd, const char *path);
void chardev_write(struct chardev *cd, const void *buf, size_t n);
/* Input without blocking: up to n bytes that are ready now. Returns how
 * many (0 if none); at end of input or on error, input is switched off. */
size_t chardev_read_ready(struct chardev *cd, void *buf, size_t n);
void chardev_close(struct chardev *cd);

#endif
