/*
 * Unit tests for the network backends (src/net): MAC address rules (bhyve's
 * net_genmac/net_parsemac), choosing a backend from a NIC's config node and
 * the one-line errors for FreeBSD-only ones, the null backend of an
 * unconnected NIC, slirp as a guest sees it (DHCP offer, ARP reply, a host
 * port forward reaching the guest through the slirp thread, rx notifications
 * including frames left queued while rx was off, port in use) and tap
 * interfaces when this process may create them (root with /dev/net/tun:
 * frames both ways seen on an AF_PACKET socket, offloads, EBUSY, the error
 * without CAP_NET_ADMIN); otherwise those are skipped.
 *
 * The event loop runs on a thread of its own in the tests that watch rx
 * notifications (mevent_stop is final, so each test has a fresh loop);
 * backends are closed after it stopped, as mevent_delete requires.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/mevent.h"
#include "net/net_backend.h"

#include "capture.h"

#define IDENT "pci 0:2:0 virtio-net"

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* ---- helpers ----------------------------------------------------------- */

static atomic_int rx_calls;

static void rx_ready(void *arg)
{
	atomic_fetch_add(&rx_calls, 1);
}

static pthread_t loop_thread;
static bool loop_running;

static void *loop_main(void *arg)
{
	mevent_dispatch();
	return NULL;
}

static int setup(void **state)
{
	config_init();
	assert_int_equal(mevent_init(), 0);
	atomic_store(&rx_calls, 0);
	loop_running = false;
	return 0;
}

static void start_loop(void)
{
	assert_int_equal(pthread_create(&loop_thread, NULL, loop_main, NULL), 0);
	loop_running = true;
}

static void stop_loop(void)
{
	if (!loop_running)
		return;
	mevent_stop();
	pthread_join(loop_thread, NULL);
	loop_running = false;
}

