/* irq.h: an interrupt line is a tiny object (TinyEMU style): whoever
 * raises it does not know who listens. */
#ifndef PINVM_IRQ_H
#define PINVM_IRQ_H

struct irq_line {
    void (*set)(void *opaque, int n, int level);
    void *opaque;
    int n;
};

static inline void irq_set(const struct irq_line *l, int level)
{
    if (l && l->set)
        l->set(l->opaque, l->n, level);
}

#endif
