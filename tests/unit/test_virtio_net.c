/*
 * virtio-net (src/virtio/virtio_net.c) driven as a guest driver would, and as
 * a hostile one, through virtio_driver.h: feature negotiation, the config
 * space (MAC, link status), frames both ways through slirp (an ARP request
 * or DHCP DISCOVER out, the reply into posted receive buffers), mergeable
 * and non-mergeable receive buffers, malformed transmit and receive chains,
 * the control queue, reset with frames pending, and a device that must not
 * busy-poll when the guest gives it no receive buffers.
 *
 * One pci_init() for the main group: slot 3 is slirp with a mac=, slot 4
 * has no backend (the null one) and a default MAC, slot 5 a tap created for
 * the test when this process may (root with /dev/net/tun; frames seen on an
 * AF_PACKET socket), else its tests are skipped. Configurations that must
 * fail init (bad mac=, mtu=) run first, each in a forked child, before any
 * thread exists.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <md5.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/config.h"
#include "net/net_backend.h"

#include "capture.h"
#include "virtio_driver.h"

#define RAM_SIZE (8u << 20)
#define VM_NAME "vm-unit"

/* Queues and the header (virtio 1.1, 5.1.2 and 5.1.6). */
#define RXQ 0
#define TXQ 1
#define CTRLQ 2
#define HDR_LEN 12
#define HDR_NUM_BUFFERS 10

/* Feature bits (5.1.3). */
#define F_CSUM 0
#define F_GUEST_CSUM 1
#define F_MTU 3
#define F_MAC 5
#define F_GUEST_TSO4 7
#define F_GUEST_TSO6 8
#define F_GUEST_ECN 9
#define F_HOST_TSO4 11
#define F_HOST_TSO6 12
#define F_HOST_ECN 13
#define F_MRG_RXBUF 15
#define F_STATUS 16
#define F_CTRL_VQ 17
#define F_CTRL_RX 18
#define F_CTRL_MAC_ADDR 23
#define OFFLOADS (BIT(F_CSUM) | BIT(F_GUEST_CSUM) | BIT(F_GUEST_TSO4) | BIT(F_GUEST_TSO6) | \
		  BIT(F_GUEST_ECN) | BIT(F_HOST_TSO4) | BIT(F_HOST_TSO6) | BIT(F_HOST_ECN))

/* Control queue (5.1.6.5). */
#define CTRL_RX 0
#define CTRL_RX_PROMISC 0
#define CTRL_RX_ALLMULTI 1
#define CTRL_MAC 1
#define CTRL_MAC_TABLE_SET 0
#define CTRL_MAC_ADDR_SET 1
#define ACK_OK 0
#define ACK_ERR 1

#define ETHERTYPE_IP 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_TEST 0x88b5  /* local experimental: nothing else on a tap uses it */

/* Receive buffers are this far apart in guest RAM; the rest of each slot is a guard. */
#define RXB_STRIDE 2048
#define BIG 1600    /* a receive buffer for any frame of a 1500-byte MTU, as Linux posts */
/*
 * With GUEST_TSO the device waits for room for a 64 KiB frame before it
 * reads one from the backend: on a tap (offloads negotiated) post that much.
 */
#define TAP_BUFS 64

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ---- The NICs ---------------------------------------------------------------- */

struct nic {
	struct vdev v;
	struct dq rx, tx, ctrl;
	uint64_t area;          /* rings: 3 * DQ_AREA */
	uint64_t buf;           /* buffers: 1 MiB, see RXB/TXB/CTB */
	bool present;
	struct {
		uint64_t gpa;
		uint32_t len;
	} rxb[VQ_MAX_SIZE];     /* posted receive buffers by head */
};

#define RXB(n) ((n)->buf)                 /* 256 * RXB_STRIDE */
#define TXB(n) ((n)->buf + 0x80000)       /* 256 KiB */
#define CTB(n) ((n)->buf + 0xc0000)

#define SL_BUF 0x200000
#define FREE_RAM 0x500000   /* to the end of RAM: nobody's */

static struct nic sl = { .v.slot = 3, .area = 0x100000, .buf = SL_BUF, .present = true };
static struct nic nul = { .v.slot = 4, .area = 0x140000, .buf = 0x300000, .present = true };
static struct nic tp = { .v.slot = 5, .area = 0x180000, .buf = 0x400000 };
static char tap_name[IFNAMSIZ];

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Everything offered but EVENT_IDX (so each used buffer interrupts), minus drop. */
static uint64_t features_but(const struct nic *n, uint64_t drop)
{
	return device_features(&n->v) & ~BIT(VIRTIO_F_EVENT_IDX) & ~drop;
}

/* Reset, negotiate, three queues, DRIVER_OK; MSI-X vectors for config, rx, tx, ctrl (NULL: none). */
static void nic_start_vec(struct nic *n, uint64_t features, uint16_t rx_size,
			  const uint16_t *vectors)
{
	uint8_t ok = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;

	assert_int_equal(drv_negotiate(&n->v, features), ok);
	cc_wr(&n->v, CC_MSIX_CONFIG, 2, vectors ? vectors[0] : VIRTIO_NO_VECTOR);
	dq_layout(&n->rx, &n->v, RXQ, n->area, rx_size);
	dq_layout(&n->tx, &n->v, TXQ, n->area + DQ_AREA, 256);
	dq_layout(&n->ctrl, &n->v, CTRLQ, n->area + 2 * DQ_AREA, 16);
	dq_setup(&n->rx, vectors ? vectors[1] : VIRTIO_NO_VECTOR);
	dq_setup(&n->tx, vectors ? vectors[2] : VIRTIO_NO_VECTOR);
	dq_setup(&n->ctrl, vectors ? vectors[3] : VIRTIO_NO_VECTOR);
	set_status(&n->v, ok | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(status(&n->v), ok | VIRTIO_STATUS_DRIVER_OK);
}

static void nic_start(struct nic *n, uint64_t features, uint16_t rx_size)
{
	nic_start_vec(n, features, rx_size, NULL);
}

static void tap_or_skip(void)
{
	if (!tp.present)
		skip();
}

/* ---- Frames ------------------------------------------------------------------- */

static size_t eth_header(uint8_t *f, const uint8_t *dst, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, guest_mac, 6);
	put_be16(f + 12, type);
	return 14;
}

static bool ip_is(const uint8_t *p, const char *addr)
{
	struct in_addr a;

	inet_pton(AF_INET, addr, &a);
	return memcmp(p, &a, 4) == 0;
}

/* "Who has target? Tell 10.0.2.15", padded to the 60-byte Ethernet minimum. */
static size_t arp_request(uint8_t *f, const char *target)
{
	uint8_t *a = f + eth_header(f, bcast, ETHERTYPE_ARP);

	memset(a, 0, 46);
	put_be16(a, 1);
	put_be16(a + 2, ETHERTYPE_IP);
	a[4] = 6;
	a[5] = 4;
	put_be16(a + 6, 1);
	memcpy(a + 8, guest_mac, 6);
	inet_pton(AF_INET, "10.0.2.15", a + 14);
	inet_pton(AF_INET, target, a + 24);
	return 60;
}

