/* device.h: what every device provides from its first day (see
 * docs/architecture.md): reset, save and load. The machine keeps a list
 * of these and drives them together (reset, snapshots). */
#ifndef PINVM_DEVICE_H
#define PINVM_DEVICE_H

struct vmstate;

struct device_ops {
    const char *name;
    void (*reset)(void *dev);
    void (*save)(const void *dev, struct vmstate *s);
    /* Returns 0, or -1 if the state is truncated or out of range (the
     * device is then left in its reset state). */
    int (*load)(void *dev, struct vmstate *s);
};

#endif
