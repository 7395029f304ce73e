/*
 * The tap backend: a Linux tap interface through /dev/net/tun.
 *
 * TUNSETIFF attaches to the interface of that name when it exists (a
 * persistent tap made by "ip tuntap add ... user $USER", often a bridge port)
 * or creates it, which needs CAP_NET_ADMIN; a created tap disappears with
 * our file descriptor, as a cloned tap does on FreeBSD. IFF_VNET_HDR with a
 * 12-byte header size makes every frame carry a virtio_net_hdr_v1 in both
 * directions, so the guest's checksum and segmentation offloads cross the
 * host untouched: no copy, no software checksum here.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "core/mevent.h"
#include "net/net_backend_impl.h"

struct tap_be {
	struct net_backend be;  /* first: the dispatcher's view */
	int fd;
	struct mevent *mev;
	char name[IFNAMSIZ];
};

static struct tap_be *to_tap(struct net_backend *be)
{
	return (struct tap_be *)be;
}

/* ---- opening ------------------------------------------------------------ */

/* open("/dev/net/tun") failed. */
static void tun_open_error(const struct netbe_args *a)
{
	if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
		netbe_err(a->ident, a->name, "/dev/net/tun: %s (load the tun module: "
			  "modprobe tun)", strerror(errno));
	else
		netbe_err(a->ident, a->name, "/dev/net/tun: %s", strerror(errno));
}

/* TUNSETIFF failed with errno; exists: the interface was there before. */
static void setiff_error(const struct netbe_args *a, bool exists)
{
	int err = errno;

	if (err == EBUSY)
		netbe_err(a->ident, a->name, "in use by another process");
	else if ((err == EPERM || err == EACCES) && !exists)
		netbe_err(a->ident, a->name, "cannot create the tap interface (needs "
			  "CAP_NET_ADMIN; create it first: ip tuntap add %s mode tap user $USER)",
			  a->name);
	else if (err == EPERM || err == EACCES)
		netbe_err(a->ident, a->name, "not allowed to attach (owned by another user; "
			  "ip tuntap add %s mode tap user $USER)", a->name);
	else if (err == EINVAL && exists)
		netbe_err(a->ident, a->name, "exists and is not a tap interface");
	else
		netbe_err(a->ident, a->name, "cannot attach the tap interface: %s", strerror(err));
}

static int attach(struct tap_be *t, const struct netbe_args *a)
{
	struct ifreq ifr;
	bool exists = if_nametoindex(a->name) != 0;
	int hdrsz = NETBE_VNET_HDR_LEN;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	memcpy(ifr.ifr_name, a->name, strlen(a->name));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		setiff_error(a, exists);
		return -1;
	}
	/* The kernel may have rewritten a name pattern such as "tap%d". */
	memcpy(t->name, ifr.ifr_name, sizeof(t->name));
	t->name[IFNAMSIZ - 1] = '\0';
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdrsz) < 0) {
		netbe_err(a->ident, a->name, "cannot set the vnet header size: %s", strerror(errno));
		return -1;
	}
	/* A kernel that ignored IFF_VNET_HDR would hand us frames without it. */
	if (ioctl(t->fd, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_VNET_HDR)) {
		netbe_err(a->ident, a->name, "the kernel does not support IFF_VNET_HDR");
		return -1;
	}
	return 0;
}

/*
 * Set IFF_UP. An unprivileged user may use a persistent tap that an admin
 * (or a bridge script) already brought up; only a tap left down is an error,
 * since the guest would see a link that never carries anything.
 */
static int bring_up(struct tap_be *t, const struct netbe_args *a)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret = 0;

	if (s < 0) {
		netbe_err(a->ident, a->name, "socket: %s", strerror(errno));
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->name, sizeof(ifr.ifr_name));
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		netbe_err(a->ident, a->name, "cannot read the interface flags: %s", strerror(errno));
		ret = -1;
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
			if (errno == EPERM || errno == EACCES)
				netbe_err(a->ident, a->name, "the interface is down and bringing it "
					  "up needs CAP_NET_ADMIN (ip link set %s up)", t->name);
			else
				netbe_err(a->ident, a->name, "cannot bring the interface up: %s",
					  strerror(errno));
			ret = -1;
		}
	}
	close(s);
	return ret;
}

