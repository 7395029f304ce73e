/*
 * vhost-net set-up (see vhost_net.h). The ioctl sequence follows the kernel's
 * drivers/vhost/{vhost,net}.c: owner, features, memory table, then per queue
 * size, base index, ring addresses, kick and call eventfds, and last the
 * backend (the tap), which starts the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lib/vmmapi.h"
#include "net/vhost_net.h"

/* Bits of the negotiated features that describe the rings and frames, for the kernel. */
#define RING_FEATURES                                                             \
	((1ull << 15) /* VIRTIO_NET_F_MRG_RXBUF */ | (1ull << 27) /* ANY_LAYOUT */ | \
	 (1ull << 28) /* INDIRECT_DESC */ | (1ull << 29) /* EVENT_IDX */ |           \
	 (1ull << 32) /* VERSION_1 */)

struct vhost_net {
	int fd;
	uint64_t features;
	bool running;
};

struct vhost_net *vhost_net_open(void)
{
	struct vhost_net *vn = calloc(1, sizeof(*vn));
	int saved;

	if (vn == NULL)
		return NULL;
	vn->fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
	if (vn->fd >= 0 && ioctl(vn->fd, VHOST_SET_OWNER) == 0 &&
	    ioctl(vn->fd, VHOST_GET_FEATURES, &vn->features) == 0)
		return vn;
	saved = errno;
	if (vn->fd >= 0)
		close(vn->fd);
	free(vn);
	errno = saved;
	return NULL;
}

void vhost_net_close(struct vhost_net *vn)
{
	if (vn == NULL)
		return;
	vhost_net_stop(vn);
	close(vn->fd);
	free(vn);
}

uint64_t vhost_net_features(const struct vhost_net *vn)
{
	return vn->features & RING_FEATURES;
}

/* Guest RAM as the kernel's memory table: low RAM at 0, the rest at 4 GiB. */
static int set_mem_table(struct vhost_net *vn, struct vmctx *ctx)
{
	struct {
		struct vhost_memory hdr;
		struct vhost_memory_region regions[2];
	} m = { 0 };
	unsigned n = 0;

	if (ctx->lowmem)
		m.regions[n++] = (struct vhost_memory_region){
			.guest_phys_addr = 0,
			.memory_size = ctx->lowmem,
			.userspace_addr = (uintptr_t)vm_map_gpa(ctx, 0, ctx->lowmem),
		};
	if (ctx->highmem)
		m.regions[n++] = (struct vhost_memory_region){
			.guest_phys_addr = VM_HIGHMEM_BASE,
			.memory_size = ctx->highmem,
			.userspace_addr = (uintptr_t)vm_map_gpa(ctx, VM_HIGHMEM_BASE, ctx->highmem),
		};
	m.hdr.nregions = n;
	return ioctl(vn->fd, VHOST_SET_MEM_TABLE, &m);
}

/* Give ring i to the kernel: size, start index, host addresses, eventfds, the tap. */
static int start_ring(struct vhost_net *vn, unsigned i, const struct vhost_net_ring *r,
		      int tap_fd)
{
	struct vhost_vring_state num = { .index = i, .num = r->num };
	struct vhost_vring_state base = { .index = i, .num = r->last_avail };
	struct vhost_vring_file kick = { .index = i, .fd = r->kick_fd };
	struct vhost_vring_file call = { .index = i, .fd = r->call_fd };
	struct vhost_vring_file backend = { .index = i, .fd = tap_fd };
	struct vhost_vring_addr addr = {
		.index = i,
		.desc_user_addr = (uintptr_t)r->desc,
		.avail_user_addr = (uintptr_t)r->avail,
		.used_user_addr = (uintptr_t)r->used,
	};

	if (ioctl(vn->fd, VHOST_SET_VRING_NUM, &num) < 0 ||
	    ioctl(vn->fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(vn->fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
	    ioctl(vn->fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
	    ioctl(vn->fd, VHOST_SET_VRING_CALL, &call) < 0 ||
	    ioctl(vn->fd, VHOST_NET_SET_BACKEND, &backend) < 0)
		return -1;
	return 0;
}

int vhost_net_start(struct vhost_net *vn, struct vmctx *ctx, uint64_t features,
		    const struct vhost_net_ring rings[VHOST_NET_NQUEUES], int tap_fd)
{
	uint64_t f = features & vhost_net_features(vn);

	vhost_net_stop(vn);
	if (ioctl(vn->fd, VHOST_SET_FEATURES, &f) < 0 || set_mem_table(vn, ctx) < 0)
		return -1;
	vn->running = true;
	for (unsigned i = 0; i < VHOST_NET_NQUEUES; i++) {
		if (start_ring(vn, i, &rings[i], tap_fd) < 0) {
			int saved = errno;

			vhost_net_stop(vn);
			errno = saved;
			return -1;
		}
	}
	return 0;
}

void vhost_net_stop(struct vhost_net *vn)
{
	if (!vn->running)
		return;
	for (unsigned i = 0; i < VHOST_NET_NQUEUES; i++) {
		struct vhost_vring_file backend = { .index = i, .fd = -1 };
		struct vhost_vring_file none = { .index = i, .fd = -1 };

		(void)ioctl(vn->fd, VHOST_NET_SET_BACKEND, &backend);
		/* Let go of the eventfds: the kick is khyve's to read again. */
		(void)ioctl(vn->fd, VHOST_SET_VRING_KICK, &none);
		(void)ioctl(vn->fd, VHOST_SET_VRING_CALL, &none);
	}
	vn->running = false;
}