static bool is_arp_reply(const uint8_t *f, size_t n)
{
	const uint8_t *a = f + 14;

	return n >= 42 && be16(f + 12) == ETHERTYPE_ARP && be16(a + 6) == 2 &&
	       ip_is(a + 14, "10.0.2.2") && memcmp(f, guest_mac, 6) == 0;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += be16(p + i);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#define BOOTP_LEN (236 + 312)
#define XID 0x6b76746e

/* DHCPDISCOVER 0.0.0.0:68 -> 255.255.255.255:67; the OFFER is ~600 bytes. */
static size_t dhcp_discover(uint8_t *f)
{
	uint8_t *ip = f + eth_header(f, bcast, ETHERTYPE_IP), *udp = ip + 20, *bp = udp + 8;

	memset(ip, 0, 20 + 8 + BOOTP_LEN);
	ip[0] = 0x45;
	put_be16(ip + 2, 20 + 8 + BOOTP_LEN);
	ip[8] = 64;
	ip[9] = 17;
	memset(ip + 16, 0xff, 4);
	put_be16(ip + 10, ip_checksum(ip, 20));
	put_be16(udp, 68);
	put_be16(udp + 2, 67);
	put_be16(udp + 4, 8 + BOOTP_LEN);
	bp[0] = 1;
	bp[1] = 1;
	bp[2] = 6;
	put_be16(bp + 4, XID >> 16);
	put_be16(bp + 6, XID & 0xffff);
	memcpy(bp + 28, guest_mac, 6);
	memcpy(bp + 236, (const uint8_t[]){ 99, 130, 83, 99, 53, 1, 1, 255 }, 8);
	return 14 + 20 + 8 + BOOTP_LEN;
}

static bool is_dhcp_offer(const uint8_t *f, size_t n)
{
	const uint8_t *ip = f + 14, *udp = ip + 20, *bp = udp + 8;

	return n >= 14 + 20 + 8 + 240 && be16(f + 12) == ETHERTYPE_IP && ip[9] == 17 &&
	       (ip[0] & 0xf) == 5 && be16(udp) == 67 && be16(udp + 2) == 68 && bp[0] == 2 &&
	       be16(bp + 4) == XID >> 16 && be16(bp + 6) == (XID & 0xffff) &&
	       ip_is(bp + 16, "10.0.2.15");
}

/* A 60-byte frame of the test ethertype carrying text, for the tap. */
static size_t test_frame(uint8_t *f, const uint8_t *dst, const char *text)
{
	memset(f, 0, 60);
	eth_header(f, dst, ETHERTYPE_TEST);
	memcpy(f + 14, text, strlen(text));
	return 60;
}

/* ---- Transmit -------------------------------------------------------------------- */

/* Post a chain on the transmit queue and wait for it: its used length. */
static uint32_t tx_chain(struct nic *n, const struct seg *s, unsigned cnt)
{
	struct vring_used_elem_le e;
	uint16_t head = post(&n->tx, s, cnt);

	kick(&n->tx);
	assert_true(wait_used(&n->tx, 1));
	e = take_used(&n->tx);
	assert_int_equal(e.id, head);
	return e.len;
}

/* A zero header (hdr_len bytes) and the frame in two descriptors, as Linux without offloads. */
static void tx_frame_hdr(struct nic *n, const uint8_t *frame, size_t len, uint32_t hdr_len)
{
	memset(ram(TXB(n)), 0, hdr_len);
	memcpy(ram(TXB(n) + 0x100), frame, len);
	assert_int_equal(tx_chain(n, (struct seg[]){ { TXB(n), hdr_len, false },
						    { TXB(n) + 0x100, (uint32_t)len, false } }, 2),
			 0);
}

static void tx_frame(struct nic *n, const uint8_t *frame, size_t len)
{
	tx_frame_hdr(n, frame, len, HDR_LEN);
}

static void tx_arp(struct nic *n)
{
	uint8_t f[60];

	tx_frame(n, f, arp_request(f, "10.0.2.2"));
}

/* ---- Receive ----------------------------------------------------------------------- */

/*
 * Post count receive buffers of len bytes (guard-filled), no kick: one
 * descriptor each, or with first > 0 two adjacent ones split after first bytes.
 */
static void rx_post_split(struct nic *n, uint32_t len, uint32_t first, unsigned count)
{
	assert_true(len <= RXB_STRIDE && first < len);
	for (unsigned i = 0; i < count; i++) {
		uint16_t head = n->rx.next_desc;
		uint64_t gpa = RXB(n) + (uint64_t)head * RXB_STRIDE;
		struct seg segs[2] = { { gpa, first ? first : len, true },
				       { gpa + first, len - first, true } };

		memset(ram(gpa), 0xee, RXB_STRIDE);
		n->rxb[head].gpa = gpa;
		n->rxb[head].len = len;
		assert_int_equal(post(&n->rx, segs, first ? 2 : 1), head);
	}
}

static void rx_post(struct nic *n, uint32_t len, unsigned count)
{
	rx_post_split(n, len, 0, count);
}

/* A received frame: the header and the frame, joined from its buffers. */
struct rxf {
	uint8_t data[NETBE_MAX_FRAME + HDR_LEN];
	size_t len;
	uint16_t nbufs;          /* used entries it took */
	uint32_t lens[64];       /* their used lengths */
};

static struct rxf rxf;

static void rx_append(struct nic *n, struct rxf *f, struct vring_used_elem_le e)
{
	assert_true(e.id < n->rx.size);
	assert_true(e.len <= n->rxb[e.id].len);
	/* Never past the buffer: the guard after it is intact. */
	for (uint32_t i = n->rxb[e.id].len; i < RXB_STRIDE; i++)
		assert_int_equal(*(uint8_t *)ram(n->rxb[e.id].gpa + i), 0xee);
	memcpy(f->data + f->len, ram(n->rxb[e.id].gpa), e.len);
	f->len += e.len;
	f->lens[f->nbufs++] = e.len;
}

/* Take the next received frame (num_buffers used entries); false if none came in 5 s. */
static bool rx_take(struct nic *n, struct rxf *f)
{
	uint16_t nbufs;

	f->len = f->nbufs = 0;
	if (!wait_used_min(&n->rx, 1))
		return false;
	rx_append(n, f, take_used(&n->rx));
	if (f->len < HDR_LEN)
		return true; /* an empty buffer: a dropped frame */
	nbufs = le16(f->data + HDR_NUM_BUFFERS);
	assert_true(nbufs >= 1 && nbufs <= 64);
	while (f->nbufs < nbufs) {
		assert_true(wait_used_min(&n->rx, 1));
		rx_append(n, f, take_used(&n->rx));
	}
	return true;
}

/* Receive until a frame matches (others -- slirp's or the host's chatter -- are skipped). */
static bool rx_expect(struct nic *n, struct rxf *f, bool (*match)(const uint8_t *, size_t))
{
	for (int i = 0; i < 32; i++) {
		if (!rx_take(n, f))
			return false;
		if (f->len > HDR_LEN && match(f->data + HDR_LEN, f->len - HDR_LEN))
			return true;
	}
	return false;
}

/* The header of a frame from a backend without one: all zero but num_buffers. */
static void assert_plain_header(const struct rxf *f)
{
	static const uint8_t zero[HDR_NUM_BUFFERS];

	assert_memory_equal(f->data, zero, sizeof(zero));
	assert_int_equal(le16(f->data + HDR_NUM_BUFFERS), f->nbufs);
}

/* Nothing more arrives on q for a while. */
static bool quiet(const struct dq *q, long ms)
{
	sleep_ms(ms);
	return used_idx(q) == q->used_seen;
}

/* ---- Control queue -------------------------------------------------------------------- */

/* Send a command (len bytes at CTB) with a 1-byte ack; returns the ack, *ulen the used length. */
static uint8_t ctrl_raw(struct nic *n, uint32_t len, uint32_t *ulen)
{
	struct vring_used_elem_le e;
	uint64_t ack = CTB(n) + 0x1000;
	uint16_t head;

	*(uint8_t *)ram(ack) = 0xee;
	head = post(&n->ctrl, (struct seg[]){ { CTB(n), len, false }, { ack, 1, true } }, 2);
	kick(&n->ctrl);
	assert_true(wait_used(&n->ctrl, 1));
	e = take_used(&n->ctrl);
	assert_int_equal(e.id, head);
	if (ulen)
		*ulen = e.len;
	return *(uint8_t *)ram(ack);
}

static uint8_t ctrl(struct nic *n, uint8_t class, uint8_t cmd, const void *data, uint32_t len)
{
	uint8_t *p = ram(CTB(n));
	uint32_t ulen;
	uint8_t ack;

	p[0] = class;
	p[1] = cmd;
	if (len > 0)
		memcpy(p + 2, data, len);
	ack = ctrl_raw(n, 2 + len, &ulen);
	assert_int_equal(ulen, 1);
	return ack;
}

/* ---- Hostile chains ---------------------------------------------------------------------- */

/* Post on q, kick, expect DEVICE_NEEDS_RESET with one line on stderr and nothing used. */
static void expect_needs_reset(struct nic *n, struct dq *q, const struct seg *s, unsigned cnt)
{
	struct capture cap;
	char *err;
	bool broken;

	capture_start(&cap, 2);
	post(q, s, cnt);
	kick(q);
	broken = WAIT_FOR(needs_reset(&n->v));
	err = capture_end(&cap); /* before any assert: a failure must not lose stderr */
	assert_true(broken);
	assert_int_equal(count_lines(err), 1);
	assert_non_null(strstr(err, "needs reset"));
	free(err);
	assert_int_equal(used_idx(q), q->used_seen);
}

/*
 * A reset and a fresh init bring the slirp NIC back: an ARP exchange works.
 * It is left freshly initialised again, without receive buffers (the device
 * pops them only when it needs room, so a bad one posted behind good ones
 * would go unnoticed).
 */
static void check_recovers(struct nic *n)
{
	nic_start(n, features_but(n, 0), 64);
	rx_post(n, BIG, 8);
	kick(&n->rx);
	tx_arp(n);
	assert_true(rx_expect(n, &rxf, is_arp_reply));
	assert_false(needs_reset(&n->v));
	nic_start(n, features_but(n, 0), 64);
}

/* ---- Setup ------------------------------------------------------------------------------ */

static void set(const char *key, const char *value)
{
	assert_int_equal(set_config_value(key, value), 0);
}

/* Can we create a tap (root with /dev/net/tun)? Try, and let it vanish again. */
static bool tap_possible(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	ok = ioctl(fd, TUNSETIFF, &ifr) == 0;
	close(fd);
	return ok;
}

/* The kernel's own IPv6 chatter on a new interface would only be noise here. */
static void tap_quiet_ipv6(void)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", tap_name);
	fp = fopen(path, "w");
	if (fp != NULL) {
		fputs("1\n", fp);
		fclose(fp);
	}
}

