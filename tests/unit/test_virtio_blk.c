/*
 * virtio-blk over the virtio-pci transport (src/virtio/virtio_blk.c,
 * virtio_pci.c, and the legacy interface in virtio_pci_legacy.c), driven end
 * to end as a guest driver would: capabilities,
 * status handshake, feature negotiation, queue set-up in fake guest RAM,
 * requests through the ring, kicks through the notify address, completions
 * from io_uring, MSI-X or INTx + ISR (the driver itself is virtio_driver.h,
 * shared with test_virtio_net.c). Half the tests behave like Linux; the
 * other half like a hostile guest (malformed chains, out-of-range sectors,
 * bad flags, bad queue sizes) and check the device fails safe: an error
 * status, or DEVICE_NEEDS_RESET, never a crash or a touched image.
 *
 * One pci_init() for the binary (it registers global ranges): slot 4 is a
 * read-write 1 MiB image with a known pattern, slot 5 a read-only one. The
 * event loop runs on its own thread, as khyve's main thread; the test is the
 * vCPU. Each test starts from a freshly reset and re-initialised device and
 * a restored image.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "core/config.h"

#include "capture.h"
#include "virtio_driver.h"

#define RAM_SIZE (4u << 20)
#define IMG_SIZE (1u << 20)
#define RO_IMG_SIZE (64u << 10)
#define SECTOR 512u
#define SERIAL "KHYVE-UNIT-SERIAL"

/* virtio-blk (5.2). */
#define F_SEG_MAX 2
#define F_RO 5
#define F_BLK_SIZE 6
#define F_FLUSH 9
#define F_DISCARD 13
#define F_WRITE_ZEROES 14
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define T_DISCARD 11
#define T_WRITE_ZEROES 13
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2

static char *img_path, *ro_path;

/* ---- The driver (virtio_driver.h) with one queue ----------------------------- */

struct drv {
	struct vdev v;
	struct dq q;
	uint64_t ring_gpa, buf;     /* this device's part of guest RAM */
};

static struct drv rw = { .v.slot = 4, .ring_gpa = 0x10000, .buf = 0x100000 };
static struct drv ro = { .v.slot = 5, .ring_gpa = 0x30000, .buf = 0x200000 };

static void queue_addrs(struct drv *d, uint16_t qsize)
{
	dq_layout(&d->q, &d->v, 0, d->ring_gpa, qsize);
}

static void queue_setup(struct drv *d, uint16_t vector)
{
	cc_wr(&d->v, CC_Q_SELECT, 2, 0);
	assert_int_equal(cc_rd(&d->v, CC_Q_SIZE, 2), 256);
	dq_setup(&d->q, vector);
}

/* Everything offered but EVENT_IDX (so each completion interrupts). */
static uint64_t std_features(const struct drv *d)
{
	return device_features(&d->v) & ~BIT(VIRTIO_F_EVENT_IDX);
}

static void drv_init(struct drv *d)
{
	uint8_t ok = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;

	assert_int_equal(drv_negotiate(&d->v, std_features(d)), ok);
	queue_addrs(d, 64);
	queue_setup(d, VIRTIO_NO_VECTOR);
	assert_int_equal(cc_rd(&d->v, CC_Q_ENABLE, 2), 1);
	set_status(&d->v, ok | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(status(&d->v), ok | VIRTIO_STATUS_DRIVER_OK);
}

/* ---- Requests ------------------------------------------------------------- */

#define HDR(d) ((d)->buf)
#define STATUS(d) ((d)->buf + 0x100)
#define DATA(d) ((d)->buf + 0x1000)   /* up to 128 KiB */
#define AUX(d) ((d)->buf + 0x30000)

static void put_hdr(const struct drv *d, uint64_t gpa, uint32_t type, uint64_t sector)
{
	uint8_t hdr[16] = { 0 };

	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	memcpy(ram(gpa), hdr, 16);
}

/* Post a chain, kick, wait for it, check it is the one completed; the status byte. */
static uint8_t run_chain(struct drv *d, const struct seg *s, unsigned n, uint32_t *len)
{
	uint16_t head;
	struct vring_used_elem_le e;

	*(uint8_t *)ram(STATUS(d)) = 0xee;
	head = post(&d->q, s, n);
	kick(&d->q);
	assert_true(wait_used(&d->q, 1));
	e = take_used(&d->q);
	assert_int_equal(e.id, head);
	if (len)
		*len = e.len;
	return *(uint8_t *)ram(STATUS(d));
}

/* header, [data], status: the usual three-descriptor request. */
static uint8_t request(struct drv *d, uint32_t type, uint64_t sector, uint64_t data,
		       uint32_t len, bool dev_writes, uint32_t *used_len)
{
	struct seg s[3] = { { HDR(d), 16, false } };
	unsigned n = 1;

	put_hdr(d, HDR(d), type, sector);
	if (len)
		s[n++] = (struct seg){ data, len, dev_writes };
	s[n++] = (struct seg){ STATUS(d), 1, true };
	return run_chain(d, s, n, used_len);
}

static uint8_t rd(struct drv *d, uint64_t sector, uint32_t len, uint32_t *used_len)
{
	memset(ram(DATA(d)), 0xcc, len);
	return request(d, T_IN, sector, DATA(d), len, true, used_len);
}

static uint8_t wr(struct drv *d, uint64_t sector, uint32_t len, uint32_t *used_len)
{
	return request(d, T_OUT, sector, DATA(d), len, false, used_len);
}

/* DISCARD / WRITE_ZEROES with one segment. */
static uint8_t ranged(struct drv *d, uint32_t type, uint64_t sector, uint32_t nsect,
		      uint32_t flags)
{
	uint8_t seg[16];

	memcpy(seg, &sector, 8);
	memcpy(seg + 8, &nsect, 4);
	memcpy(seg + 12, &flags, 4);
	memcpy(ram(DATA(d)), seg, 16);
	return request(d, type, 0, DATA(d), 16, false, NULL);
}

/* ---- Images --------------------------------------------------------------- */

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 31 + (off >> 9) + 7);
}

static void fill_pattern(uint8_t *p, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(off + i);
}

static char *make_image(const char *name, size_t size)
{
	const char *dir = getenv("TMPDIR");
	uint8_t *buf = malloc(size);
	char *path;
	int fd;

	assert_non_null(buf);
	assert_true(asprintf(&path, "%s/%s.XXXXXX", dir && *dir ? dir : "/tmp", name) > 0);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fill_pattern(buf, 0, size);
	assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
	close(fd);
	free(buf);
	return path;
}

