/*
 * Network backends for guest NICs (virtio-net now, e1000 maybe later), as
 * bhyve's net_backends: "-s 2,virtio-net,tap0" or "...,slirp,hostfwd=...".
 * The device node's keys: backend (tap0, slirp, ...), type (tap, slirp,
 * netgraph, netmap, vale: inferred by the option parser), and for slirp
 * hostfwd=proto:haddr:hport-gaddr:gport[;...].
 *
 *   tap     /dev/net/tun: attach to the tap interface of that name, or create
 *           it when absent and permitted (CAP_NET_ADMIN); bring it up.
 *           Works when the tap is already a bridge port. Frames carry a
 *           12-byte virtio_net_hdr_v1 both ways (IFF_VNET_HDR), so checksum
 *           and segmentation offloads pass through untouched.
 *   slirp   user-mode networking with libslirp, no privileges: the guest is
 *           10.0.2.15 by DHCP, gateway/DNS 10.0.2.2/10.0.2.3, outbound TCP/UDP,
 *           and host port forwards. No vnet header: the device must give
 *           slirp complete frames with valid checksums.
 *   netgraph, netmap, vale: FreeBSD only -> a clear error.
 *   (none)  a NIC without backend ("-s 2,virtio-net"), as bhyve allows: the
 *           "null" backend drops every frame sent and never receives.
 *
 * Threading: every call comes from the main (event loop) thread, where
 * rx_ready is also called. Backends that run their own thread (slirp) keep
 * that private.
 */
#ifndef KHYVE_NET_BACKEND_H
#define KHYVE_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct cfg_node;
struct net_backend;

/* Largest frame a backend hands over: 64 KiB TSO frame + Ethernet + vnet header. */
#define NETBE_MAX_FRAME (65536 + 14 + 4 + 12)
#define NETBE_VNET_HDR_LEN 12 /* struct virtio_net_hdr_v1, with num_buffers */

/* Offloads the guest accepts on receive (tap: TUNSETOFFLOAD). */
#define NETBE_OFFLOAD_CSUM 0x01
#define NETBE_OFFLOAD_TSO4 0x02
#define NETBE_OFFLOAD_TSO6 0x04
#define NETBE_OFFLOAD_TSO_ECN 0x08
#define NETBE_OFFLOAD_UFO 0x10

/* Called (main thread) when frames may be waiting; the device then calls netbe_recv until 0. */
typedef void (*netbe_rx_cb)(void *arg);

/*
 * Open the backend of a NIC's config node. On failure prints one line
 * ("khyve: pci 0:2:0 virtio-net: tap0: ...: Operation not permitted") and
 * returns NULL. Receive notifications start disabled (netbe_rx_enable).
 */
struct net_backend *netbe_open(const struct cfg_node *node, const char *ident, netbe_rx_cb cb,
			       void *arg);
void netbe_close(struct net_backend *be);

/* Frames carry a NETBE_VNET_HDR_LEN-byte virtio_net_hdr_v1 in front (tap). */
bool netbe_has_vnet_hdr(const struct net_backend *be);
/*
 * The tap file descriptor, for an in-kernel data path (vhost-net); -1 for
 * backends the kernel cannot drive (slirp, null). While the kernel drives
 * it, the device keeps receive notifications off and sends nothing.
 */
int netbe_kernel_fd(const struct net_backend *be);
/* NETBE_OFFLOAD_* the guest accepts; 0 or -1 (then the device offers none). */
int netbe_set_offloads(struct net_backend *be, unsigned offloads);

/*
 * Send one frame (gathered from iov; with the vnet header first if
 * netbe_has_vnet_hdr). Returns bytes, or -errno; a full host queue drops the
 * frame (-EAGAIN), as a NIC would.
 */
ssize_t netbe_send(struct net_backend *be, const struct iovec *iov, int iovcnt);
/*
 * Receive one frame, scattered over iov (NETBE_MAX_FRAME bytes in all at
 * least, so no frame is cut short), with the vnet header if
 * netbe_has_vnet_hdr; its num_buffers bytes are left as they were (the
 * device fills them in). The iovecs may point into guest memory: the frame
 * lands there without a copy in between. Returns its length, 0 if none is
 * waiting, or -errno.
 */
ssize_t netbe_recv(struct net_backend *be, const struct iovec *iov, int iovcnt);
/* Bytes in an iovec array. */
size_t netbe_iov_len(const struct iovec *iov, int iovcnt);
/* Copy len bytes from src into the iovecs, skip bytes in; returns bytes copied. */
size_t netbe_iov_fill(const struct iovec *iov, int iovcnt, size_t skip, const void *src,
		      size_t len);

/*
 * Call rx_ready when frames arrive (on), or stop (off: the guest has no
 * buffers). Level-triggered: turning it on while frames wait calls rx_ready
 * soon, so frames left behind when the guest ran out of buffers are not lost.
 */
void netbe_rx_enable(struct net_backend *be, bool on);

/*
 * bhyve's rule for a backend name without type=: its prefix (tapN and vmnetN:
 * tap, netgraph, netmap:IF, valeX:Y, slirp); NULL if none matches.
 */
const char *netbe_infer_type(const char *name);

/*
 * The MAC address a NIC without mac= gets: stable for a VM name and slot
 * (bhyve's net_genmac: 00:a0:98 + the first 3 bytes of MD5("slot-func-vmname")).
 */
void netbe_default_mac(const char *vmname, unsigned slot, unsigned func, uint8_t mac[6]);
/*
 * Parse "xx:xx:xx:xx:xx:xx" (unicast, not all zero; like bhyve's ether_aton a
 * group may be one digit, "0:a0:98:1:2:3"); 0 or -1, nothing printed.
 */
int netbe_parse_mac(const char *s, uint8_t mac[6]);

#endif