static int group_setup(void **state)
{
	vd_vm_init(RAM_SIZE);
	config_init();
	set("name", VM_NAME);
	set("pci.0.0.0.device", "hostbridge");
	set("pci.0.3.0.device", "virtio-net");
	set("pci.0.3.0.backend", "slirp");
	set("pci.0.3.0.mac", "52:54:0:12:34:56"); /* a one-digit group, as FreeBSD prints */
	set("pci.0.4.0.device", "virtio-net");
	snprintf(tap_name, sizeof(tap_name), "kvn%d", (int)(getpid() % 100000));
	tp.present = tap_possible(tap_name);
	if (tp.present) {
		set("pci.0.5.0.device", "virtio-net");
		set("pci.0.5.0.backend", tap_name);
		set("pci.0.5.0.type", "tap");
	}
	assert_int_equal(pci_init(&ctx), 0);
	find_caps(&sl.v);
	find_caps(&nul.v);
	if (tp.present) {
		find_caps(&tp.v);
		tap_quiet_ipv6();
	}
	vd_loop_start();
	return 0;
}

static int group_teardown(void **state)
{
	vd_loop_stop();
	return 0;
}

/*
 * Frames slirp still holds for the guest from an earlier test (replies to a
 * burst) would land in this test's buffers: take them all first.
 */
static void slirp_drain(void)
{
	nic_start(&sl, features_but(&sl, 0), 256);
	rx_post(&sl, BIG, 128);
	kick(&sl.rx);
	for (int i = 0; i < 100 && !quiet(&sl.rx, 30); i++) {
		while (used_idx(&sl.rx) != sl.rx.used_seen) {
			(void)take_used(&sl.rx);
			rx_post(&sl, BIG, 1);
		}
		kick(&sl.rx);
	}
}

/* Each test: MSI-X off, every NIC freshly initialised with all it offers (no buffers). */
static int setup(void **state)
{
	slirp_drain();
	struct nic *nics[] = { &sl, &nul, &tp };

	for (size_t i = 0; i < 3; i++) {
		if (!nics[i]->present)
			continue;
		msix_disable(&nics[i]->v, 4);
		nic_start(nics[i], features_but(nics[i], 0), 64);
		(void)mmio_rd(nics[i]->v.isr, 1);
	}
	msi_clear();
	return 0;
}

/* ---- Init failures (each in a child: pci_init runs once per process) --------------------- */

/* pci_init with one virtio-net of these keys; its exit status says whether it failed. */
static char *init_fails(const char *key, const char *value)
{
	struct vmctx c = { .vm_fd = -1, .kvm_fd = -1, .lowmem = 1 << 20 };
	char buf[1024];
	int pfd[2], st;
	ssize_t len = 0, n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		config_init();
		if (mevent_init() < 0 || set_config_value("pci.0.3.0.device", "virtio-net") < 0 ||
		    set_config_value(key, value) < 0)
			_exit(2);
		/* _exit: a failed init leaks, as khyve exits at once then too. */
		_exit(pci_init(&c) == -1 ? 0 : 1);
	}
	close(pfd[1]);
	while (len < (ssize_t)sizeof(buf) - 1 && (n = read(pfd[0], buf + len,
							    sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	buf[len] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	return strdup(buf);
}

static void expect_init_error(const char *key, const char *value, const char *want)
{
	char *err = init_fails(key, value);

	if (count_lines(err) != 1 || strcmp(err, want) != 0)
		fail_msg("got: '%s' wanted: '%s'", err, want);
	free(err);
}

static void test_init_bad_mac(void **state)
{
	static const char *const bad[] = {
		"zz:54:00:12:34:56", "52:54:00:12:34", "52:54:00:12:34:56:78",
		"01:00:5e:00:00:01" /* multicast */, "00:00:00:00:00:00", "52:54:00:12:34:56 ",
		"",
	};
	char want[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want),
			 "khyve: pci 0:3:0 virtio-net: invalid MAC address '%s'\n", bad[i]);
		expect_init_error("pci.0.3.0.mac", bad[i], want);
	}
}

static void test_init_bad_mtu(void **state)
{
	static const char *const bad[] = { "67", "65518", "1500x", "-1", "" };
	char want[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want),
			 "khyve: pci 0:3:0 virtio-net: invalid MTU '%s' (68 to 65517)\n", bad[i]);
		expect_init_error("pci.0.3.0.mtu", bad[i], want);
	}
}

static void test_init_bad_backend(void **state)
{
	char *err = init_fails("pci.0.3.0.backend", "netgraph0");

	assert_int_equal(count_lines(err), 1);
	assert_non_null(strstr(err, "FreeBSD-only"));
	free(err);
}

/* vhost=: on or off; on needs a backend the kernel can drive (a tap). */
static void test_init_bad_vhost(void **state)
{
	expect_init_error("pci.0.3.0.vhost", "maybe",
			  "khyve: pci 0:3:0 virtio-net: vhost=maybe: say on or off\n");
	expect_init_error("pci.0.3.0.vhost", "on",
			  "khyve: pci 0:3:0 virtio-net: vhost=on needs a tap backend\n");
}

/* ---- Features and config space ------------------------------------------------------------ */

static void test_features(void **state)
{
	uint64_t want = BIT(F_MAC) | BIT(F_STATUS) | BIT(F_MRG_RXBUF) | BIT(F_CTRL_VQ) |
			BIT(F_CTRL_RX) | BIT(F_CTRL_MAC_ADDR) | BIT(VIRTIO_F_VERSION_1);
	uint8_t ad = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	uint64_t f = device_features(&sl.v);

	assert_int_equal(cfg_rd(sl.v.slot, 0, 4), 0x10001af4u);   /* transitional virtio-net */
	assert_int_equal(cfg_rd(sl.v.slot, PCIR_SUBDEV, 2), VIRTIO_ID_NET);
	assert_int_equal(cfg_rd(sl.v.slot, PCIR_CLASS, 1), 0x02);   /* network */
	assert_int_equal(cc_rd(&sl.v, CC_NUM_QUEUES, 2), 3);
	assert_int_equal(f & want, want);
	/* No vnet header through slirp: no offloads, and no MTU without mtu=. */
	assert_int_equal(f & OFFLOADS, 0);
	assert_false(f & BIT(F_MTU));
	assert_int_equal(device_features(&nul.v), f);
	/* Asking for what slirp lacks is refused. */
	assert_int_equal(drv_negotiate(&sl.v, f | BIT(F_CSUM)), ad);
	assert_int_equal(drv_negotiate(&sl.v, f | BIT(F_GUEST_TSO4)), ad);
	/* A tap carries the header: every offload is offered. */
	if (tp.present) {
		uint64_t t = device_features(&tp.v);

		assert_int_equal(t & want, want);
		assert_int_equal(t & OFFLOADS, OFFLOADS);
		assert_true(drv_negotiate(&tp.v, t & ~BIT(VIRTIO_F_EVENT_IDX)) &
			    VIRTIO_STATUS_FEATURES_OK);
	}
}