static void restore_image(void)
{
	uint8_t *buf = malloc(IMG_SIZE);
	int fd = open(img_path, O_WRONLY);

	assert_non_null(buf);
	assert_true(fd >= 0);
	fill_pattern(buf, 0, IMG_SIZE);
	assert_int_equal(pwrite(fd, buf, IMG_SIZE, 0), IMG_SIZE);
	close(fd);
	free(buf);
}

/* True if the image holds the pattern at [off, off + len). */
static bool image_is_pattern(const char *path, uint64_t off, size_t len)
{
	uint8_t *got = malloc(len), *want = malloc(len);
	int fd = open(path, O_RDONLY);
	bool same;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, got, len, (off_t)off), (ssize_t)len);
	close(fd);
	fill_pattern(want, off, len);
	same = memcmp(got, want, len) == 0;
	free(got);
	free(want);
	return same;
}

static void image_read(uint64_t off, void *buf, size_t len)
{
	int fd = open(img_path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* ---- Setup ---------------------------------------------------------------- */

static void set(const char *key, const char *value)
{
	assert_int_equal(set_config_value(key, value), 0);
}

static int group_setup(void **state)
{
	vd_vm_init(RAM_SIZE);
	img_path = make_image("khyve-vblk", IMG_SIZE);
	ro_path = make_image("khyve-vblk-ro", RO_IMG_SIZE);
	config_init();
	set("pci.0.0.0.device", "hostbridge");
	set("pci.0.4.0.device", "virtio-blk");
	set("pci.0.4.0.path", img_path);
	set("pci.0.4.0.ser", SERIAL);
	set("pci.0.5.0.device", "virtio-blk");
	set("pci.0.5.0.path", ro_path);
	set("pci.0.5.0.ro", "true");
	set("pci.0.5.0.notify", "mmio"); /* ro's kicks are MMIO writes, rw's port writes */
	assert_int_equal(pci_init(&ctx), 0);
	find_caps(&rw.v);
	find_caps(&ro.v);
	vd_loop_start();
	return 0;
}

static int group_teardown(void **state)
{
	vd_loop_stop();
	unlink(img_path);
	unlink(ro_path);
	return 0;
}

/* Each test: image as created, MSI-X off, both devices freshly initialised. */
static int setup(void **state)
{
	restore_image();
	msix_disable(&rw.v, 2);
	msix_disable(&ro.v, 2);
	drv_init(&rw);
	drv_init(&ro);
	(void)mmio_rd(rw.v.isr, 1);
	(void)mmio_rd(ro.v.isr, 1);
	msi_clear();
	return 0;
}

/* ---- Handshake and negotiation -------------------------------------------- */

static void test_handshake(void **state)
{
	uint64_t f = device_features(&rw.v), rof = device_features(&ro.v);
	struct drv *d = &rw;

	assert_int_equal(cfg_rd(d->v.slot, 0, 4), 0x10011af4u); /* transitional virtio-blk */
	assert_int_equal(cfg_rd(d->v.slot, PCIR_REVID, 1), 0);  /* as legacy drivers require */
	assert_int_equal(cfg_rd(d->v.slot, PCIR_SUBDEV, 2), VIRTIO_ID_BLOCK);
	assert_true(f & BIT(VIRTIO_F_VERSION_1));
	assert_true(f & BIT(F_FLUSH));
	assert_true(f & BIT(F_BLK_SIZE));
	assert_true(f & BIT(F_SEG_MAX));
	assert_true(f & BIT(F_WRITE_ZEROES));
	assert_false(f & BIT(F_RO));
	assert_true(rof & BIT(F_RO));
	assert_false(rof & (BIT(F_WRITE_ZEROES) | BIT(F_DISCARD)));
	cc_wr(&d->v, CC_DFSELECT, 4, 2); /* no feature bits beyond 63 */
	assert_int_equal(cc_rd(&d->v, CC_DF, 4), 0);

	/* Device config: capacity in sectors, block size, segments. */
	assert_int_equal(mmio_rd(d->v.devcfg, 8), IMG_SIZE / SECTOR);
	assert_int_equal(mmio_rd(d->v.devcfg + 12, 4), 254);           /* seg_max */
	assert_int_equal(mmio_rd(d->v.devcfg + 20, 4), 512);           /* blk_size */
	assert_int_equal(mmio_rd(ro.v.devcfg, 8), RO_IMG_SIZE / SECTOR);

	/* The handshake drv_init did, step by step, on a fresh reset. */
	drv_reset(&d->v);
	assert_int_equal(cc_rd(&d->v, CC_NUM_QUEUES, 2), 1);
	set_status(&d->v, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(status(&d->v), VIRTIO_STATUS_ACKNOWLEDGE);
	set_status(&d->v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	driver_features(&d->v, std_features(d));
	cc_wr(&d->v, CC_GFSELECT, 4, 0);
	assert_int_equal(cc_rd(&d->v, CC_GF, 4), (uint32_t)std_features(d));
	set_status(&d->v, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		   VIRTIO_STATUS_FEATURES_OK);
	assert_true(status(&d->v) & VIRTIO_STATUS_FEATURES_OK);
	/* Feature bits are frozen after FEATURES_OK. */
	driver_features(&d->v, 0);
	cc_wr(&d->v, CC_GFSELECT, 4, 1);
	assert_int_equal(cc_rd(&d->v, CC_GF, 4), 1); /* VERSION_1 still there */
	/* Only queue 0 exists. */
	cc_wr(&d->v, CC_Q_SELECT, 2, 1);
	assert_int_equal(cc_rd(&d->v, CC_Q_SIZE, 2), 0);
	cc_wr(&d->v, CC_Q_SIZE, 2, 16); /* ignored, no crash */
	cc_wr(&d->v, CC_Q_ENABLE, 2, 1);
	queue_addrs(d, 128);
	queue_setup(d, VIRTIO_NO_VECTOR);
	assert_int_equal(cc_rd(&d->v, CC_Q_SIZE, 2), 128);
	assert_int_equal(cc_rd(&d->v, CC_Q_NOFF, 2), 0);
	assert_int_equal(cc_rd(&d->v, CC_Q_DESC, 4), (uint32_t)d->q.desc);
	assert_int_equal(cc_rd(&d->v, CC_Q_USED + 4, 4), 0);
	assert_int_equal(cc_rd(&d->v, CC_Q_ENABLE, 2), 1);
	set_status(&d->v, 0x0f);
	assert_int_equal(status(&d->v), 0x0f);
	assert_int_equal(rd(d, 0, SECTOR, NULL), S_OK);

	/* The PCI-config window (VIRTIO_PCI_CAP_PCI_CFG) reaches the same registers. */
	cfg_wr(d->v.slot, d->v.pcicfg_cap + 4, 1, VIRTIO_BAR);
	cfg_wr(d->v.slot, d->v.pcicfg_cap + 8, 4, CC_NUM_QUEUES);
	cfg_wr(d->v.slot, d->v.pcicfg_cap + 12, 4, 2);
	assert_int_equal(cfg_rd(d->v.slot, d->v.pcicfg_cap + 16, 4) & 0xffff, 1);
	cfg_wr(d->v.slot, d->v.pcicfg_cap + 8, 4, 0x7ffffff0u); /* far outside BAR 4 */
	cfg_wr(d->v.slot, d->v.pcicfg_cap + 12, 4, 4);
	(void)cfg_rd(d->v.slot, d->v.pcicfg_cap + 16, 4);
	cfg_wr(d->v.slot, d->v.pcicfg_cap + 16, 4, 0);
	assert_int_equal(status(&d->v), 0x0f);
}

/* Kicks: through I/O BAR 2 by default, only through BAR 4 with notify=mmio. */
static void test_notify_areas(void **state)
{
	assert_true(rw.v.notify_port);
	assert_int_equal(cfg_rd(rw.v.slot, PCIR_BAR0 + 4 * VIRTIO_PORT_NOTIFY_BAR, 4) & 1, 1);
	assert_false(ro.v.notify_port);
	assert_int_equal(cfg_rd(ro.v.slot, PCIR_BAR0 + 4 * VIRTIO_PORT_NOTIFY_BAR, 4), 0);
	/* Both kinds of kick move requests (the tests below use both devices). */
	assert_int_equal(rd(&rw, 0, 512, NULL), 0);
	assert_int_equal(rd(&ro, 0, 512, NULL), 0);
}

static void test_features_refused(void **state)
{
	uint8_t ad = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	uint64_t f = std_features(&rw);

	/* A feature the device did not offer. */
	assert_int_equal(drv_negotiate(&rw.v, f | BIT(20)), ad);
	assert_int_equal(drv_negotiate(&rw.v, f | BIT(63)), ad);
	/* No VERSION_1: a legacy driver on a modern-only device. */
	assert_int_equal(drv_negotiate(&rw.v, f & ~BIT(VIRTIO_F_VERSION_1)), ad);
	assert_int_equal(drv_negotiate(&rw.v, 0), ad);
	/* Read-only device: no write-zeroes to accept. */
	assert_int_equal(drv_negotiate(&ro.v, std_features(&ro) | BIT(F_WRITE_ZEROES)), ad);
	/* Asking again with a subset works without a reset. */
	driver_features(&rw.v, BIT(VIRTIO_F_VERSION_1));
	set_status(&rw.v, ad | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(status(&rw.v), ad | VIRTIO_STATUS_FEATURES_OK);
	/* Just VERSION_1 is a complete driver; reads still work. */
	queue_addrs(&rw, 64);
	queue_setup(&rw, VIRTIO_NO_VECTOR);
	set_status(&rw.v, ad | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(rd(&rw, 1, SECTOR, NULL), S_OK);
	/* Without FLUSH negotiated, a flush is still harmless. */
	assert_int_equal(request(&rw, T_FLUSH, 0, 0, 0, false, NULL), S_OK);
}

/* ---- I/O ------------------------------------------------------------------ */

static void test_read(void **state)
{
	uint8_t want[4 * SECTOR];
	uint32_t len;

	assert_int_equal(rd(&rw, 10, sizeof(want), &len), S_OK);
	fill_pattern(want, 10 * SECTOR, sizeof(want));
	assert_memory_equal(ram(DATA(&rw)), want, sizeof(want));
	assert_int_equal(len, sizeof(want) + 1);
	/* The last sector. */
	assert_int_equal(rd(&rw, IMG_SIZE / SECTOR - 1, SECTOR, &len), S_OK);
	fill_pattern(want, IMG_SIZE - SECTOR, SECTOR);
	assert_memory_equal(ram(DATA(&rw)), want, SECTOR);
	assert_int_equal(len, SECTOR + 1);
	/* 64 KiB in one descriptor. */
	assert_int_equal(rd(&rw, 64, 65536, &len), S_OK);
	assert_int_equal(len, 65537);
	assert_true(image_is_pattern(img_path, 64 * SECTOR, 65536));
	assert_int_equal(((uint8_t *)ram(DATA(&rw)))[65535], pattern(64 * SECTOR + 65535));
}

static void test_write(void **state)
{
	uint8_t got[2 * SECTOR];
	uint32_t len;

	memset(ram(DATA(&rw)), 0x5a, sizeof(got));
	assert_int_equal(wr(&rw, 100, sizeof(got), &len), S_OK);
	assert_int_equal(len, 1);
	image_read(100 * SECTOR, got, sizeof(got));
	for (size_t i = 0; i < sizeof(got); i++)
		assert_int_equal(got[i], 0x5a);
	assert_true(image_is_pattern(img_path, 0, 100 * SECTOR));
	assert_true(image_is_pattern(img_path, 102 * SECTOR, IMG_SIZE - 102 * SECTOR));
	/* And reads back through the device. */
	assert_int_equal(rd(&rw, 100, SECTOR, NULL), S_OK);
	assert_int_equal(((uint8_t *)ram(DATA(&rw)))[0], 0x5a);
}

static void test_flush(void **state)
{
	uint32_t len = 0;

	assert_int_equal(request(&rw, T_FLUSH, 0, 0, 0, false, &len), S_OK);
	assert_int_equal(len, 1);
	/* The sector field of a flush means nothing. */
	assert_int_equal(request(&rw, T_FLUSH, 1ull << 62, 0, 0, false, &len), S_OK);
}

static void test_get_id(void **state)
{
	char want[20] = SERIAL;
	uint32_t len;

	memset(ram(DATA(&rw)), 0xcc, 32);
	assert_int_equal(request(&rw, T_GET_ID, 0, DATA(&rw), 20, true, &len), S_OK);
	assert_memory_equal(ram(DATA(&rw)), want, 20);
	assert_int_equal(len, 21);
	/* A short buffer gets what fits; a long one no more than 20 bytes. */
	memset(ram(DATA(&rw)), 0xcc, 32);
	assert_int_equal(request(&rw, T_GET_ID, 0, DATA(&rw), 5, true, &len), S_OK);
	assert_memory_equal(ram(DATA(&rw)), "KHYVE", 5);
	assert_int_equal(((uint8_t *)ram(DATA(&rw)))[5], 0xcc);
	assert_int_equal(len, 6);
	memset(ram(DATA(&rw)), 0xcc, 32);
	assert_int_equal(request(&rw, T_GET_ID, 0, DATA(&rw), 32, true, &len), S_OK);
	assert_int_equal(((uint8_t *)ram(DATA(&rw)))[20], 0xcc);
	assert_int_equal(len, 21);
}

static void test_out_of_range(void **state)
{
	uint64_t last = IMG_SIZE / SECTOR - 1;
	uint32_t len;

	assert_int_equal(rd(&rw, last + 1, SECTOR, &len), S_IOERR);
	assert_int_equal(len, 1);
	assert_int_equal(rd(&rw, last, 2 * SECTOR, NULL), S_IOERR);
	memset(ram(DATA(&rw)), 0, 2 * SECTOR);
	assert_int_equal(wr(&rw, last, 2 * SECTOR, NULL), S_IOERR);
	assert_int_equal(wr(&rw, last + 1, SECTOR, NULL), S_IOERR);
	/* sector * 512 overflowing 64 bits, to 0 and to just below. */
	assert_int_equal(rd(&rw, 1ull << 63, SECTOR, NULL), S_IOERR);
	assert_int_equal(wr(&rw, 1ull << 55, SECTOR, NULL), S_IOERR);
	assert_int_equal(wr(&rw, UINT64_MAX, SECTOR, NULL), S_IOERR);
	assert_int_equal(wr(&rw, (UINT64_MAX >> 9) + 1, SECTOR, NULL), S_IOERR);
	/* Not a whole number of sectors. */
	assert_int_equal(wr(&rw, 0, 100, NULL), S_IOERR);
	assert_int_equal(rd(&rw, 0, SECTOR + 1, NULL), S_IOERR);
	assert_true(image_is_pattern(img_path, 0, IMG_SIZE));
	assert_false(status(&rw.v) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_unknown_type(void **state)
{
	uint32_t len;

	assert_int_equal(request(&rw, 0x12345, 0, DATA(&rw), SECTOR, true, &len), S_UNSUPP);
	assert_int_equal(len, 1);
	assert_int_equal(request(&rw, 2, 0, 0, 0, false, NULL), S_UNSUPP);       /* SCSI */
	assert_int_equal(request(&rw, T_OUT | 0x80000000u, 0, DATA(&rw), SECTOR, false, NULL),
			 S_UNSUPP);
	assert_true(image_is_pattern(img_path, 0, IMG_SIZE));
}

/* Descriptor boundaries are the driver's business (virtio 1.1 2.6.4). */
static void test_split_descriptors(void **state)
{
	struct drv *d = &rw;
	uint8_t want[SECTOR];
	uint32_t len;
	struct seg s[6];

	fill_pattern(want, 7 * SECTOR, SECTOR);
	/* Header as 8 + 8 bytes in different places. */
	put_hdr(d, AUX(d), T_IN, 7);
	memcpy(ram(HDR(d)), ram(AUX(d)), 8);
	memcpy(ram(HDR(d) + 0x40), ram(AUX(d)) + 8, 8);
	s[0] = (struct seg){ HDR(d), 8, false };
	s[1] = (struct seg){ HDR(d) + 0x40, 8, false };
	s[2] = (struct seg){ DATA(d), SECTOR, true };
	s[3] = (struct seg){ STATUS(d), 1, true };
	assert_int_equal(run_chain(d, s, 4, &len), S_OK);
	assert_memory_equal(ram(DATA(d)), want, SECTOR);
	assert_int_equal(len, SECTOR + 1);

	/* Header 3 + 13, data in three odd pieces, status sharing the last one. */
	put_hdr(d, AUX(d), T_IN, 7);
	memcpy(ram(HDR(d)), ram(AUX(d)), 3);
	memcpy(ram(HDR(d) + 0x40), ram(AUX(d)) + 3, 13);
	memset(ram(DATA(d)), 0, 0x2000);
	s[0] = (struct seg){ HDR(d), 3, false };
	s[1] = (struct seg){ HDR(d) + 0x40, 13, false };
	s[2] = (struct seg){ DATA(d), 100, true };
	s[3] = (struct seg){ DATA(d) + 0x1000, 300, true };
	s[4] = (struct seg){ DATA(d) + 0x800, 113, true };  /* 112 data + status */
	assert_int_equal(run_chain(d, s, 5, &len), 0xee);   /* status is not at STATUS() */
	assert_int_equal(((uint8_t *)ram(DATA(d) + 0x800))[112], S_OK);
	assert_memory_equal(ram(DATA(d)), want, 100);
	assert_memory_equal(ram(DATA(d) + 0x1000), want + 100, 300);
	assert_memory_equal(ram(DATA(d) + 0x800), want + 400, 112);
	assert_int_equal(len, SECTOR + 1);

	/* A write with header and data in one descriptor, zero-length pieces between. */
	put_hdr(d, DATA(d), T_OUT, 9);
	memset(ram(DATA(d) + 16), 0x77, SECTOR);
	s[0] = (struct seg){ DATA(d), 16 + SECTOR, false };
	s[1] = (struct seg){ AUX(d), 0, false };
	s[2] = (struct seg){ AUX(d), 0, true };
	s[3] = (struct seg){ STATUS(d), 1, true };
	assert_int_equal(run_chain(d, s, 4, &len), S_OK);
	assert_int_equal(len, 1);
	image_read(9 * SECTOR, want, SECTOR);
	assert_int_equal(want[0], 0x77);
	assert_int_equal(want[SECTOR - 1], 0x77);
}

/* Batches: many chains per kick, completions in any order. */
static void test_many_in_flight(void **state)
{
	struct drv *d = &rw;
	bool seen[64] = { false };
	uint16_t heads[16];

	for (unsigned i = 0; i < 16; i++) {
		uint64_t hdr = AUX(d) + 32 * i, data = DATA(d) + 4096 * i;
		struct seg s[3] = {
			{ hdr, 16, false }, { data, 4096, true }, { hdr + 16, 1, true },
		};

		put_hdr(d, hdr, T_IN, 8 * i);
		*(uint8_t *)ram(hdr + 16) = 0xee;
		heads[i] = post(&d->q, s, 3);
	}
	kick(&d->q);
	assert_true(wait_used(&d->q, 16));
	for (unsigned i = 0; i < 16; i++) {
		struct vring_used_elem_le e = take_used(&d->q);

		assert_true(e.id < 64 && !seen[e.id]);
		seen[e.id] = true;
		assert_int_equal(e.len, 4097);
	}
	for (unsigned i = 0; i < 16; i++) {
		assert_true(seen[heads[i]]);
		assert_int_equal(*(uint8_t *)ram(AUX(d) + 32 * i + 16), S_OK);
		assert_int_equal(((uint8_t *)ram(DATA(d) + 4096 * i))[4095],
				 pattern(4096 * i + 4095));
	}
}

/* ---- Read-only, discard, write-zeroes ------------------------------------- */

static void test_read_only(void **state)
{
	uint32_t len;

	memset(ram(DATA(&ro)), 0, SECTOR);
	assert_int_equal(wr(&ro, 0, SECTOR, &len), S_IOERR);
	assert_int_equal(len, 1);
	assert_int_equal(ranged(&ro, T_WRITE_ZEROES, 0, 1, 0), S_UNSUPP);
	assert_int_equal(ranged(&ro, T_DISCARD, 0, 1, 0), S_UNSUPP);
	assert_true(image_is_pattern(ro_path, 0, RO_IMG_SIZE));
	assert_int_equal(rd(&ro, 3, SECTOR, &len), S_OK);
	assert_int_equal(len, SECTOR + 1);
	assert_int_equal(((uint8_t *)ram(DATA(&ro)))[1], pattern(3 * SECTOR + 1));
	assert_int_equal(request(&ro, T_FLUSH, 0, 0, 0, false, NULL), S_OK);
}

static bool image_zero(uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool zero = true;

	image_read(off, buf, len);
	for (size_t i = 0; i < len; i++)
		zero &= buf[i] == 0;
	free(buf);
	return zero;
}

static void test_write_zeroes(void **state)
{
	assert_int_equal(ranged(&rw, T_WRITE_ZEROES, 200, 8, 0), S_OK);
	assert_true(image_zero(200 * SECTOR, 8 * SECTOR));
	assert_true(image_is_pattern(img_path, 0, 200 * SECTOR));
	assert_true(image_is_pattern(img_path, 208 * SECTOR, IMG_SIZE - 208 * SECTOR));
	/* With "may unmap". */
	assert_int_equal(ranged(&rw, T_WRITE_ZEROES, 512, 16, 1), S_OK);
	assert_true(image_zero(512 * SECTOR, 16 * SECTOR));
	assert_true(image_is_pattern(img_path, 528 * SECTOR, SECTOR));
}

static void test_discard(void **state)
{
	assert_true(device_features(&rw.v) & BIT(F_DISCARD));
	assert_int_equal(ranged(&rw, T_DISCARD, 1024, 16, 0), S_OK);
	/* A punched hole in a file reads back as zeroes. */
	assert_true(image_zero(1024 * SECTOR, 16 * SECTOR));
	assert_true(image_is_pattern(img_path, 1040 * SECTOR, SECTOR));
}

/* Malformed DISCARD / WRITE_ZEROES: refused, image untouched. */
static void test_ranged_bad(void **state)
{
	struct drv *d = &rw;
	uint8_t segs[32] = { 0 };
	uint32_t one = 1;

	/* Flags: unmap on a discard, unknown bits on either. */
	assert_int_not_equal(ranged(d, T_DISCARD, 8, 8, 1), S_OK);
	assert_int_not_equal(ranged(d, T_DISCARD, 8, 8, 0x80000000u), S_OK);
	assert_int_not_equal(ranged(d, T_WRITE_ZEROES, 8, 8, 2), S_OK);
	/* Ranges: empty, past the end, overflowing. */
	assert_int_equal(ranged(d, T_WRITE_ZEROES, 8, 0, 0), S_IOERR);
	assert_int_equal(ranged(d, T_WRITE_ZEROES, IMG_SIZE / SECTOR - 1, 2, 0), S_IOERR);
	assert_int_equal(ranged(d, T_DISCARD, 1ull << 63, 1, 0), S_IOERR);
	assert_int_equal(ranged(d, T_WRITE_ZEROES, UINT64_MAX, UINT32_MAX, 0), S_IOERR);
	/* Two segments where one is allowed; a truncated one. */
	memcpy(segs + 8, &one, 4);
	memcpy(segs + 24, &one, 4);
	memcpy(ram(DATA(d)), segs, 32);
	assert_int_equal(request(d, T_WRITE_ZEROES, 0, DATA(d), 32, false, NULL), S_UNSUPP);
	assert_int_equal(request(d, T_DISCARD, 0, DATA(d), 8, false, NULL), S_UNSUPP);
	assert_true(image_is_pattern(img_path, 0, IMG_SIZE));
	assert_false(status(&d->v) & VIRTIO_STATUS_NEEDS_RESET);
}

/*
 * Virtio 1.1 section 5.2.6.2: unknown flags on discard / write zeroes, and
 * unmap on a discard, are answered VIRTIO_BLK_S_UNSUPP.
 */
static void test_ranged_flags_unsupp(void **state)
{
	assert_int_equal(ranged(&rw, T_DISCARD, 8, 8, 1), S_UNSUPP);
	assert_int_equal(ranged(&rw, T_DISCARD, 8, 8, 4), S_UNSUPP);
	assert_int_equal(ranged(&rw, T_WRITE_ZEROES, 8, 8, 2), S_UNSUPP);
}

/* ---- Hostile rings: DEVICE_NEEDS_RESET, never a crash ----------------------- */

/* Post a chain, kick, expect NEEDS_RESET (one stderr line) and nothing used. */
static void expect_needs_reset(struct drv *d, const struct seg *s, unsigned n)
{
	struct capture cap;
	char *err;

	capture_start(&cap, 2);
	post(&d->q, s, n);
	kick(&d->q);
	assert_true(WAIT_FOR(status(&d->v) & VIRTIO_STATUS_NEEDS_RESET));
	err = capture_end(&cap);
	assert_int_equal(count_lines(err), 1);
	assert_non_null(strstr(err, "needs reset"));
	free(err);
	assert_int_equal(used_idx(&d->q), d->q.used_seen);
}

/* After NEEDS_RESET, a reset and a fresh init bring the device back. */
static void check_recovers(struct drv *d)
{
	drv_init(d);
	assert_int_equal(rd(d, 2, SECTOR, NULL), S_OK);
	assert_int_equal(((uint8_t *)ram(DATA(d)))[0], pattern(2 * SECTOR));
}

static void test_no_status_byte(void **state)
{
	struct drv *d = &rw;
	struct seg s[2] = { { HDR(d), 16, false }, { DATA(d), SECTOR, false } };

	memset(ram(DATA(d)), 0x42, SECTOR);
	put_hdr(d, HDR(d), T_OUT, 0);
	expect_needs_reset(d, s, 2);
	/* INTx + ISR: a configuration change interrupt. */
	assert_true(WAIT_FOR(pci_find(0, d->v.slot, 0)->intx.asserted));
	assert_int_equal(mmio_rd(d->v.isr, 1), 2);
	/* Kicks are ignored from now on. */
	put_hdr(d, HDR(d), T_IN, 0);
	post(&d->q, (struct seg[]){ { HDR(d), 16, false }, { STATUS(d), 1, true } }, 2);
	kick(&d->q);
	sleep_ms(20);
	assert_int_equal(used_idx(&d->q), d->q.used_seen);
	assert_true(image_is_pattern(img_path, 0, IMG_SIZE));
	check_recovers(d);
}

static void test_desc_outside_ram(void **state)
{
	struct drv *d = &rw;

	put_hdr(d, HDR(d), T_IN, 0);
	expect_needs_reset(d, (struct seg[]){ { HDR(d), 16, false },
					      { RAM_SIZE - 256, SECTOR, true },
					      { STATUS(d), 1, true } }, 3);
	check_recovers(d);
	expect_needs_reset(d, (struct seg[]){ { HDR(d), 16, false },
					      { UINT64_MAX - 15, 32, true },
					      { STATUS(d), 1, true } }, 3);
	check_recovers(d);
	/* The header itself outside RAM, in the 3-4 GiB hole. */
	expect_needs_reset(d, (struct seg[]){ { 0xc0000000ull, 16, false },
					      { STATUS(d), 1, true } }, 2);
	check_recovers(d);
	assert_true(image_is_pattern(img_path, 0, IMG_SIZE));
}

static void test_avail_index_lies(void **state)
{
	struct drv *d = &rw;
	struct capture cap;
	char *err;

	/* More chains "available" than the ring holds. */
	capture_start(&cap, 2);
	__atomic_store_n(&avail(&d->q)->idx, (uint16_t)(d->q.size + 1), __ATOMIC_RELEASE);
	kick(&d->q);
	assert_true(WAIT_FOR(status(&d->v) & VIRTIO_STATUS_NEEDS_RESET));
	err = capture_end(&cap);
	assert_int_equal(count_lines(err), 1);
	free(err);
	check_recovers(d);
	/* A head index beyond the queue. */
	capture_start(&cap, 2);
	avail(&d->q)->ring[d->q.avail_idx % d->q.size] = d->q.size;
	__atomic_store_n(&avail(&d->q)->idx, ++d->q.avail_idx, __ATOMIC_RELEASE);
	kick(&d->q);
	assert_true(WAIT_FOR(status(&d->v) & VIRTIO_STATUS_NEEDS_RESET));
	free(capture_end(&cap));
	check_recovers(d);
}

/* Queue set-up a device must refuse at enable time. */
static void bad_queue(struct drv *d, uint16_t qsize, uint64_t desc)
{
	struct capture cap;
	char *err;

	assert_true(drv_negotiate(&d->v, std_features(d)) & VIRTIO_STATUS_FEATURES_OK);
	queue_addrs(d, qsize);
	d->q.desc = desc;
	capture_start(&cap, 2);
	queue_setup(d, VIRTIO_NO_VECTOR);
	err = capture_end(&cap);
	assert_int_equal(count_lines(err), 1);
	free(err);
	assert_true(status(&d->v) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(cc_rd(&d->v, CC_Q_ENABLE, 2), 0);
	check_recovers(d);
}

static void test_bad_queue_setup(void **state)
{
	bad_queue(&rw, 100, rw.ring_gpa);              /* not a power of two */
	bad_queue(&rw, 0, rw.ring_gpa);
	bad_queue(&rw, 64, rw.ring_gpa + 8);           /* descriptors misaligned */
	bad_queue(&rw, 64, RAM_SIZE - 0x100);          /* runs off the end of RAM */
	bad_queue(&rw, 64, 0xfffffffffffff000ull);     /* wraps */
}

/* Larger than offered: the write is ignored (the request pool is sized for 256). */
static void test_queue_size_above_max(void **state)
{
	struct drv *d = &rw;
	static const uint16_t sizes[] = { 512, 1024, 0x8000, 0xffff, 257 };

	assert_true(drv_negotiate(&d->v, std_features(d)) & VIRTIO_STATUS_FEATURES_OK);
	cc_wr(&d->v, CC_Q_SELECT, 2, 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cc_wr(&d->v, CC_Q_SIZE, 2, sizes[i]);
		assert_int_equal(cc_rd(&d->v, CC_Q_SIZE, 2), 256);
	}
	cc_wr(&d->v, CC_Q_SIZE, 2, 32);
	assert_int_equal(cc_rd(&d->v, CC_Q_SIZE, 2), 32);
	cc_wr(&d->v, CC_Q_SIZE, 2, 512);
	assert_int_equal(cc_rd(&d->v, CC_Q_SIZE, 2), 32);
	/* Back to the largest size: enabled, the queue works. */
	cc_wr(&d->v, CC_Q_SIZE, 2, 256);
	queue_addrs(d, 256);
	queue_setup(d, VIRTIO_NO_VECTOR);
	cc_wr(&d->v, CC_Q_SIZE, 2, 128); /* too late: the queue runs */
	assert_int_equal(cc_rd(&d->v, CC_Q_SIZE, 2), 256);
	set_status(&d->v, 0x0f);
	assert_int_equal(status(&d->v), 0x0f);
	assert_int_equal(rd(d, 3, SECTOR, NULL), S_OK);
}

/* ---- Reset ---------------------------------------------------------------- */

static void test_reset_reinit(void **state)
{
	struct drv *d = &rw;

	assert_int_equal(rd(d, 0, SECTOR, NULL), S_OK);
	assert_int_equal(rd(d, 1, SECTOR, NULL), S_OK);
	set_status(&d->v, 0);
	assert_true(WAIT_FOR(status(&d->v) == 0));
	/* Everything back to its reset value. */
	cc_wr(&d->v, CC_GFSELECT, 4, 1);
	assert_int_equal(cc_rd(&d->v, CC_GF, 4), 0);
	cc_wr(&d->v, CC_Q_SELECT, 2, 0);
	assert_int_equal(cc_rd(&d->v, CC_Q_SIZE, 2), 256);
	assert_int_equal(cc_rd(&d->v, CC_Q_ENABLE, 2), 0);
	assert_int_equal(cc_rd(&d->v, CC_Q_DESC, 4), 0);
	assert_int_equal(cc_rd(&d->v, CC_Q_MSIX, 2), VIRTIO_NO_VECTOR);
	assert_int_equal(cc_rd(&d->v, CC_MSIX_CONFIG, 2), VIRTIO_NO_VECTOR);
	/* A kick to a reset device does nothing. */
	kick(&d->q);
	/* Re-init with a different ring size, indices from 0 again. */
	assert_true(drv_negotiate(&d->v, std_features(d)) & VIRTIO_STATUS_FEATURES_OK);
	queue_addrs(d, 16);
	queue_setup(d, VIRTIO_NO_VECTOR);
	set_status(&d->v, 0x0f);
	for (unsigned i = 0; i < 20; i++) /* wraps the 16-entry ring */
		assert_int_equal(rd(d, i, SECTOR, NULL), S_OK);
	assert_int_equal(used_idx(&d->q), 20);
	assert_int_equal(((uint8_t *)ram(DATA(d)))[0], pattern(19 * SECTOR));
}

/* Reset with requests still in the backend: status stays non-zero until they finish. */
static void test_reset_with_requests_in_flight(void **state)
{
	struct drv *d = &rw;

	for (unsigned i = 0; i < 20; i++) { /* 60 of the 64 descriptors */
		uint64_t hdr = AUX(d) + 32 * i;
		struct seg s[3] = {
			{ hdr, 16, false }, { DATA(d) + 4096 * i, 4096, true }, { hdr + 16, 1, true },
		};

		put_hdr(d, hdr, T_IN, 8 * i);
		post(&d->q, s, 3);
	}
	kick(&d->q);
	set_status(&d->v, 0);
	assert_true(WAIT_FOR(status(&d->v) == 0));
	check_recovers(d);
}

/* ---- Interrupts ----------------------------------------------------------- */

static void test_msix_completion(void **state)
{
	struct drv *d = &rw;
	uint8_t ok = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;

	/* Linux's order: MSI-X on, config vector, then the queue with its vector. */
	msix_program(&d->v, 2);
	assert_int_equal(drv_negotiate(&d->v, std_features(d)), ok);
	cc_wr(&d->v, CC_MSIX_CONFIG, 2, 0);
	assert_int_equal(cc_rd(&d->v, CC_MSIX_CONFIG, 2), 0);
	queue_addrs(d, 64);
	queue_setup(d, 1);
	assert_int_equal(cc_rd(&d->v, CC_Q_MSIX, 2), 1);
	set_status(&d->v, ok | VIRTIO_STATUS_DRIVER_OK);

	for (unsigned i = 0; i < 3; i++) {
		msi_clear();
		assert_int_equal(rd(d, i, SECTOR, NULL), S_OK);
		assert_true(WAIT_FOR(msi_count() >= 1));
		sleep_ms(20);
		assert_int_equal(msi_count(), 1);
		assert_int_equal(msis.addr, 0xfee01000u);
		assert_int_equal(msis.data, 0x4031);
	}
	/* With MSI-X, neither ISR nor INTx. */
	assert_int_equal(mmio_rd(d->v.isr, 1), 0);
	assert_false(pci_find(0, d->v.slot, 0)->intx.asserted);

	/* Vectors the table does not have read back as NO_VECTOR. */
	cc_wr(&d->v, CC_Q_MSIX, 2, 2);
	assert_int_equal(cc_rd(&d->v, CC_Q_MSIX, 2), VIRTIO_NO_VECTOR);
	cc_wr(&d->v, CC_MSIX_CONFIG, 2, 0x7ff);
	assert_int_equal(cc_rd(&d->v, CC_MSIX_CONFIG, 2), VIRTIO_NO_VECTOR);
	/* NO_VECTOR: completions are silent. */
	msi_clear();
	assert_int_equal(rd(d, 0, SECTOR, NULL), S_OK);
	sleep_ms(20);
	assert_int_equal(msi_count(), 0);
}

static void test_intx_isr(void **state)
{
	struct drv *d = &rw;
	struct pci_devinst *pi = pci_find(0, d->v.slot, 0);

	assert_false(pci_msix_enabled(pi));
	assert_int_equal(rd(d, 0, SECTOR, NULL), S_OK);
	assert_true(WAIT_FOR(pi->intx.asserted));
	assert_true(cfg_rd(d->v.slot, PCIR_STATUS, 2) & PCIM_STATUS_INTR);
	/* Reading ISR returns the cause, clears it and lowers the line. */
	assert_int_equal(mmio_rd(d->v.isr, 1), 1);
	assert_false(pi->intx.asserted);
	assert_false(cfg_rd(d->v.slot, PCIR_STATUS, 2) & PCIM_STATUS_INTR);
	assert_int_equal(mmio_rd(d->v.isr, 1), 0);
	/* Wider reads are not the ISR register (and do not clear it). */
	assert_int_equal(rd(d, 1, SECTOR, NULL), S_OK);
	assert_true(WAIT_FOR(pi->intx.asserted));
	assert_int_equal(mmio_rd(d->v.isr, 4), 0);
	assert_true(pi->intx.asserted);
	assert_int_equal(mmio_rd(d->v.isr, 1), 1);
	assert_int_equal(msi_count(), 0);

	/* The driver can ask for no interrupt. */
	avail(&d->q)->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_int_equal(rd(d, 2, SECTOR, NULL), S_OK);
	sleep_ms(20);
	assert_false(pi->intx.asserted);
	assert_int_equal(mmio_rd(d->v.isr, 1), 0);
	avail(&d->q)->flags = 0;
}

/* ---- The legacy interface ----------------------------------------------------- */

/* As Linux's virtio_pci_legacy (or FreeBSD 12): 32 feature bits, a page-frame queue. */
static void lg_init(struct drv *d, uint32_t features)
{
	lg_negotiate(&d->v, features);
	lg_queue_setup(&d->q, &d->v, 0, d->ring_gpa);
	assert_int_equal(d->q.size, 256); /* the device's size: a legacy driver cannot pick */
	lg_driver_ok(&d->v);
}

static uint64_t lg_capacity(const struct drv *d, unsigned devcfg)
{
	return lg_rd(&d->v, devcfg, 4) | (uint64_t)lg_rd(&d->v, devcfg + 4, 4) << 32;
}

static void test_legacy_io(void **state)
{
	struct drv *d = &rw;
	struct pci_devinst *pi = pci_find(0, d->v.slot, 0);
	uint32_t host = lg_rd(&d->v, LG_HOST_FEATURES, 4);
	uint8_t want[2 * SECTOR];
	uint32_t len;

	/* The low half of what the modern interface offers. */
	assert_int_equal(host, (uint32_t)device_features(&d->v));
	assert_true(host & BIT(F_FLUSH));
	lg_init(d, BIT(F_FLUSH) | BIT(F_SEG_MAX) | BIT(F_BLK_SIZE));
	assert_int_equal(lg_rd(&d->v, LG_GUEST_FEATURES, 4),
			 BIT(F_FLUSH) | BIT(F_SEG_MAX) | BIT(F_BLK_SIZE));
	assert_int_equal(lg_rd(&d->v, LG_QUEUE_PFN, 4), d->ring_gpa >> 12);
	/* MSI-X off: the device config right after the ISR, at 0x14. */
	assert_int_equal(lg_capacity(d, LG_DEVCFG), IMG_SIZE / SECTOR);
	assert_int_equal(rd(d, 20, sizeof(want), &len), S_OK);
	assert_int_equal(len, sizeof(want) + 1);
	fill_pattern(want, 20 * SECTOR, sizeof(want));
	assert_memory_equal(ram(DATA(d)), want, sizeof(want));
	memset(ram(DATA(d)), 0x3c, SECTOR);
	assert_int_equal(wr(d, 7, SECTOR, NULL), S_OK);
	image_read(7 * SECTOR, want, SECTOR);
	assert_int_equal(want[0], 0x3c);
	assert_int_equal(want[SECTOR - 1], 0x3c);
	assert_int_equal(request(d, T_FLUSH, 0, 0, 0, false, NULL), S_OK);
	/* INTx and the ISR register (read clears it). */
	assert_true(WAIT_FOR(pi->intx.asserted));
	assert_int_equal(lg_rd(&d->v, LG_ISR, 1), 1);
	assert_false(pi->intx.asserted);
	assert_int_equal(lg_rd(&d->v, LG_ISR, 1), 0);
}

static void test_legacy_msix(void **state)
{
	struct drv *d = &rw;

	msix_program(&d->v, 2);
	lg_negotiate(&d->v, BIT(F_FLUSH));
	/* MSI-X on: two vector registers, and the device config moves to 0x18. */
	lg_wr(&d->v, LG_MSIX_CONFIG, 2, 0);
	assert_int_equal(lg_rd(&d->v, LG_MSIX_CONFIG, 2), 0);
	lg_queue_setup(&d->q, &d->v, 0, d->ring_gpa);
	lg_wr(&d->v, LG_MSIX_QUEUE, 2, 1);
	assert_int_equal(lg_rd(&d->v, LG_MSIX_QUEUE, 2), 1);
	lg_wr(&d->v, LG_MSIX_QUEUE, 2, 5); /* no such vector */
	assert_int_equal(lg_rd(&d->v, LG_MSIX_QUEUE, 2), VIRTIO_NO_VECTOR);
	lg_wr(&d->v, LG_MSIX_QUEUE, 2, 1);
	lg_driver_ok(&d->v);
	assert_int_equal(lg_capacity(d, LG_DEVCFG + 4), IMG_SIZE / SECTOR);
	msi_clear();
	assert_int_equal(rd(d, 3, SECTOR, NULL), S_OK);
	assert_true(WAIT_FOR(msi_count() == 1));
	assert_int_equal(msis.data, 0x4031);
	assert_int_equal(lg_rd(&d->v, LG_ISR, 1), 0);
}

/* A hostile legacy driver: the device fails safe, and a reset brings it back. */
static void test_legacy_hostile(void **state)
{
	struct drv *d = &rw;
	uint8_t st;

	lg_negotiate(&d->v, BIT(F_FLUSH));
	/* Accesses of the wrong width are not the register. */
	assert_int_equal(lg_rd(&d->v, LG_HOST_FEATURES, 2), 0);
	lg_wr(&d->v, LG_QUEUE_SEL, 1, 0);
	/* No queue 3: size 0, its page frame ignored, its kicks too. */
	lg_wr(&d->v, LG_QUEUE_SEL, 2, 3);
	assert_int_equal(lg_rd(&d->v, LG_QUEUE_NUM, 2), 0);
	lg_wr(&d->v, LG_QUEUE_PFN, 4, 0x20);
	assert_int_equal(lg_rd(&d->v, LG_QUEUE_PFN, 4), 0);
	lg_wr(&d->v, LG_QUEUE_NOTIFY, 2, 3);
	lg_wr(&d->v, LG_QUEUE_NOTIFY, 2, 0xffff);
	/* Rings past the end of guest RAM: NEEDS_RESET, nothing touched. */
	lg_wr(&d->v, LG_QUEUE_SEL, 2, 0);
	lg_wr(&d->v, LG_QUEUE_PFN, 4, (RAM_SIZE - 4096) >> 12);
	st = (uint8_t)lg_rd(&d->v, LG_STATUS, 1);
	assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
	lg_wr(&d->v, LG_QUEUE_PFN, 4, 0xffffffffu);
	assert_true(lg_rd(&d->v, LG_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	/* A reset and a proper set-up work again. */
	lg_init(d, BIT(F_FLUSH));
	assert_false(lg_rd(&d->v, LG_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(rd(d, 0, SECTOR, NULL), S_OK);
	/* Page frame 0 deletes the queue: kicks then do nothing. */
	lg_wr(&d->v, LG_QUEUE_PFN, 4, 0);
	assert_int_equal(lg_rd(&d->v, LG_QUEUE_PFN, 4), 0);
	put_hdr(d, HDR(d), T_IN, 0);
	post(&d->q, (struct seg[]){ { HDR(d), 16, false }, { STATUS(d), 1, true } }, 2);
	kick(&d->q);
	sleep_ms(50);
	assert_int_equal(used_pending(&d->q), 0);
	/* The modern interface after a legacy driver (kexec into a new kernel). */
	drv_init(d);
	assert_int_equal(cfg_rd(d->v.slot, PCIR_REVID, 1), 0);
	assert_int_equal(rd(d, 1, SECTOR, NULL), S_OK);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_handshake),
		T(test_notify_areas),
		T(test_features_refused),
		T(test_read),
		T(test_write),
		T(test_flush),
		T(test_get_id),
		T(test_out_of_range),
		T(test_unknown_type),
		T(test_split_descriptors),
		T(test_many_in_flight),
		T(test_read_only),
		T(test_write_zeroes),
		T(test_discard),
		T(test_ranged_bad),
		T(test_ranged_flags_unsupp),
		T(test_no_status_byte),
		T(test_desc_outside_ram),
		T(test_avail_index_lies),
		T(test_bad_queue_setup),
		T(test_queue_size_above_max),
		T(test_reset_reinit),
		T(test_reset_with_requests_in_flight),
		T(test_msix_completion),
		T(test_intx_isr),
		T(test_legacy_io),
		T(test_legacy_msix),
		T(test_legacy_hostile),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
