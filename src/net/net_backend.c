/*
 * Network backends: choosing one from a NIC's config node, the calls every
 * device makes (dispatched through struct netbe_ops), the "null" backend of
 * an unconnected NIC, and bhyve's MAC address rules.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <md5.h>

#include "core/config.h"
#include "net/net_backend_impl.h"

void netbe_err(const char *ident, const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "khyve: %s: ", ident);
	if (name != NULL)
		fprintf(stderr, "%s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

size_t netbe_iov_len(const struct iovec *iov, int iovcnt)
{
	size_t len = 0;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return len;
}

size_t netbe_iov_fill(const struct iovec *iov, int iovcnt, size_t skip, const void *src,
		      size_t len)
{
	size_t done = 0;

	for (int i = 0; i < iovcnt && done < len; i++) {
		size_t n = iov[i].iov_len;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		n -= skip;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)iov[i].iov_base + skip, (const uint8_t *)src + done, n);
		done += n;
		skip = 0;
	}
	return done;
}

/* ---- null: a NIC without a backend ("-s 2,virtio-net"), as bhyve allows --- */

static struct net_backend *null_open(const struct netbe_args *a)
{
	return calloc(1, sizeof(struct net_backend));
}

static void null_close(struct net_backend *be)
{
	free(be);
}

/* The cable is unplugged: frames leave and vanish. */
static ssize_t null_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	return (ssize_t)netbe_iov_len(iov, iovcnt);
}

static ssize_t null_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	return 0;
}

static void null_rx_enable(struct net_backend *be, bool on)
{
}

/* Without a vnet header there is nothing to offload to. */
static int null_set_offloads(struct net_backend *be, unsigned offloads)
{
	return offloads == 0 ? 0 : -1;
}

static const struct netbe_ops null_ops = {
	.type = "null",
	.open = null_open,
	.close = null_close,
	.send = null_send,
	.recv = null_recv,
	.rx_enable = null_rx_enable,
	.set_offloads = null_set_offloads,
};

/* ---- choosing the backend ----------------------------------------------- */

static const struct netbe_ops *const backends[] = {
	&netbe_tap_ops,
	&netbe_slirp_ops,
	&null_ops,
};

/* bhyve picks the backend by the prefix of its name (net_backends.c). */
static const struct {
	const char *prefix, *type;
} name_prefixes[] = {
	{ "tap", "tap" },
	{ "vmnet", "tap" },
	{ "netgraph", "netgraph" },
	{ "netmap:", "netmap" },
	{ "vale", "vale" },
	{ "slirp", "slirp" },
};

const char *netbe_infer_type(const char *name)
{
	for (size_t i = 0; i < sizeof(name_prefixes) / sizeof(name_prefixes[0]); i++)
		if (strncmp(name, name_prefixes[i].prefix, strlen(name_prefixes[i].prefix)) == 0)
			return name_prefixes[i].type;
	return NULL;
}

static bool freebsd_only(const char *type)
{
	return strcmp(type, "netgraph") == 0 || strcmp(type, "netmap") == 0 ||
	       strcmp(type, "vale") == 0;
}

static const struct netbe_ops *find_ops(const char *type)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->type, type) == 0)
			return backends[i];
	return NULL;
}

/*
 * The type of the node: the "type" key the option parser sets, else what the
 * backend's name says (a config file may give only "backend"), else "null"
 * when there is no backend at all. NULL (message printed) when unusable.
 */
static const char *node_type(const char *ident, const char *name, const char *type)
{
	if (type == NULL || *type == '\0') {
		if (name == NULL || *name == '\0')
			return "null";
		type = netbe_infer_type(name);
		if (type == NULL) {
			netbe_err(ident, name, "not a known network backend (tapN, vmnetN, slirp; "
				  "or give type=)");
			return NULL;
		}
	}
	if (freebsd_only(type)) {
		netbe_err(ident, name != NULL ? name : type, "%s networking is FreeBSD-only, not "
			  "available on Linux (use a tap device or slirp)", type);
		return NULL;
	}
	if (find_ops(type) == NULL) {
		netbe_err(ident, name, "type=%s: not a network backend type (tap, slirp)", type);
		return NULL;
	}
	return type;
}