static void test_config_space(void **state)
{
	uint8_t mac[6], want[6] = { 0x00, 0xa0, 0x98 }, digest[16];
	MD5_CTX md;

	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)mmio_rd(sl.v.devcfg + i, 1);
	assert_memory_equal(mac, guest_mac, 6);
	assert_int_equal(mmio_rd(sl.v.devcfg + 6, 2), 1);        /* status: LINK_UP */
	assert_int_equal(mmio_rd(sl.v.devcfg + 8, 2), 1);        /* max_virtqueue_pairs */
	/* Wider reads too (Linux reads the MAC bytewise, others may not). */
	assert_int_equal(mmio_rd(sl.v.devcfg, 4), 0x12005452u);
	/* No mac=: bhyve's 00:a0:98 + MD5("slot-func-vmname"). */
	MD5Init(&md);
	MD5Update(&md, (const uint8_t *)"4-0-" VM_NAME, strlen("4-0-" VM_NAME));
	MD5Final(digest, &md);
	memcpy(want + 3, digest, 3);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)mmio_rd(nul.v.devcfg + i, 1);
	assert_memory_equal(mac, want, 6);
	/* Config space is read-only: a write changes nothing. */
	mmio_wr(sl.v.devcfg, 1, 0xaa);
	assert_int_equal(mmio_rd(sl.v.devcfg, 1), guest_mac[0]);
	/* Beyond the structure reads 0. */
	assert_int_equal(mmio_rd(sl.v.devcfg + 0x100, 4), 0);
}

/* ---- Frames through slirp ----------------------------------------------------------------- */

static void test_arp_roundtrip(void **state)
{
	uint8_t f[600];

	rx_post(&sl, BIG, 16);
	kick(&sl.rx);
	tx_arp(&sl);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
	assert_int_equal(rxf.nbufs, 1);
	assert_plain_header(&rxf);
	assert_int_equal(rxf.lens[0], rxf.len);
	assert_true(rxf.len >= HDR_LEN + 42 && rxf.len <= HDR_LEN + 64);
	assert_false(needs_reset(&sl.v));
	/* And DHCP: the offer for 10.0.2.15. */
	tx_frame(&sl, f, dhcp_discover(f));
	assert_true(rx_expect(&sl, &rxf, is_dhcp_offer));
	assert_int_equal(rxf.nbufs, 1);
	assert_plain_header(&rxf);
}

/* Mergeable buffers of 64 bytes: the offer spans many, and says how many. */
static void test_rx_tiny_mergeable(void **state)
{
	uint8_t f[600];
	uint32_t sum = 0;

	rx_post(&sl, 64, 64);
	kick(&sl.rx);
	tx_frame(&sl, f, dhcp_discover(f));
	assert_true(rx_expect(&sl, &rxf, is_dhcp_offer));
	assert_plain_header(&rxf);
	assert_int_equal(rxf.nbufs, (rxf.len + 63) / 64);
	assert_true(rxf.nbufs > 2);
	for (unsigned i = 0; i < rxf.nbufs; i++) {
		if (i + 1 < rxf.nbufs)
			assert_int_equal(rxf.lens[i], 64);
		sum += rxf.lens[i];
	}
	assert_int_equal(sum, rxf.len);
}

/*
 * A whole (small) ring of tiny buffers is all this guest can give: a small
 * frame must still get through, not wait for room for a 1514-byte one.
 */
static void test_rx_small_ring_tiny_buffers(void **state)
{
	nic_start(&sl, features_but(&sl, 0), 16);
	rx_post(&sl, 64, 16);       /* 1 KiB in all */
	kick(&sl.rx);
	tx_arp(&sl);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
	assert_int_equal(rxf.nbufs, 2);
}

/*
 * The same with two descriptors per buffer: 8 chains fill a ring of 16, so
 * "a whole ring of chains" is never reached; what counts is that the guest
 * has no descriptor left to give.
 */
static void test_rx_small_ring_split_buffers(void **state)
{
	nic_start(&sl, features_but(&sl, 0), 16);
	rx_post_split(&sl, 64, 12, 8);
	kick(&sl.rx);
	tx_arp(&sl);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
	assert_int_equal(rxf.nbufs, 2);
}

/* Without MRG_RXBUF a frame bigger than the buffer is dropped: used length 0, no overflow. */
static void test_rx_nonmergeable_too_small(void **state)
{
	struct vring_used_elem_le e;
	uint8_t f[600];

	nic_start(&sl, features_but(&sl, BIT(F_MRG_RXBUF)), 64);
	rx_post(&sl, 128, 1);
	kick(&sl.rx);
	tx_frame(&sl, f, dhcp_discover(f));
	/*
	 * The offer (~600 bytes) comes and goes: the buffer comes back empty
	 * (used length 0), and nothing was written past its end.
	 */
	assert_true(wait_used(&sl.rx, 1));
	e = take_used(&sl.rx);
	assert_int_equal(e.len, 0);
	for (unsigned i = 128; i < RXB_STRIDE; i++)
		assert_int_equal(((uint8_t *)ram(sl.rxb[e.id].gpa))[i], 0xee);
	assert_false(needs_reset(&sl.v));
	/* A big enough buffer gets the next frame whole, num_buffers 1. */
	rx_post(&sl, 1600, 4);
	kick(&sl.rx);
	tx_arp(&sl);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
	assert_int_equal(rxf.nbufs, 1);
	assert_plain_header(&rxf);
}

/* The header may be split across descriptors, and the frame too (2.6.4). */
static void test_tx_split(void **state)
{
	uint8_t f[60];

	arp_request(f, "10.0.2.2");
	memset(ram(TXB(&sl)), 0, HDR_LEN);
	memcpy(ram(TXB(&sl) + 0x100), f, 20);
	memcpy(ram(TXB(&sl) + 0x200), f + 20, 40);
	rx_post(&sl, BIG, 8);
	kick(&sl.rx);
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { TXB(&sl), 5, false },
						     { TXB(&sl) + 5, 0, false },
						     { TXB(&sl) + 5, 7, false },
						     { TXB(&sl) + 0x100, 20, false },
						     { TXB(&sl) + 0x200, 40, false } }, 5), 0);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
	/* Header and frame in one descriptor. */
	memcpy(ram(TXB(&sl) + HDR_LEN), f, 60);
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { TXB(&sl), HDR_LEN + 60, false } }, 1), 0);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
}

/*
 * More frames waiting than one wakeup's batch (64): all arrive without the
 * guest kicking again (net_backend.h: on rx_ready the device receives until
 * none is left, or turns notifications off and on again).
 */
static void test_rx_burst(void **state)
{
	uint8_t f[60];
	int got = 0;

	nic_start(&sl, features_but(&sl, 0), 256);
	rx_post(&sl, BIG, 200);
	kick(&sl.rx);
	/* 100 requests in one kick: slirp answers each at once, while the loop is busy here. */
	memset(ram(TXB(&sl)), 0, HDR_LEN);
	memcpy(ram(TXB(&sl) + HDR_LEN), f, arp_request(f, "10.0.2.2"));
	for (int i = 0; i < 100; i++)
		post(&sl.tx, (struct seg[]){ { TXB(&sl), HDR_LEN + 60, false } }, 1);
	kick(&sl.tx);
	assert_true(wait_used(&sl.tx, 100));
	sl.tx.used_seen += 100;
	while (got < 100 && rx_take(&sl, &rxf))
		got += rxf.len > HDR_LEN && is_arp_reply(rxf.data + HDR_LEN, rxf.len - HDR_LEN);
	assert_int_equal(got, 100);
}

/* ---- Hostile transmit chains: dropped, the device goes on ------------------------------------- */

