/*
 * vhost-net: the Linux kernel moves a virtio-net device's receive and
 * transmit queues between guest memory and a tap, without khyve in the data
 * path. khyve keeps the device itself (PCI, features, config space, control
 * queue) and tells /dev/vhost-net where the rings are, which eventfd the
 * guest kicks (the queue's ioeventfd) and which eventfd to signal when a
 * queue has used buffers.
 *
 * The guest is no more trusted here than elsewhere: the memory table given to
 * the kernel covers guest RAM only, the kernel checks every descriptor
 * against it, and ring addresses are checked before they are handed over.
 */
#ifndef KHYVE_VHOST_NET_H
#define KHYVE_VHOST_NET_H

#include <stdint.h>

struct vmctx;
struct vhost_net;

#define VHOST_NET_NQUEUES 2 /* 0 receive, 1 transmit: virtio-net's first pair */

/* One queue as the guest set it up, and the eventfds that drive it. */
struct vhost_net_ring {
	unsigned num;
	/* Where khyve maps the rings: checked against guest RAM by vq_enable(). */
	void *desc, *avail, *used;
	uint16_t last_avail;    /* where the kernel starts reading the avail ring */
	int kick_fd;            /* the guest's notifications (ioeventfd) */
	int call_fd;            /* the kernel signals used buffers here */
};

/*
 * Open /dev/vhost-net and become its owner. NULL with errno set when the
 * kernel has none (module not loaded: ENOENT) or we may not use it (EACCES).
 */
struct vhost_net *vhost_net_open(void);
void vhost_net_close(struct vhost_net *vn);

/* The virtio ring features (transport bits) the kernel implements. */
uint64_t vhost_net_features(const struct vhost_net *vn);

/*
 * Hand both queues and the tap to the kernel. features: what the guest
 * negotiated (only ring-level bits are passed on). Returns 0, or -1 with
 * errno (EFAULT: a ring outside guest RAM); nothing is left running then.
 */
int vhost_net_start(struct vhost_net *vn, struct vmctx *ctx, uint64_t features,
		    const struct vhost_net_ring rings[VHOST_NET_NQUEUES], int tap_fd);

/* Take the queues back (device reset): the kernel stops touching guest memory. */
void vhost_net_stop(struct vhost_net *vn);

#endif