/* A failed assertion skips the test's stop_loop: its thread must not outlive it. */
static int teardown(void **state)
{
	stop_loop();
	config_free();
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until rx_ready has been called at least n times; false on timeout. */
static bool wait_rx_calls(int n, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	while (atomic_load(&rx_calls) < n) {
		if (now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

static struct cfg_node *nic_node(const char *backend, const char *type)
{
	struct cfg_node *node = create_config_node("pci.0.2.0");

	assert_non_null(node);
	assert_int_equal(set_config_value_node(node, "device", "virtio-net"), 0);
	if (backend != NULL)
		assert_int_equal(set_config_value_node(node, "backend", backend), 0);
	if (type != NULL)
		assert_int_equal(set_config_value_node(node, "type", type), 0);
	return node;
}

/* netbe_open expected to fail: returns its (single) stderr line. */
static char *open_fails(struct cfg_node *node)
{
	struct capture c;
	struct net_backend *be;
	char *err;

	capture_start(&c, 2);
	be = netbe_open(node, IDENT, rx_ready, NULL);
	err = capture_end(&c);
	if (be != NULL)
		netbe_close(be);
	assert_null(be);
	assert_int_equal(count_lines(err), 1);
	return err;
}

static void assert_open_error(struct cfg_node *node, const char *expect)
{
	char *err = open_fails(node);

	if (strcmp(err, expect) != 0)
		fail_msg("got:    %swanted: %s", err, expect);
	free(err);
}

static void assert_open_error_has(struct cfg_node *node, const char *part)
{
	char *err = open_fails(node);

	if (strstr(err, part) == NULL)
		fail_msg("'%s' not in: %s", part, err);
	free(err);
}

/* A localhost TCP port nobody listens on right now. */
static int free_port(int type)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int s = socket(AF_INET, type, 0), port;

	assert_true(s >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(s);
	return port;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t eth_header(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
	return 14;
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

#define BOOTP_LEN (236 + 312)   /* fixed part + the full options area */
#define XID 0x4b687976

/* DHCPDISCOVER from guest_mac: 0.0.0.0:68 -> 255.255.255.255:67. */
static size_t dhcp_discover(uint8_t *f)
{
	size_t off = eth_header(f, bcast, guest_mac, ETHERTYPE_IP);
	uint8_t *ip = f + off, *udp = ip + 20, *bp = udp + 8;

	memset(ip, 0, 20 + 8 + BOOTP_LEN);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 8 + BOOTP_LEN);
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	put16(ip + 10, ip_checksum(ip, 20));
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, 8 + BOOTP_LEN);  /* checksum 0: none, valid for UDP over IPv4 */
	bp[0] = 1;                      /* BOOTREQUEST */
	bp[1] = 1;                      /* Ethernet */
	bp[2] = 6;
	bp[4] = XID >> 24;
	bp[5] = XID >> 16 & 0xff;
	bp[6] = XID >> 8 & 0xff;
	bp[7] = XID & 0xff;
	memcpy(bp + 28, guest_mac, 6);
	memcpy(bp + 236, (const uint8_t[]){ 99, 130, 83, 99, 53, 1, 1, 255 }, 8);
	return off + 20 + 8 + BOOTP_LEN;
}

/* "Who has 10.0.2.2? Tell 10.0.2.15", padded to the Ethernet minimum. */
static size_t arp_request(uint8_t *f, const char *target)
{
	size_t off = eth_header(f, bcast, guest_mac, ETHERTYPE_ARP);
	uint8_t *a = f + off;

	memset(a, 0, 46);
	put16(a, 1);
	put16(a + 2, ETHERTYPE_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, guest_mac, 6);
	inet_pton(AF_INET, "10.0.2.15", a + 14);
	inet_pton(AF_INET, target, a + 24);
	return off + 46;
}

static bool ip_is(const uint8_t *p, const char *addr)
{
	struct in_addr a;

	inet_pton(AF_INET, addr, &a);
	return memcmp(p, &a, 4) == 0;
}

/* A DHCPOFFER of 10.0.2.15 for our transaction? */
static bool is_dhcp_offer(const uint8_t *f, ssize_t n)
{
	const uint8_t *ip = f + 14, *udp, *bp, *opt;
	size_t ihl;

	if (n < 14 + 20 || get16(f + 12) != ETHERTYPE_IP || ip[9] != 17)
		return false;
	ihl = (size_t)(ip[0] & 0xf) * 4;
	udp = ip + ihl;
	bp = udp + 8;
	if ((size_t)n < 14 + ihl + 8 + 240 || get16(udp) != 67 || get16(udp + 2) != 68)
		return false;
	if (bp[0] != 2 || get16(bp + 4) != XID >> 16 || get16(bp + 6) != (XID & 0xffff) ||
	    !ip_is(bp + 16, "10.0.2.15"))
		return false;
	for (opt = bp + 240; opt + 2 < f + n && *opt != 255; opt += opt[0] == 0 ? 1 : 2 + opt[1])
		if (opt[0] == 53)
			return opt[1] == 1 && opt[2] == 2;
	return false;
}

static bool is_arp_reply_from_gateway(const uint8_t *f, ssize_t n)
{
	const uint8_t *a = f + 14;

	return n >= 42 && get16(f + 12) == ETHERTYPE_ARP && get16(a + 6) == 2 &&
	       ip_is(a + 14, "10.0.2.2") && ip_is(a + 24, "10.0.2.15") &&
	       memcmp(f, guest_mac, 6) == 0 && memcmp(a + 18, guest_mac, 6) == 0;
}

/* A TCP SYN to 10.0.2.15:port (slirp connecting a host forward to the guest). */
static bool is_tcp_syn_to_guest(const uint8_t *f, ssize_t n, int port)
{
	const uint8_t *ip = f + 14, *tcp;

	if (n < 14 + 20 + 20 || get16(f + 12) != ETHERTYPE_IP || ip[9] != 6 ||
	    !ip_is(ip + 16, "10.0.2.15"))
		return false;
	tcp = ip + (ip[0] & 0xf) * 4;
	return get16(tcp + 2) == port && (tcp[13] & 0x02) && !(tcp[13] & 0x10);
}

/* Receive frames until one matches or timeout; the others are ignored. */
static bool recv_match(struct net_backend *be, int timeout_ms,
		       bool (*match)(const uint8_t *f, ssize_t n, void *arg), void *arg)
{
	static uint8_t buf[NETBE_MAX_FRAME];
	int64_t end = now_ms() + timeout_ms;

	/* Scattered over uneven pieces, as guest buffers are; contiguous here, so a
	 * frame put together right reads as one. */
	const struct iovec iov[3] = { { buf, 7 }, { buf + 7, 100 }, { buf + 107, sizeof(buf) - 107 } };

	for (;;) {
		ssize_t n = netbe_recv(be, iov, 3);

		assert_true(n >= 0);
		if (n > 0 && match(buf, n, arg))
			return true;
		if (n == 0) {
			if (now_ms() > end)
				return false;
			usleep(1000);
		}
	}
}

static bool match_offer(const uint8_t *f, ssize_t n, void *arg)
{
	return is_dhcp_offer(f, n);
}

static bool match_arp(const uint8_t *f, ssize_t n, void *arg)
{
	return is_arp_reply_from_gateway(f, n);
}

static bool match_syn(const uint8_t *f, ssize_t n, void *arg)
{
	return is_tcp_syn_to_guest(f, n, *(int *)arg);
}

static ssize_t send_frame(struct net_backend *be, const uint8_t *f, size_t len)
{
	/* Two pieces: the backend must gather them. */
	struct iovec iov[2] = {
		{ .iov_base = (void *)f, .iov_len = 10 },
		{ .iov_base = (void *)(f + 10), .iov_len = len - 10 },
	};

	return netbe_send(be, iov, 2);
}

/* ---- MAC addresses ------------------------------------------------------ */

static void test_parse_mac_good(void **state)
{
	uint8_t mac[6];

	assert_int_equal(netbe_parse_mac("52:54:00:12:34:56", mac), 0);
	assert_memory_equal(mac, guest_mac, 6);
	assert_int_equal(netbe_parse_mac("AA:bb:Cc:dD:ee:FE", mac), 0);
	assert_memory_equal(mac, ((uint8_t[]){ 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xfe }), 6);
	/* FreeBSD's ether_ntoa drops leading zeros; bhyve's ether_aton reads them. */
	assert_int_equal(netbe_parse_mac("0:a0:98:1:2:f", mac), 0);
	assert_memory_equal(mac, ((uint8_t[]){ 0x00, 0xa0, 0x98, 0x01, 0x02, 0x0f }), 6);
}

static void test_parse_mac_bad(void **state)
{
	static const char *const bad[] = {
		"", "52:54:00:12:34", "52:54:00:12:34:56:78", "52-54-00-12-34-56",
		"52:54:00:12:34:5g", "123:54:00:12:34:56", "52:54:00:12:34:56 ",
		" 52:54:00:12:34:56", "52::00:12:34:56", "52:54:00:12:34:", "525400123456",
	};
	uint8_t mac[6] = { 1, 2, 3, 4, 5, 6 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (netbe_parse_mac(bad[i], mac) != -1)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(netbe_parse_mac(NULL, mac), -1);
	assert_memory_equal(mac, ((uint8_t[]){ 1, 2, 3, 4, 5, 6 }), 6); /* untouched */
}

static void test_parse_mac_multicast_and_zero(void **state)
{
	uint8_t mac[6];

	assert_int_equal(netbe_parse_mac("01:00:5e:00:00:01", mac), -1);
	assert_int_equal(netbe_parse_mac("33:33:00:00:00:01", mac), -1);
	assert_int_equal(netbe_parse_mac("ff:ff:ff:ff:ff:ff", mac), -1);
	assert_int_equal(netbe_parse_mac("00:00:00:00:00:00", mac), -1);
	assert_int_equal(netbe_parse_mac("0:0:0:0:0:0", mac), -1);
	/* Locally administered unicast is fine. */
	assert_int_equal(netbe_parse_mac("02:00:00:00:00:01", mac), 0);
}

/* Expected values: printf '%s' 2-0-vm0 | md5sum -> f055053c..., and so on. */
static void test_default_mac(void **state)
{
	uint8_t mac[6];

	netbe_default_mac("vm0", 2, 0, mac);
	assert_memory_equal(mac, ((uint8_t[]){ 0x00, 0xa0, 0x98, 0xf0, 0x55, 0x05 }), 6);
	netbe_default_mac("debian", 3, 1, mac);
	assert_memory_equal(mac, ((uint8_t[]){ 0x00, 0xa0, 0x98, 0x56, 0x9d, 0x12 }), 6);
	netbe_default_mac("", 0, 0, mac);
	assert_memory_equal(mac, ((uint8_t[]){ 0x00, 0xa0, 0x98, 0x85, 0x40, 0xf6 }), 6);
}

/* ---- choosing a backend ------------------------------------------------- */

static void test_freebsd_only(void **state)
{
	assert_open_error(nic_node("netgraph", "netgraph"),
			  "khyve: " IDENT ": netgraph: netgraph networking is FreeBSD-only, not "
			  "available on Linux (use a tap device or slirp)\n");
	config_init();
	assert_open_error(nic_node("netmap:em0", NULL),
			  "khyve: " IDENT ": netmap:em0: netmap networking is FreeBSD-only, not "
			  "available on Linux (use a tap device or slirp)\n");
	config_init();
	assert_open_error(nic_node("vale0:1", NULL),
			  "khyve: " IDENT ": vale0:1: vale networking is FreeBSD-only, not "
			  "available on Linux (use a tap device or slirp)\n");
	config_init();
	assert_open_error(nic_node(NULL, "netgraph"),
			  "khyve: " IDENT ": netgraph: netgraph networking is FreeBSD-only, not "
			  "available on Linux (use a tap device or slirp)\n");
}

static void test_unknown_backend(void **state)
{
	assert_open_error(nic_node("eth0", NULL),
			  "khyve: " IDENT ": eth0: not a known network backend (tapN, vmnetN, "
			  "slirp; or give type=)\n");
	config_init();
	assert_open_error(nic_node("tap0", "vde"),
			  "khyve: " IDENT ": tap0: type=vde: not a network backend type "
			  "(tap, slirp)\n");
	config_init();
	assert_open_error(nic_node(NULL, "tap"),
			  "khyve: " IDENT ": a tap backend needs an interface name (tap0)\n");
}

/*
 * Without "type" (a config file), the name decides. An over-long interface
 * name shows that tap was chosen without touching the host.
 */
static void test_type_inference(void **state)
{
	struct net_backend *be;

	assert_open_error(nic_node("tap0123456789abcdef", NULL),
			  "khyve: " IDENT ": tap0123456789abcdef: interface names have at most 15 "
			  "characters\n");
	config_init();
	assert_open_error(nic_node("vmnet0123456789abcdef", NULL),
			  "khyve: " IDENT ": vmnet0123456789abcdef: interface names have at most 15 "
			  "characters\n");
	config_init();
	be = netbe_open(nic_node("slirp", NULL), IDENT, rx_ready, NULL);
	assert_non_null(be);
	assert_false(netbe_has_vnet_hdr(be));
	netbe_close(be);
}

static void test_null_backend(void **state)
{
	uint8_t frame[60] = { 0 }, buf[NETBE_MAX_FRAME];
	struct iovec iov = { frame, sizeof(frame) };
	struct net_backend *be = netbe_open(nic_node(NULL, NULL), IDENT, rx_ready, NULL);

	assert_non_null(be);
	assert_false(netbe_has_vnet_hdr(be));
	assert_int_equal(netbe_set_offloads(be, 0), 0);
	assert_int_equal(netbe_set_offloads(be, NETBE_OFFLOAD_CSUM), -1);
	assert_int_equal(netbe_send(be, &iov, 1), sizeof(frame));
	netbe_rx_enable(be, true);
	assert_int_equal(netbe_recv(be, &(struct iovec){ buf, sizeof(buf) }, 1), 0);
	netbe_rx_enable(be, false);
	netbe_close(be);
	assert_int_equal(atomic_load(&rx_calls), 0);
}

/* ---- slirp -------------------------------------------------------------- */

static struct net_backend *open_slirp(const char *hostfwd)
{
	struct cfg_node *node = nic_node("slirp", "slirp");
	struct net_backend *be;

	if (hostfwd != NULL)
		assert_int_equal(set_config_value_node(node, "hostfwd", hostfwd), 0);
	be = netbe_open(node, IDENT, rx_ready, NULL);
	assert_non_null(be);
	return be;
}

/*
 * What a guest does first: DHCP, ARP for the gateway, and then a
 * connection from the host through hostfwd, which only the slirp thread can
 * accept and turn into a SYN towards the guest.
 */
static void test_slirp_guest_view(void **state)
{
	char fwd[80];
	uint8_t f[600];
	int port = free_port(SOCK_STREAM), guest_port = 22, s;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct net_backend *be;

	snprintf(fwd, sizeof(fwd), "tcp:127.0.0.1:%d-:%d", port, guest_port);
	be = open_slirp(fwd);
	assert_int_equal(netbe_set_offloads(be, 0), 0);
	assert_int_equal(netbe_set_offloads(be, NETBE_OFFLOAD_CSUM), -1);
	start_loop();
	netbe_rx_enable(be, true);

	assert_true(send_frame(be, f, dhcp_discover(f)) > 0);
	assert_true(wait_rx_calls(1, 5000));
	assert_true(recv_match(be, 5000, match_offer, NULL));

	assert_int_equal(send_frame(be, f, arp_request(f, "10.0.2.2")), 60);
	assert_true(recv_match(be, 5000, match_arp, NULL));

	s = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	assert_int_equal(connect(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_true(recv_match(be, 5000, match_syn, &guest_port));
	/* The loop thread may not have run yet: the frame was read by polling. */
	assert_true(wait_rx_calls(2, 5000));

	stop_loop();
	netbe_close(be);  /* with a live connection: its sockets go too */
	close(s);
}

/*
 * Frames left in the queue while rx was off are announced again when it is
 * turned on, even though none arrives in the meantime.
 */
static void test_slirp_rx_enable_pending(void **state)
{
	struct net_backend *be = open_slirp(NULL);
	uint8_t f[64];
	int calls;

	start_loop();
	send_frame(be, f, arp_request(f, "10.0.2.2"));  /* rx off: no call */
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&rx_calls), 0);
	netbe_rx_enable(be, true);
	assert_true(wait_rx_calls(1, 5000));
	netbe_rx_enable(be, false);     /* the "guest" has no buffers: read nothing */
	/*
	 * Enabling may signal twice (the frame's own signal and rx_enable's);
	 * a dispatch already under way may land after the disable. Both are
	 * harmless; what must not happen is a call while rx stays off.
	 */
	usleep(50 * 1000);
	calls = atomic_load(&rx_calls);
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&rx_calls), calls);
	netbe_rx_enable(be, true);
	assert_true(wait_rx_calls(calls + 1, 5000));
	assert_true(recv_match(be, 1000, match_arp, NULL));
	stop_loop();
	netbe_close(be);
}

/*
 * Frames for the guest wait in a ring of bytes allocated once: well over
 * its size (1 MiB) in ARP replies, so that some frame straddles its end,
 * all come out whole and in order.
 */
static void test_slirp_fifo_wraps(void **state)
{
	struct net_backend *be = open_slirp(NULL);
	uint8_t f[600];

	/* An offer first: ARP replies (64 bytes) alone would end exactly at the ring's end. */
	send_frame(be, f, dhcp_discover(f));
	assert_true(recv_match(be, 5000, match_offer, NULL));
	for (int i = 0; i < 30000; i++) {
		send_frame(be, f, arp_request(f, "10.0.2.2"));
		if (!recv_match(be, 1000, match_arp, NULL))
			fail_msg("ARP reply %d did not come out of the FIFO", i);
	}
	netbe_close(be);
}

static void test_slirp_hostfwd_in_use(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	char fwd[80], expect[200];
	int s = socket(AF_INET, SOCK_STREAM, 0), port;
	struct cfg_node *node = nic_node("slirp", "slirp");

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	snprintf(fwd, sizeof(fwd), "tcp:127.0.0.1:%d-10.0.2.15:22", port);
	assert_int_equal(set_config_value_node(node, "hostfwd", fwd), 0);
	snprintf(expect, sizeof(expect), "khyve: " IDENT ": slirp: hostfwd '%s': cannot listen "
		 "on tcp 127.0.0.1:%d: Address already in use\n", fwd, port);
	assert_open_error(node, expect);
	close(s);
}

static void test_slirp_hostfwd_udp_in_use(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	char fwd[80];
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct cfg_node *node = nic_node("slirp", "slirp");

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	snprintf(fwd, sizeof(fwd), "udp:127.0.0.1:%d-:53", ntohs(sin.sin_port));
	assert_int_equal(set_config_value_node(node, "hostfwd", fwd), 0);
	assert_open_error_has(node, "Address already in use");
	close(s);
}

/* Several rules separated by ';': all listen; the empty host address means any. */
static void test_slirp_hostfwd_several(void **state)
{
	int p1 = free_port(SOCK_STREAM), p2 = free_port(SOCK_DGRAM), s;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct net_backend *be;
	char fwd[120];

	snprintf(fwd, sizeof(fwd), "tcp::%d-:22;udp:127.0.0.1:%d-10.0.2.16:53;", p1, p2);
	be = open_slirp(fwd);
	s = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	sin.sin_port = htons(p1);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), -1);
	assert_int_equal(errno, EADDRINUSE);
	close(s);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(p2);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), -1);
	assert_int_equal(errno, EADDRINUSE);
	close(s);
	netbe_close(be);
	/* Closed: the ports are free again. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_port = htons(p1);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	close(s);
}

static void test_slirp_hostfwd_invalid(void **state)
{
	static const char *const bad[] = {
		"tcp:2222-:22", "sctp::2222-:22", "tcp::0-:22", "tcp::70000-:22",
		"tcp::2222", "tcp::2222-:", "tcp:localhost:2222-:22", "tcp::22x-:22",
		"tcp::2222-10.0.2:22", "tcp:::2222-:22",
	};
	char expect[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cfg_node *node = nic_node("slirp", "slirp");

		assert_int_equal(set_config_value_node(node, "hostfwd", bad[i]), 0);
		snprintf(expect, sizeof(expect), "khyve: " IDENT ": slirp: hostfwd '%s' is invalid "
			 "(want tcp|udp:[hostaddr]:hostport-[guestaddr]:guestport)\n", bad[i]);
		assert_open_error(node, expect);
		config_init();
	}
}

/* Open and close quickly, many times: the thread always stops, nothing leaks. */
static void test_slirp_open_close(void **state)
{
	for (int i = 0; i < 20; i++) {
		struct net_backend *be = open_slirp(NULL);
		uint8_t f[64];

		if (i % 2)
			send_frame(be, f, arp_request(f, "10.0.2.3"));
		netbe_close(be);
		config_init();
	}
}

