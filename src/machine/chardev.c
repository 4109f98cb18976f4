/* chardev.c: see chardev.h. */
#include "chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

void chardev_init_null(struct chardev *cd)
{
    cd->fd = -1;
    cd->owns_fd = 0;
    cd->in_fd = -1;
}

void chardev_init_fd(struct chardev *cd, int fd)
{
    cd->fd = fd;
    cd->owns_fd = 0;
    cd->in_fd = -1;
}

int chardev_open_file(struct chardev *cd, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    cd->fd = fd;
    cd->owns_fd = 1;
    cd->in_fd = -1;
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

size_t chardev_read_ready(struct chardev *cd, void *buf, size_t n)
{
    struct pollfd p = {.fd = cd->in_fd, .events = POLLIN};
    if (cd->in_fd < 0 || n == 0)
        return 0;
    if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
        return 0;
    ssize_t r = read(cd->in_fd, buf, n);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (r <= 0) {
        cd->in_fd = -1; /* EOF (e.g. </dev/null): stop polling */
        return 0;
    }
    return (size_t)r;
}

void chardev_close(struct chardev *cd)
{
    if (cd->owns_fd && cd->fd >= 0)
        close(cd->fd);
    cd->fd = -1;
    cd->owns_fd = 0;
    cd->in_fd = -1;
}