static void tap_readable(int fd, enum ev_type type, void *arg)
{
	struct net_backend *be = arg;

	be->rx_cb(be->rx_arg);
}

static void tap_close(struct net_backend *be)
{
	struct tap_be *t = to_tap(be);

	if (t->mev != NULL)
		mevent_delete(t->mev);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
}

static struct net_backend *tap_open(const struct netbe_args *a)
{
	struct tap_be *t;

	if (a->name == NULL || *a->name == '\0') {
		netbe_err(a->ident, NULL, "a tap backend needs an interface name (tap0)");
		return NULL;
	}
	if (strlen(a->name) >= IFNAMSIZ) {
		netbe_err(a->ident, a->name, "interface names have at most %d characters",
			  IFNAMSIZ - 1);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		netbe_err(a->ident, a->name, "out of memory");
		return NULL;
	}
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		tun_open_error(a);
		goto fail;
	}
	if (attach(t, a) < 0 || bring_up(t, a) < 0)
		goto fail;
	/* Level-triggered: while enabled, queued frames keep calling us back. */
	t->mev = mevent_add(t->fd, EVF_READ, tap_readable, &t->be);
	if (t->mev == NULL || mevent_disable(t->mev) < 0) {
		netbe_err(a->ident, a->name, "cannot watch the tap interface: %s",
			  strerror(errno));
		goto fail;
	}
	return &t->be;
fail:
	tap_close(&t->be);
	return NULL;
}

/* ---- frames ------------------------------------------------------------- */

static ssize_t tap_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	ssize_t n = writev(to_tap(be)->fd, iov, iovcnt);

	return n < 0 ? -errno : n;
}

/* The kernel writes the 10-byte virtio_net_hdr and skips our num_buffers. */
static ssize_t tap_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	ssize_t n = readv(to_tap(be)->fd, iov, iovcnt);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	return n;
}

static void tap_rx_enable(struct net_backend *be, bool on)
{
	struct tap_be *t = to_tap(be);

	if (on)
		mevent_enable(t->mev);
	else
		mevent_disable(t->mev);
}

/*
 * The kernel refuses (EINVAL) TSO without checksum offload and ECN without
 * TSO; a guest should never ask for that (virtio requires the same), but
 * drop such bits rather than fail.
 */
static int tap_set_offloads(struct net_backend *be, unsigned offloads)
{
	unsigned long f = 0;

	if (offloads & NETBE_OFFLOAD_CSUM) {
		f |= TUN_F_CSUM;
		if (offloads & NETBE_OFFLOAD_TSO4)
			f |= TUN_F_TSO4;
		if (offloads & NETBE_OFFLOAD_TSO6)
			f |= TUN_F_TSO6;
		if ((offloads & NETBE_OFFLOAD_TSO_ECN) && (f & (TUN_F_TSO4 | TUN_F_TSO6)))
			f |= TUN_F_TSO_ECN;
		if (offloads & NETBE_OFFLOAD_UFO)
			f |= TUN_F_UFO;
	}
	return ioctl(to_tap(be)->fd, TUNSETOFFLOAD, f) < 0 ? -1 : 0;
}

static int tap_kernel_fd(const struct net_backend *be)
{
	return ((const struct tap_be *)be)->fd;
}

const struct netbe_ops netbe_tap_ops = {
	.type = "tap",
	.vnet_hdr = true,
	.open = tap_open,
	.close = tap_close,
	.send = tap_send,
	.recv = tap_recv,
	.rx_enable = tap_rx_enable,
	.set_offloads = tap_set_offloads,
	.kernel_fd = tap_kernel_fd,
};