/* ---- tap (root with /dev/net/tun only) ---------------------------------- */

static char tap_name[IFNAMSIZ];

static struct net_backend *open_tap_or_skip(const char *name)
{
	struct capture c;
	struct net_backend *be;
	char *err;

	if (access("/dev/net/tun", R_OK | W_OK) != 0)
		skip();
	capture_start(&c, 2);
	be = netbe_open(nic_node(name, "tap"), IDENT, rx_ready, NULL);
	err = capture_end(&c);
	if (be == NULL) {
		print_message("tap unavailable: %s", err);
		free(err);
		skip();
	}
	free(err);
	return be;
}

static int packet_socket(const char *ifname)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(0x88b5),
		.sll_ifindex = (int)if_nametoindex(ifname),
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x88b5));

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

/* A 60-byte frame of the local experimental ethertype, so IPv6 chatter is ignored. */
static void test_frame(uint8_t *f, const char *text)
{
	memset(f, 0, 60);
	eth_header(f, bcast, guest_mac, 0x88b5);
	memcpy(f + 14, text, strlen(text));
}

static bool match_tap_rx(const uint8_t *f, ssize_t n, void *arg)
{
	static const uint8_t zero_hdr[NETBE_VNET_HDR_LEN];

	if (n != NETBE_VNET_HDR_LEN + 60 || get16(f + NETBE_VNET_HDR_LEN + 12) != 0x88b5)
		return false;
	assert_memory_equal(f, zero_hdr, sizeof(zero_hdr));
	return memcmp(f + NETBE_VNET_HDR_LEN, arg, 60) == 0;
}