static void test_tx_truncated(void **state)
{
	uint64_t b = TXB(&sl);

	memset(ram(b), 0, 0x1000);
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { b, 8, false } }, 1), 0);
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { b, HDR_LEN, false } }, 1), 0);
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { b, HDR_LEN, false },
						     { b + 0x100, 13, false } }, 2), 0);
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { b, 0, false } }, 1), 0);
	assert_false(needs_reset(&sl.v));
	check_recovers(&sl);
}

/* Writable descriptors on the transmit queue: never written, never a reset. */
static void test_tx_writable(void **state)
{
	uint64_t b = TXB(&sl);
	uint8_t f[60];

	memset(ram(b + 0x1000), 0x5a, 256);
	/* Only writable: no frame at all. */
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { b + 0x1000, 128, true } }, 1), 0);
	/*
	 * A frame followed by a writable buffer: the device reads only the
	 * readable part (2.7.4: it SHOULD NOT read device-writable buffers).
	 */
	memset(ram(b), 0, HDR_LEN);
	memcpy(ram(b + 0x100), f, arp_request(f, "10.0.2.2"));
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { b, HDR_LEN, false },
						     { b + 0x100, 60, false },
						     { b + 0x1000, 128, true } }, 3), 0);
	for (unsigned i = 0; i < 256; i++)
		assert_int_equal(((uint8_t *)ram(b + 0x1000))[i], 0x5a);
	assert_false(needs_reset(&sl.v));
	check_recovers(&sl);
}

/* Larger than any frame (64 KiB TSO + headers): dropped, not handed to the backend. */
static void test_tx_huge(void **state)
{
	uint64_t b = TXB(&sl);

	memset(ram(b), 0, 0x20000);
	memcpy(ram(b + HDR_LEN), bcast, 6);
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { b, HDR_LEN, false },
						     { b + HDR_LEN, 70000, false } }, 2), 0);
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { b, NETBE_MAX_FRAME + 1, false } }, 1), 0);
	assert_false(needs_reset(&sl.v));
	check_recovers(&sl);
}

/* Many frames in one kick, more than the ring's size over a few rounds. */
static void test_tx_batch(void **state)
{
	uint8_t f[60];

	arp_request(f, "10.0.2.2");
	memset(ram(TXB(&sl)), 0, HDR_LEN);
	memcpy(ram(TXB(&sl) + 0x100), f, 60);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 30; i++)
			post(&sl.tx, (struct seg[]){ { TXB(&sl), HDR_LEN, false },
						     { TXB(&sl) + 0x100, 60, false } }, 2);
		kick(&sl.tx);
		assert_true(wait_used(&sl.tx, 30));
		for (int i = 0; i < 30; i++)
			assert_int_equal(take_used(&sl.tx).len, 0);
	}
	rx_post(&sl, BIG, 32);
	kick(&sl.rx);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
}

/* ---- Hostile receive chains: DEVICE_NEEDS_RESET ------------------------------------------------ */

static void test_rx_readable_buffer(void **state)
{
	expect_needs_reset(&sl, &sl.rx, (struct seg[]){ { RXB(&sl), 2048, false } }, 1);
	/* Kicks are ignored from now on; a reset and init bring it back. */
	kick(&sl.tx);
	check_recovers(&sl);
	/* Readable then writable is still not a receive buffer. */
	expect_needs_reset(&sl, &sl.rx, (struct seg[]){ { RXB(&sl), 12, false },
						      { RXB(&sl) + 64, 2048, true } }, 2);
	check_recovers(&sl);
}

static void test_rx_outside_ram(void **state)
{
	expect_needs_reset(&sl, &sl.rx, (struct seg[]){ { RAM_SIZE - 100, 2048, true } }, 1);
	check_recovers(&sl);
	expect_needs_reset(&sl, &sl.rx, (struct seg[]){ { 0xc0000000ull, 2048, true } }, 1);
	check_recovers(&sl);
	expect_needs_reset(&sl, &sl.rx, (struct seg[]){ { UINT64_MAX - 15, 32, true } }, 1);
	check_recovers(&sl);
}

/* Smaller than the header: no frame can ever go there (5.1.6.3.1). */
static void test_rx_shorter_than_header(void **state)
{
	expect_needs_reset(&sl, &sl.rx, (struct seg[]){ { RXB(&sl), HDR_LEN - 1, true } }, 1);
	check_recovers(&sl);
}

/* ---- Control queue ---------------------------------------------------------------------------- */

static void test_ctrl_rx_mode(void **state)
{
	uint8_t on = 1, off = 0;

	assert_int_equal(ctrl(&sl, CTRL_RX, CTRL_RX_PROMISC, &on, 1), ACK_OK);
	assert_int_equal(ctrl(&sl, CTRL_RX, CTRL_RX_ALLMULTI, &on, 1), ACK_OK);
	assert_int_equal(ctrl(&sl, CTRL_RX, CTRL_RX_PROMISC, &off, 1), ACK_OK);
	/* Missing the on/off byte. */
	assert_int_equal(ctrl(&sl, CTRL_RX, CTRL_RX_PROMISC, NULL, 0), ACK_ERR);
	/* A MAC filter table (empty unicast and multicast lists). */
	assert_int_equal(ctrl(&sl, CTRL_MAC, CTRL_MAC_TABLE_SET, (uint8_t[8]){ 0 }, 8), ACK_OK);
	/* The device still works. */
	rx_post(&sl, BIG, 8);
	kick(&sl.rx);
	tx_arp(&sl);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
}

static void read_mac(const struct nic *n, uint8_t *mac)
{
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)mmio_rd(n->v.devcfg + i, 1);
}

static void test_ctrl_mac_addr_set(void **state)
{
	static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	uint8_t mac[6];

	assert_int_equal(ctrl(&sl, CTRL_MAC, CTRL_MAC_ADDR_SET, other, 6), ACK_OK);
	read_mac(&sl, mac);
	assert_memory_equal(mac, other, 6);
	/* Wrong lengths: refused, MAC unchanged. */
	assert_int_equal(ctrl(&sl, CTRL_MAC, CTRL_MAC_ADDR_SET, guest_mac, 5), ACK_ERR);
	assert_int_equal(ctrl(&sl, CTRL_MAC, CTRL_MAC_ADDR_SET, (uint8_t[7]){ 0 }, 7), ACK_ERR);
	read_mac(&sl, mac);
	assert_memory_equal(mac, other, 6);
	/* Set back, as the next driver would expect to find it. */
	assert_int_equal(ctrl(&sl, CTRL_MAC, CTRL_MAC_ADDR_SET, guest_mac, 6), ACK_OK);
	read_mac(&sl, mac);
	assert_memory_equal(mac, guest_mac, 6);
}

