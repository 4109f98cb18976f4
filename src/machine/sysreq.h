/* sysreq.h: a device asking the machine to stop the vCPU (debug-exit,
 * reset). The device records the request; the machine's bus callback sees
 * it after the access and sets cpu->exit_request. */
#ifndef PINVM_SYSREQ_H
#define PINVM_SYSREQ_H

/* Ordered by priority: an exit beats a reset requested in the same run. */
enum sysreq_kind { SYSREQ_NONE = 0, SYSREQ_RESET = 1, SYSREQ_EXIT = 2 };

struct sysreq {
    enum sysreq_kind kind;
    int status;      /* SYSREQ_EXIT: the host exit status */
    const char *why; /* SYSREQ_RESET: which source, for messages */
};

static inline void sysreq_raise(struct sysreq *r, enum sysreq_kind kind,
                                int status, const char *why)
{
    if (kind > r->kind) {
        r->kind = kind;
        r->status = status;
        r->why = why;
    }
}

#endif