static bool iface_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	bool up;

	strcpy(ifr.ifr_name, name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	up = ifr.ifr_flags & IFF_UP;
	close(s);
	return up;
}

static void test_tap_frames(void **state)
{
	uint8_t hdr[NETBE_VNET_HDR_LEN] = { 0 }, out[60], in[100], rx[60];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { out, sizeof(out) } };
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6 };
	struct pollfd pfd;
	struct net_backend *be;
	int ps;

	snprintf(tap_name, sizeof(tap_name), "kt%d", (int)(getpid() % 100000));
	be = open_tap_or_skip(tap_name);
	assert_true(netbe_has_vnet_hdr(be));
	assert_true(if_nametoindex(tap_name) != 0);
	assert_true(iface_up(tap_name));
	assert_int_equal(netbe_set_offloads(be, NETBE_OFFLOAD_CSUM | NETBE_OFFLOAD_TSO4 |
					    NETBE_OFFLOAD_TSO6 | NETBE_OFFLOAD_TSO_ECN |
					    NETBE_OFFLOAD_UFO), 0);
	assert_int_equal(netbe_set_offloads(be, NETBE_OFFLOAD_TSO4 | NETBE_OFFLOAD_TSO_ECN), 0);
	assert_int_equal(netbe_set_offloads(be, 0), 0);
	ps = packet_socket(tap_name);

	/* Guest -> host: the vnet header stays with us, the frame reaches the host. */
	test_frame(out, "khyve tx");
	assert_int_equal(netbe_send(be, iov, 2), sizeof(hdr) + sizeof(out));
	pfd = (struct pollfd){ .fd = ps, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_int_equal(recv(ps, in, sizeof(in), 0), sizeof(out));
	assert_memory_equal(in, out, sizeof(out));

	/* Host -> guest: rx_ready, then the frame behind a (zero) vnet header. */
	start_loop();
	netbe_rx_enable(be, true);
	test_frame(rx, "khyve rx");
	to.sll_ifindex = (int)if_nametoindex(tap_name);
	memcpy(to.sll_addr, guest_mac, 6);
	assert_int_equal(sendto(ps, rx, sizeof(rx), 0, (struct sockaddr *)&to, sizeof(to)),
			 sizeof(rx));
	assert_true(wait_rx_calls(1, 5000));
	assert_true(recv_match(be, 5000, match_tap_rx, rx));
	stop_loop();
	close(ps);
	netbe_close(be);
	assert_int_equal(if_nametoindex(tap_name), 0); /* we created it: gone with us */
}