/* A device reset brings back the configured MAC (as QEMU does; the next driver reads it). */
static void test_ctrl_mac_reset(void **state)
{
	static const uint8_t other[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	uint8_t mac[6];

	assert_int_equal(ctrl(&sl, CTRL_MAC, CTRL_MAC_ADDR_SET, other, 6), ACK_OK);
	drv_reset(&sl.v);
	read_mac(&sl, mac);
	assert_memory_equal(mac, guest_mac, 6);
}

static void test_ctrl_errors(void **state)
{
	uint8_t *p = ram(CTB(&sl));
	uint32_t ulen;

	/* Unknown class, unknown MAC command. */
	assert_int_equal(ctrl(&sl, 0x7f, 0, (uint8_t[1]){ 1 }, 1), ACK_ERR);
	assert_int_equal(ctrl(&sl, 4 /* VLAN: not offered */, 0, (uint8_t[2]){ 0 }, 2), ACK_ERR);
	assert_int_equal(ctrl(&sl, CTRL_MAC, 9, guest_mac, 6), ACK_ERR);
	/* Too short for class and command. */
	p[0] = CTRL_RX;
	assert_int_equal(ctrl_raw(&sl, 1, &ulen), ACK_ERR);
	assert_int_equal(ulen, 1);
	/* Far longer than any command: refused whole, not truncated and obeyed. */
	memset(p, 0, 4096);
	p[0] = CTRL_RX;
	p[2] = 1;
	assert_int_equal(ctrl_raw(&sl, 300, &ulen), ACK_ERR);
	assert_int_equal(ctrl_raw(&sl, 4096, &ulen), ACK_ERR);
	assert_int_equal(ulen, 1);
	assert_false(needs_reset(&sl.v));
}

/*
 * A command without a writable ack byte cannot be answered: the driver broke
 * the queue (5.1.6.5: ack is device-writable). NEEDS_RESET, as QEMU's
 * "virtio-net ctrl missing headers" does.
 */
static void test_ctrl_no_ack(void **state)
{
	uint8_t *p = ram(CTB(&sl));

	p[0] = CTRL_RX;
	p[1] = CTRL_RX_PROMISC;
	p[2] = 1;
	expect_needs_reset(&sl, &sl.ctrl, (struct seg[]){ { CTB(&sl), 3, false } }, 1);
	check_recovers(&sl);
	/* A zero-length "ack" is no ack either. */
	expect_needs_reset(&sl, &sl.ctrl, (struct seg[]){ { CTB(&sl), 3, false },
							{ CTB(&sl) + 0x1000, 0, true } }, 2);
	check_recovers(&sl);
}

/* ---- Reset, idleness ---------------------------------------------------------------------------- */

/* Reset with buffers reserved and frames waiting: old buffers are never written again. */
static void test_reset_with_frames_pending(void **state)
{
	uint64_t old = RXB(&sl);

	rx_post(&sl, 64, 8);        /* reserved, but too little for a full frame */
	kick(&sl.rx);
	for (int i = 0; i < 3; i++)
		tx_arp(&sl);
	sleep_ms(50);               /* the replies wait in the backend */
	assert_true(quiet(&sl.rx, 0));
	drv_reset(&sl.v);
	memset(ram(old), 0x77, 8 * RXB_STRIDE);
	/* Re-init with the buffers elsewhere (free RAM): the waiting replies arrive there. */
	sl.buf = FREE_RAM;
	nic_start(&sl, features_but(&sl, 0), 64);
	rx_post(&sl, BIG, 16);
	kick(&sl.rx);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
	sl.buf = SL_BUF;
	for (unsigned i = 0; i < 8 * RXB_STRIDE; i++)
		assert_int_equal(((uint8_t *)ram(old))[i], 0x77);
	check_recovers(&sl);
}

/* CPU the event loop uses over ms milliseconds. */
static uint64_t loop_cpu_ms(long ms)
{
	uint64_t t0 = vd_loop_cpu_ns();

	sleep_ms(ms);
	return (vd_loop_cpu_ns() - t0) / 1000000;
}

/* No receive buffers: frames wait in the backend and the loop sleeps; buffers + kick deliver. */
static void test_no_buffers_no_spin(void **state)
{
	tx_arp(&sl);
	sleep_ms(50);
	assert_true(loop_cpu_ms(300) < 30);
	assert_true(quiet(&sl.rx, 0));
	rx_post(&sl, BIG, 8);
	kick(&sl.rx);
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
}

/* MSI-X: transmit and receive completions on their vectors, NEEDS_RESET on the config one. */
static void test_msix(void **state)
{
	static const uint16_t vec[4] = { 0, 1, 2, 3 };

	msix_program(&sl.v, 4);
	nic_start_vec(&sl, features_but(&sl, 0), 64, vec);
	msi_clear();
	rx_post(&sl, BIG, 8);
	kick(&sl.rx);
	tx_arp(&sl);
	assert_true(WAIT_FOR(msi_vector_count(2) >= 1));
	assert_true(rx_expect(&sl, &rxf, is_arp_reply));
	assert_true(WAIT_FOR(msi_vector_count(1) >= 1));
	assert_int_equal(msi_vector_count(0), 0);
	assert_int_equal(msi_vector_count(3), 0);
	/* A broken ring: the config vector. */
	expect_needs_reset(&sl, &sl.tx, (struct seg[]){ { RAM_SIZE, 64, false } }, 1);
	assert_true(WAIT_FOR(msi_vector_count(0) == 1));
	msix_disable(&sl.v, 4);
	check_recovers(&sl);
}

/* ---- No backend ---------------------------------------------------------------------------------- */

static void test_null_backend(void **state)
{
	uint8_t f[60];

	rx_post(&nul, BIG, 8);
	kick(&nul.rx);
	tx_frame(&nul, f, arp_request(f, "10.0.2.2"));
	assert_true(quiet(&nul.rx, 50));
	assert_false(needs_reset(&nul.v));
}

/* ---- tap: frames with their vnet header ------------------------------------------------------------ */

static int packet_socket(void)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETHERTYPE_TEST),
		.sll_ifindex = (int)if_nametoindex(tap_name),
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETHERTYPE_TEST));

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

/* The host sends a frame to the guest through the tap. */
static void host_send(int ps, const uint8_t *f, size_t len)
{
	struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_halen = 6,
				  .sll_ifindex = (int)if_nametoindex(tap_name) };

	memcpy(to.sll_addr, guest_mac, 6);
	assert_int_equal(sendto(ps, f, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
}

/* The next test frame the host sees from the guest within ms; its length or 0. */
static size_t host_recv(int ps, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd pfd = { .fd = ps, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	n = recv(ps, buf, cap, 0);
	assert_true(n > 0);
	return (size_t)n;
}

static const char *want_text;

static bool is_test_frame(const uint8_t *f, size_t n)
{
	return n >= 60 && be16(f + 12) == ETHERTYPE_TEST &&
	       memcmp(f + 14, want_text, strlen(want_text)) == 0;
}

static void test_tap_frames(void **state)
{
	uint8_t f[60], in[128];
	int ps;

	tap_or_skip();
	ps = packet_socket();
	/* Guest -> host: the header stays behind, the frame arrives. */
	memset(ram(TXB(&tp)), 0, HDR_LEN);
	test_frame(ram(TXB(&tp) + HDR_LEN), bcast, "khyve guest tx");
	assert_int_equal(tx_chain(&tp, (struct seg[]){ { TXB(&tp), HDR_LEN + 60, false } }, 1), 0);
	assert_int_equal(host_recv(ps, in, sizeof(in), 5000), 60);
	assert_memory_equal(in, ram(TXB(&tp) + HDR_LEN), 60);
	/* Truncated and huge frames never reach the host. */
	assert_int_equal(tx_chain(&tp, (struct seg[]){ { TXB(&tp), HDR_LEN + 13, false } }, 1), 0);
	assert_int_equal(tx_chain(&tp, (struct seg[]){ { TXB(&tp), NETBE_MAX_FRAME + 1, false } },
				  1), 0);
	assert_int_equal(host_recv(ps, in, sizeof(in), 100), 0);
	/* Host -> guest: behind a header with num_buffers 1. */
	rx_post(&tp, BIG, TAP_BUFS);
	kick(&tp.rx);
	host_send(ps, f, test_frame(f, guest_mac, "khyve host tx"));
	want_text = "khyve host tx";
	assert_true(rx_expect(&tp, &rxf, is_test_frame));
	assert_int_equal(rxf.len, HDR_LEN + 60);
	assert_int_equal(rxf.nbufs, 1);
	assert_plain_header(&rxf);
	close(ps);
}

/*
 * Host -> guest into tiny mergeable buffers, each split after 5 bytes (the
 * header spans descriptors): the tap writes the frame straight into them in
 * order, and the device puts num_buffers into the header afterwards.
 */
static void test_tap_rx_scattered(void **state)
{
	uint8_t f[300];
	int ps;

	tap_or_skip();
	/* Without GUEST_TSO the device waits for room for a 1500-byte frame only. */
	nic_start(&tp, features_but(&tp, BIT(F_GUEST_TSO4) | BIT(F_GUEST_TSO6) | BIT(F_GUEST_ECN)), 256);
	ps = packet_socket();
	rx_post_split(&tp, 64, 5, 32);
	kick(&tp.rx);
	test_frame(f, guest_mac, "khyve scattered");
	for (unsigned i = 60; i < sizeof(f); i++)
		f[i] = (uint8_t)(i * 7);
	host_send(ps, f, sizeof(f));
	want_text = "khyve scattered";
	assert_true(rx_expect(&tp, &rxf, is_test_frame));
	assert_int_equal(rxf.len, HDR_LEN + sizeof(f));
	assert_int_equal(rxf.nbufs, (HDR_LEN + sizeof(f) + 63) / 64);
	assert_plain_header(&rxf);
	assert_memory_equal(rxf.data + HDR_LEN, f, sizeof(f));
	close(ps);
}

static void tap_set_mtu(int mtu)
{
	struct ifreq ifr = { .ifr_mtu = mtu };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	strncpy(ifr.ifr_name, tap_name, IFNAMSIZ - 1);
	assert_int_equal(ioctl(s, SIOCSIFMTU, &ifr), 0);
	close(s);
}

#define STREAM_MTU 9000
#define STREAM_BURST 16

/* Test frame seq: its length (60 to STREAM_MTU + 14) and bytes, from seq alone. */
static size_t stream_frame(uint8_t *f, uint32_t seq)
{
	uint32_t x = seq * 2654435761u;
	size_t len = 60 + x % (STREAM_MTU + 14 - 60 + 1);

	eth_header(f, guest_mac, ETHERTYPE_TEST);
	memcpy(f + 14, "khyve stream", 12);
	memcpy(f + 26, &seq, 4);
	for (size_t i = 30; i < len; i++) {
		x = x * 1103515245u + 12345u;
		f[i] = (uint8_t)(x >> 16);
	}
	return len;
}

/*
 * Host -> guest, thousands of frames of every size up to a 9000-byte MTU,
 * into Linux-sized mergeable buffers that the guest gives back as it
 * consumes them (the ring wraps many times): every frame arrives whole and
 * in order, with num_buffers right, never a byte past a buffer, and the
 * guest RAM no buffer covers stays untouched.
 */
static void test_tap_rx_stream(void **state)
{
	static uint8_t f[STREAM_MTU + 14];
	uint32_t sent = 0, got = 0;
	int ps;

	tap_or_skip();
	tap_set_mtu(STREAM_MTU);
	nic_start(&tp, features_but(&tp, 0), 256);
	memset(ram(FREE_RAM), 0x5a, RAM_SIZE - FREE_RAM);
	ps = packet_socket();
	rx_post(&tp, BIG, 256);
	kick(&tp.rx);
	want_text = "khyve stream";
	while (got < 3000) {
		for (int i = 0; i < STREAM_BURST; i++, sent++)
			host_send(ps, f, stream_frame(f, sent));
		while (got < sent) {
			size_t len;

			assert_true(rx_expect(&tp, &rxf, is_test_frame));
			len = stream_frame(f, got++);
			assert_int_equal(rxf.len, HDR_LEN + len);
			assert_int_equal(rxf.nbufs, (HDR_LEN + len + BIG - 1) / BIG);
			assert_plain_header(&rxf);
			assert_memory_equal(rxf.data + HDR_LEN, f, len);
			rx_post(&tp, BIG, rxf.nbufs);
			kick(&tp.rx);
		}
	}
	for (size_t i = FREE_RAM; i < RAM_SIZE; i++)
		assert_int_equal(*(uint8_t *)ram(i), 0x5a);
	close(ps);
	tap_set_mtu(1500);
}

/* ---- TCP from the host's stack, with TSO -------------------------------------- */

#define TCP_HOST "10.77.0.1"
#define TCP_GUEST "10.77.0.2"
#define TCP_PORT 5555
#define TCP_MSS 1460
#define TCP_SEND 60000

static void tap_ioctl(unsigned long req, void *arg)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	assert_int_equal(ioctl(s, req, arg), 0);
	close(s);
}

static void tap_set_ipv4(const char *addr)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&ifr.ifr_addr;

	strncpy(ifr.ifr_name, tap_name, IFNAMSIZ - 1);
	in->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &in->sin_addr);
	tap_ioctl(SIOCSIFADDR, &ifr);
}

