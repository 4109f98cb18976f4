/* chardev.c: see chardev.h. */
#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

void chardev_init_null(struct chardev *cd)
{
    cd->fd = -1;
    cd->owns_fd = 0;
}

void chardev_init_fd(struct chardev *cd, int fd)
{
    cd->fd = fd;
    cd->owns_fd = 0;
}

int chardev_open_file(struct chardev *cd, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    cd->fd = fd;
    cd->owns_fd = 1;
    return 0;
}

void chardev_write(struct chardev *cd, const void *buf, size_t n)
{
    const char *p = buf;
    while (cd->fd >= 0 && n > 0) {
        ssize_t w = write(cd->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            /* Reader gone (EPIPE) or disk full: like QEMU, the guest keeps
             * running and its output is dropped. */
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void chardev_close(struct chardev *cd)
{
    if (cd->owns_fd && cd->fd >= 0)
        close(cd->fd);
    cd->fd = -1;
    cd->owns_fd = 0;
}