static void test_tap_busy_and_not_tap(void **state)
{
	struct net_backend *be;
	char expect[200];

	snprintf(tap_name, sizeof(tap_name), "kb%d", (int)(getpid() % 100000));
	be = open_tap_or_skip(tap_name);
	config_init();
	snprintf(expect, sizeof(expect), "khyve: " IDENT ": %s: in use by another process\n",
		 tap_name);
	assert_open_error(nic_node(tap_name, "tap"), expect);
	netbe_close(be);
	config_init();
	assert_open_error(nic_node("lo", "tap"),
			  "khyve: " IDENT ": lo: exists and is not a tap interface\n");
}

/* Without CAP_NET_ADMIN (dropped in a child), creating a tap says what to do. */
static void test_tap_no_cap_net_admin(void **state)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	char name[IFNAMSIZ], expect[300], got[300] = "";
	struct net_backend *be;
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	snprintf(name, sizeof(name), "kc%d", (int)(getpid() % 100000));
	be = open_tap_or_skip(name);    /* skips unless we could create one */
	netbe_close(be);
	config_init();
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		if (syscall(SYS_capget, &h, d) != 0)
			_exit(2);
		d[0].effective &= ~(1u << CAP_NET_ADMIN);
		if (syscall(SYS_capset, &h, d) != 0)
			_exit(2);
		be = netbe_open(nic_node(name, "tap"), IDENT, rx_ready, NULL);
		_exit(be == NULL ? 0 : 1);
	}
	close(pfd[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	n = read(pfd[0], got, sizeof(got) - 1);
	close(pfd[0]);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 0);
	snprintf(expect, sizeof(expect), "khyve: " IDENT ": %s: cannot create the tap interface "
		 "(needs CAP_NET_ADMIN; create it first: ip tuntap add %s mode tap user $USER)\n",
		 name, name);
	assert_string_equal(got, expect);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_mac_good),
		cmocka_unit_test(test_parse_mac_bad),
		cmocka_unit_test(test_parse_mac_multicast_and_zero),
		cmocka_unit_test(test_default_mac),
		cmocka_unit_test_setup_teardown(test_freebsd_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_inference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_null_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slirp_guest_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slirp_rx_enable_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slirp_fifo_wraps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slirp_hostfwd_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slirp_hostfwd_udp_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slirp_hostfwd_several, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slirp_hostfwd_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slirp_open_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_busy_and_not_tap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tap_no_cap_net_admin, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* as khyve does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