/* The host reaches TCP_GUEST at guest_mac without asking (the test answers no ARP). */
static void tap_static_neighbour(void)
{
	struct arpreq ar = { .arp_flags = ATF_COM | ATF_PERM };
	struct sockaddr_in *pa = (struct sockaddr_in *)&ar.arp_pa;

	pa->sin_family = AF_INET;
	inet_pton(AF_INET, TCP_GUEST, &pa->sin_addr);
	ar.arp_ha.sa_family = ARPHRD_ETHER;
	memcpy(ar.arp_ha.sa_data, guest_mac, 6);
	strncpy(ar.arp_dev, tap_name, sizeof(ar.arp_dev) - 1);
	tap_ioctl(SIOCSARP, &ar);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

/* A TCP segment from the host to the guest's port (frame after the header). */
static bool is_host_tcp(const uint8_t *f, size_t n)
{
	return n >= 54 && be16(f + 12) == ETHERTYPE_IP && f[23] == 6 && be16(f + 36) == TCP_PORT;
}

/* The guest's SYN-ACK (MSS option, no window scaling), checksums computed. */
static size_t syn_ack(uint8_t *f, const uint8_t *syn, uint32_t iss)
{
	uint8_t *ip = f + 14, *tcp = ip + 20, pseudo[12 + 24];

	memcpy(f, syn + 6, 6);
	memcpy(f + 6, guest_mac, 6);
	put_be16(f + 12, ETHERTYPE_IP);
	memset(ip, 0, 44);
	ip[0] = 0x45;
	put_be16(ip + 2, 44);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, syn + 30, 4);
	memcpy(ip + 16, syn + 26, 4);
	put_be16(ip + 10, ip_checksum(ip, 20));
	put_be16(tcp, TCP_PORT);
	memcpy(tcp + 2, syn + 34, 2);
	put_be32(tcp + 4, iss);
	put_be32(tcp + 8, be32(syn + 38) + 1);
	tcp[12] = 6 << 4;
	tcp[13] = 0x12; /* SYN ACK */
	put_be16(tcp + 14, 65535);
	memcpy(tcp + 20, (const uint8_t[]){ 2, 4, TCP_MSS >> 8, TCP_MSS & 0xff }, 4);
	memcpy(pseudo, ip + 12, 8);
	put_be16(pseudo + 8, 6);
	put_be16(pseudo + 10, 24);
	memcpy(pseudo + 12, tcp, 24);
	put_be16(tcp + 16, ip_checksum(pseudo, sizeof(pseudo)));
	return 14 + 44;
}

static uint8_t tcp_pattern(uint32_t off)
{
	return (uint8_t)(off * 7 + (off >> 8));
}

/*
 * The host's own TCP stack sends to the guest over the tap (offloads on):
 * its first flight arrives as TCP super-frames -- GSO type TCPV4, the
 * MSS the guest asked for, checksum left to the guest -- over several
 * mergeable buffers, and every payload byte is the one the host wrote.
 */
static void test_tap_rx_tso_from_host(void **state)
{
	static uint8_t out[TCP_SEND];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(TCP_PORT) };
	const struct virtio_net_hdr *vh = (const void *)rxf.data;
	const uint8_t *f = rxf.data + HDR_LEN;
	uint8_t synack[64];
	uint32_t isn, got = 0;
	unsigned super = 0;
	int s;

	tap_or_skip();
	nic_start(&tp, features_but(&tp, 0), 256);
	tap_set_ipv4(TCP_HOST);
	tap_static_neighbour();
	rx_post(&tp, BIG, 256);
	kick(&tp.rx);
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	inet_pton(AF_INET, TCP_GUEST, &to.sin_addr);
	assert_int_equal(connect(s, (struct sockaddr *)&to, sizeof(to)), -1);
	assert_true(rx_expect(&tp, &rxf, is_host_tcp));
	assert_int_equal(f[47], 0x02); /* SYN */
	isn = be32(f + 38);
	rx_post(&tp, BIG, rxf.nbufs);
	tx_frame(&tp, synack, syn_ack(synack, f, 1000));
	assert_true(poll(&(struct pollfd){ .fd = s, .events = POLLOUT }, 1, 5000) == 1);
	for (uint32_t i = 0; i < TCP_SEND; i++)
		out[i] = tcp_pattern(i);
	assert_true(write(s, out, TCP_SEND) > 10 * TCP_MSS);
	/* The first flight: up to the initial window (10 segments), unacknowledged. */
	while (got < 10 * TCP_MSS && rx_expect(&tp, &rxf, is_host_tcp)) {
		uint32_t off = be32(f + 38) - isn - 1, hl = (uint32_t)(f[46] >> 4) * 4;
		size_t n = rxf.len - HDR_LEN - 34 - hl;

		assert_int_equal(le16(rxf.data + HDR_NUM_BUFFERS), rxf.nbufs);
		if (n > TCP_MSS) {
			super++;
			assert_int_equal(vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_TCPV4);
			assert_int_equal(vh->gso_size, TCP_MSS);
			assert_true(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
			assert_int_equal(vh->csum_start, 34);
			assert_int_equal(vh->csum_offset, 16);
			assert_true(rxf.nbufs > 1);
		}
		for (size_t i = 0; i < n; i++)
			assert_int_equal(f[34 + hl + i], tcp_pattern(off + (uint32_t)i));
		got += (uint32_t)n;
		rx_post(&tp, BIG, rxf.nbufs);
		kick(&tp.rx);
	}
	assert_true(got >= 10 * TCP_MSS);
	assert_true(super >= 1);
	close(s);
	tap_set_ipv4("0.0.0.0");
}

