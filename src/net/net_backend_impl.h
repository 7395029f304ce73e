/*
 * Private to src/net: what a backend (net_tap.c, net_slirp.c) provides to the
 * dispatcher in net_backend.c. A backend allocates its own state with a
 * struct net_backend as the first member; the dispatcher fills in the common
 * fields after open succeeds.
 */
#ifndef KHYVE_NET_BACKEND_IMPL_H
#define KHYVE_NET_BACKEND_IMPL_H

#include <stdarg.h>

#include "net/net_backend.h"

struct netbe_ops;

struct net_backend {
	const struct netbe_ops *ops;
	netbe_rx_cb rx_cb;
	void *rx_arg;
	char *ident;            /* for messages: "pci 0:2:0 virtio-net" */
};

/* What netbe_open hands to a backend's open. */
struct netbe_args {
	const struct cfg_node *node;
	const char *ident;
	const char *name;       /* the backend key ("tap0", "slirp"); may be NULL */
	netbe_rx_cb cb;
	void *arg;
};

struct netbe_ops {
	const char *type;       /* the config "type" value it serves */
	bool vnet_hdr;          /* frames carry NETBE_VNET_HDR_LEN bytes in front */
	/* Print one line and return NULL on failure; rx notifications start off. */
	struct net_backend *(*open)(const struct netbe_args *a);
	void (*close)(struct net_backend *be);
	ssize_t (*send)(struct net_backend *be, const struct iovec *iov, int iovcnt);
	ssize_t (*recv)(struct net_backend *be, const struct iovec *iov, int iovcnt);
	void (*rx_enable)(struct net_backend *be, bool on);
	int (*set_offloads)(struct net_backend *be, unsigned offloads);
	/* The tap file descriptor for vhost-net (optional: -1 without). */
	int (*kernel_fd)(const struct net_backend *be);
};

extern const struct netbe_ops netbe_tap_ops;
extern const struct netbe_ops netbe_slirp_ops;

/* "khyve: <ident>: <name>: <message>\n" on stderr (name may be NULL). */
void netbe_err(const char *ident, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