struct net_backend *netbe_open(const struct cfg_node *node, const char *ident, netbe_rx_cb cb,
			       void *arg)
{
	struct netbe_args a = {
		.node = node, .ident = ident, .cb = cb, .arg = arg,
		.name = get_config_value_node(node, "backend"),
	};
	const char *type = node_type(ident, a.name, get_config_value_node(node, "type"));
	const struct netbe_ops *ops;
	struct net_backend *be;

	if (type == NULL)
		return NULL;
	ops = find_ops(type);
	be = ops->open(&a);
	if (be == NULL)
		return NULL;
	be->ident = strdup(ident);
	if (be->ident == NULL) {
		netbe_err(ident, a.name, "out of memory");
		ops->close(be);
		return NULL;
	}
	be->ops = ops;
	be->rx_cb = cb;
	be->rx_arg = arg;
	return be;
}

void netbe_close(struct net_backend *be)
{
	char *ident;

	if (be == NULL)
		return;
	ident = be->ident;
	be->ops->close(be);
	free(ident);
}

bool netbe_has_vnet_hdr(const struct net_backend *be)
{
	return be->ops->vnet_hdr;
}

int netbe_kernel_fd(const struct net_backend *be)
{
	return be->ops->kernel_fd ? be->ops->kernel_fd(be) : -1;
}

int netbe_set_offloads(struct net_backend *be, unsigned offloads)
{
	return be->ops->set_offloads(be, offloads);
}

ssize_t netbe_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	return be->ops->send(be, iov, iovcnt);
}

ssize_t netbe_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	return be->ops->recv(be, iov, iovcnt);
}

void netbe_rx_enable(struct net_backend *be, bool on)
{
	be->ops->rx_enable(be, on);
}

/* ---- MAC addresses ------------------------------------------------------ */

/*
 * bhyve's net_genmac(): NetApp's OUI 00:a0:98 followed by the first three
 * bytes of MD5("slot-func-vmname"). bhyve has kept that OUI (not the FreeBSD
 * Foundation's 58:9c:fc), so a guest moved from bhyve keeps its MAC address
 * and whatever DHCP lease or udev rule hangs on it.
 */
void netbe_default_mac(const char *vmname, unsigned slot, unsigned func, uint8_t mac[6])
{
	uint8_t digest[MD5_DIGEST_LENGTH];
	char str[80];
	MD5_CTX ctx;
	int n;

	n = snprintf(str, sizeof(str), "%u-%u-%s", slot, func, vmname != NULL ? vmname : "");
	if (n < 0)
		n = 0;
	else if ((size_t)n >= sizeof(str))
		n = sizeof(str) - 1; /* bhyve hashes the truncated string too */
	MD5Init(&ctx);
	MD5Update(&ctx, (const uint8_t *)str, (size_t)n);
	MD5Final(digest, &ctx);
	mac[0] = 0x00;
	mac[1] = 0xa0;
	mac[2] = 0x98;
	memcpy(mac + 3, digest, 3);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * FreeBSD's ether_aton(), as bhyve's net_parsemac() uses it: six groups of
 * one or two hex digits separated by ':' ("0:a0:98:1:2:3" is what FreeBSD's
 * ether_ntoa prints). Stricter than ether_aton in refusing trailing text.
 */
static int parse_ether(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(*s), lo;

		if (hi < 0)
			return -1;
		s++;
		lo = hex_digit(*s);
		if (lo >= 0)
			s++;
		mac[i] = lo >= 0 ? (uint8_t)(hi << 4 | lo) : (uint8_t)hi;
		if (*s != (i < 5 ? ':' : '\0'))
			return -1;
		s++;
	}
	return 0;
}

int netbe_parse_mac(const char *s, uint8_t mac[6])
{
	static const uint8_t zero[6];
	uint8_t m[6];

	if (s == NULL || parse_ether(s, m) != 0)
		return -1;
	if ((m[0] & 0x01) != 0 || memcmp(m, zero, sizeof(m)) == 0)
		return -1; /* multicast, or nobody */
	memcpy(mac, m, sizeof(m));
	return 0;
}