/* A tap is level-triggered: without buffers the device must stop watching it, not spin. */
static void test_tap_no_buffers_no_spin(void **state)
{
	uint8_t f[60];
	int ps;

	tap_or_skip();
	ps = packet_socket();
	host_send(ps, f, test_frame(f, guest_mac, "khyve waiting"));
	sleep_ms(50);
	assert_true(loop_cpu_ms(300) < 30);
	rx_post(&tp, BIG, TAP_BUFS);
	kick(&tp.rx);
	want_text = "khyve waiting";
	assert_true(rx_expect(&tp, &rxf, is_test_frame));
	close(ps);
}

/* Nor when the guest broke the device (tx here) while receive was on. */
static void test_tap_needs_reset_no_spin(void **state)
{
	uint8_t f[60];
	int ps;

	tap_or_skip();
	ps = packet_socket();
	rx_post(&tp, BIG, TAP_BUFS);
	kick(&tp.rx);
	expect_needs_reset(&tp, &tp.tx, (struct seg[]){ { RAM_SIZE, 64, false } }, 1);
	host_send(ps, f, test_frame(f, guest_mac, "khyve broken"));
	sleep_ms(50);
	assert_true(loop_cpu_ms(300) < 30);
	close(ps);
	nic_start(&tp, features_but(&tp, 0), 64);
}

/* ---- A legacy driver without mergeable buffers: the 10-byte header ------------------ */

#define LEGACY_HDR_LEN 10

static void lg_nic_start(struct nic *n, uint32_t features)
{
	lg_negotiate(&n->v, features);
	lg_queue_setup(&n->rx, &n->v, RXQ, n->area);
	lg_queue_setup(&n->tx, &n->v, TXQ, n->area + DQ_AREA);
	lg_queue_setup(&n->ctrl, &n->v, CTRLQ, n->area + 2 * DQ_AREA);
	lg_driver_ok(&n->v);
}

static void lg_tx_frame(struct nic *n, const uint8_t *frame, size_t len)
{
	tx_frame_hdr(n, frame, len, LEGACY_HDR_LEN);
}

/* The next frame whose payload matches: one buffer, a 10-byte zero header, then the frame. */
static bool lg_rx_expect(struct nic *n, bool (*match)(const uint8_t *, size_t), uint32_t *len)
{
	static const uint8_t zero[LEGACY_HDR_LEN];

	for (int i = 0; i < 32; i++) {
		struct vring_used_elem_le e;
		const uint8_t *b;

		if (!wait_used_min(&n->rx, 1))
			return false;
		e = take_used(&n->rx);
		b = ram(n->rxb[e.id].gpa);
		assert_true(e.len > LEGACY_HDR_LEN && e.len <= n->rxb[e.id].len);
		assert_memory_equal(b, zero, LEGACY_HDR_LEN);
		if (match(b + LEGACY_HDR_LEN, e.len - LEGACY_HDR_LEN)) {
			*len = e.len;
			return true;
		}
	}
	return false;
}

static void test_legacy_short_header(void **state)
{
	uint8_t f[600];
	uint32_t len;

	/* No VERSION_1 (bit 32 does not exist here), no MRG_RXBUF: the 10-byte header. */
	assert_true(lg_rd(&sl.v, LG_HOST_FEATURES, 4) & BIT(F_MRG_RXBUF));
	lg_nic_start(&sl, BIT(F_MAC) | BIT(F_STATUS));
	/* MSI-X off: the MAC at 0x14. */
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(lg_rd(&sl.v, LG_DEVCFG + i, 1), guest_mac[i]);
	rx_post(&sl, BIG, 16);
	kick(&sl.rx);
	lg_tx_frame(&sl, f, arp_request(f, "10.0.2.2"));
	assert_true(lg_rx_expect(&sl, is_arp_reply, &len));
	assert_true(len >= LEGACY_HDR_LEN + 42 && len <= LEGACY_HDR_LEN + 64);
	lg_tx_frame(&sl, f, dhcp_discover(f));
	assert_true(lg_rx_expect(&sl, is_dhcp_offer, &len));
	/* A frame shorter than its header plus an Ethernet header is dropped, no harm. */
	assert_int_equal(tx_chain(&sl, (struct seg[]){ { TXB(&sl), LEGACY_HDR_LEN + 13, false } },
				  1), 0);
	assert_false(lg_rd(&sl.v, LG_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
}

/* On a tap (which speaks the 12-byte header) both ways, byte for byte. */
static void test_tap_legacy_header(void **state)
{
	uint8_t f[60], in[128];
	uint32_t len;
	int ps;

	tap_or_skip();
	ps = packet_socket();
	lg_nic_start(&tp, BIT(F_MAC) | BIT(F_STATUS));
	test_frame(f, bcast, "khyve legacy tx");
	lg_tx_frame(&tp, f, 60);
	assert_int_equal(host_recv(ps, in, sizeof(in), 5000), 60);
	assert_memory_equal(in, f, 60);
	rx_post(&tp, BIG, TAP_BUFS);
	kick(&tp.rx);
	host_send(ps, f, test_frame(f, guest_mac, "khyve legacy rx"));
	want_text = "khyve legacy rx";
	assert_true(lg_rx_expect(&tp, is_test_frame, &len));
	assert_int_equal(len, LEGACY_HDR_LEN + 60);
	close(ps);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest init_tests[] = {
		cmocka_unit_test(test_init_bad_mac),
		cmocka_unit_test(test_init_bad_mtu),
		cmocka_unit_test(test_init_bad_backend),
		cmocka_unit_test(test_init_bad_vhost),
	};
	const struct CMUnitTest tests[] = {
		T(test_features),
		T(test_config_space),
		T(test_arp_roundtrip),
		T(test_rx_tiny_mergeable),
		T(test_rx_small_ring_tiny_buffers),
		T(test_rx_small_ring_split_buffers),
		T(test_rx_nonmergeable_too_small),
		T(test_tx_split),
		T(test_tx_truncated),
		T(test_tx_writable),
		T(test_tx_huge),
		T(test_tx_batch),
		T(test_rx_burst),
		T(test_rx_readable_buffer),
		T(test_rx_outside_ram),
		T(test_rx_shorter_than_header),
		T(test_ctrl_rx_mode),
		T(test_ctrl_mac_addr_set),
		T(test_ctrl_mac_reset),
		T(test_ctrl_errors),
		T(test_ctrl_no_ack),
		T(test_reset_with_frames_pending),
		T(test_no_buffers_no_spin),
		T(test_msix),
		T(test_null_backend),
		T(test_tap_frames),
		T(test_tap_rx_scattered),
		T(test_tap_rx_stream),
		T(test_tap_no_buffers_no_spin),
		T(test_tap_needs_reset_no_spin),
		T(test_legacy_short_header),
		T(test_tap_legacy_header),
		T(test_tap_rx_tso_from_host),
	};
	int failed;

	if (getenv("KHYVE_TEST_FILTER") != NULL) /* e.g. "test_ctrl*" */
		cmocka_set_test_filter(getenv("KHYVE_TEST_FILTER"));
	failed = cmocka_run_group_tests_name("init", init_tests, NULL, NULL);

	return failed + cmocka_run_group_tests_name("virtio-net", tests, group_setup,
						    group_teardown);
}
