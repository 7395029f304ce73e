/*
 * fw_cfg (QEMU docs/specs/fw_cfg.rst), see fw_cfg.h. Items live in a small
 * table keyed by selector; files get keys from 0x20 in the order they are
 * added, and the directory (key 0x19) lists them sorted by name, rebuilt on
 * every addition. Every guest address the DMA interface names goes through
 * vm_map_gpa(): an address outside RAM sets the error bit, nothing more.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/inout.h"
#include "hw/fw_cfg.h"
#include "hw/platform.h"
#include "lib/vmmapi.h"

#define SEL_WRITE_CHANNEL 0x4000u /* the guest asks to write: never granted */
#define MAX_ITEMS (64 + FW_CFG_MAX_FILES)
#define MAX_FILE_SIZE (64u << 20)
#define DMA_SIGNATURE "QEMU CFG"  /* what reads of the DMA register return */

struct item {
	uint16_t key;
	char name[FW_CFG_NAME_LEN]; /* "" for a legacy key */
	uint8_t *data;
	uint32_t len;
};

struct dma_access {
	uint32_t control, length;
	uint64_t address;
} __attribute__((packed));

static struct {
	pthread_mutex_t lock;
	bool active;
	struct item items[MAX_ITEMS];
	int nitems, nfiles;
	uint16_t sel;
	uint32_t offset;
	uint32_t dma_high;
} fc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct item *find_item(uint16_t key)
{
	for (int i = 0; i < fc.nitems; i++)
		if (fc.items[i].key == key)
			return &fc.items[i];
	return NULL;
}

static struct item *find_file(const char *name)
{
	for (int i = 0; i < fc.nitems; i++)
		if (fc.items[i].name[0] != '\0' && strcmp(fc.items[i].name, name) == 0)
			return &fc.items[i];
	return NULL;
}

/* Replace (or create) the item under key with a copy of data. */
static int set_item(uint16_t key, const char *name, const void *data, uint32_t len)
{
	struct item *it = find_item(key);
	uint8_t *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return -1;
	if (it == NULL) {
		if (fc.nitems == MAX_ITEMS) {
			free(copy);
			return -1;
		}
		it = &fc.items[fc.nitems++];
		it->data = NULL;
	}
	if (len)
		memcpy(copy, data, len);
	free(it->data);
	*it = (struct item){ .key = key, .data = copy, .len = len };
	snprintf(it->name, sizeof(it->name), "%s", name ? name : "");
	return 0;
}

int fw_cfg_add_bytes(uint16_t key, const void *data, uint32_t len)
{
	int rc;

	/* Keys 0x19 and up, and the directory itself, belong to files. */
	if (key >= FW_CFG_FILE_DIR && key < 0x8000)
		return -1;
	pthread_mutex_lock(&fc.lock);
	rc = set_item(key, NULL, data, len);
	pthread_mutex_unlock(&fc.lock);
	return rc;
}

int fw_cfg_add_u16(uint16_t key, uint16_t value)
{
	uint16_t le = htole16(value);

	return fw_cfg_add_bytes(key, &le, sizeof(le));
}

int fw_cfg_add_u32(uint16_t key, uint32_t value)
{
	uint32_t le = htole32(value);

	return fw_cfg_add_bytes(key, &le, sizeof(le));
}

int fw_cfg_add_u64(uint16_t key, uint64_t value)
{
	uint64_t le = htole64(value);

	return fw_cfg_add_bytes(key, &le, sizeof(le));
}

static int by_name(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a, *y = *(const struct item *const *)b;

	return strcmp(x->name, y->name);
}

/* Directory: be32 count, then {be32 size, be16 select, be16 reserved, name[56]} by name. */
static int rebuild_directory(void)
{
	const struct item *files[FW_CFG_MAX_FILES];
	uint32_t len = 4 + (uint32_t)fc.nfiles * 64, count = htobe32((uint32_t)fc.nfiles);
	uint8_t *dir = calloc(1, len);
	int n = 0, rc;

	if (dir == NULL)
		return -1;
	for (int i = 0; i < fc.nitems; i++)
		if (fc.items[i].name[0] != '\0')
			files[n++] = &fc.items[i];
	qsort(files, (size_t)n, sizeof(files[0]), by_name);
	memcpy(dir, &count, 4);
	for (int i = 0; i < n; i++) {
		uint8_t *e = dir + 4 + 64 * i;
		uint32_t size = htobe32(files[i]->len);
		uint16_t sel = htobe16(files[i]->key);

		memcpy(e, &size, 4);
		memcpy(e + 4, &sel, 2);
		memcpy(e + 8, files[i]->name, strlen(files[i]->name));
	}
	rc = set_item(FW_CFG_FILE_DIR, NULL, dir, len);
	free(dir);
	return rc;
}

int fw_cfg_add_file(const char *name, const void *data, uint32_t len)
{
	int rc = -1;

	if (name[0] == '\0' || strlen(name) >= FW_CFG_NAME_LEN)
		return -1;
	pthread_mutex_lock(&fc.lock);
	if (find_file(name) == NULL && fc.nfiles < FW_CFG_MAX_FILES &&
	    set_item((uint16_t)(FW_CFG_FILE_FIRST + fc.nfiles), name, data, len) == 0) {
		fc.nfiles++;
		rc = rebuild_directory();
	}
	pthread_mutex_unlock(&fc.lock);
	return rc;
}

/* ---- the guest's side ------------------------------------------------------ */

static void select_key(uint16_t sel)
{
	fc.sel = sel;
	fc.offset = 0;
}

/* The current item, or NULL: unknown keys and the write channel read as zeroes. */
static const struct item *current(void)
{
	if (fc.sel & SEL_WRITE_CHANNEL)
		return NULL;
	return find_item(fc.sel);
}

static uint8_t read_byte(void)
{
	const struct item *it = current();

	if (it == NULL || fc.offset >= it->len)
		return 0;
	return it->data[fc.offset++];
}

/* Copy (dst != NULL) or skip len bytes of the current item; the part past its end reads 0. */
static void transfer(uint8_t *dst, uint32_t len)
{
	const struct item *it = current();
	uint32_t avail = (it != NULL && fc.offset < it->len) ? it->len - fc.offset : 0;
	uint32_t n = len < avail ? len : avail;

	if (dst != NULL) {
		if (n)
			memcpy(dst, it->data + fc.offset, n);
		memset(dst + n, 0, len - n);
	}
	fc.offset += n;
}

/* One DMA request; returns the control word to write back (0 or the error bit). */
static uint32_t dma_execute(struct vmctx *ctx, const struct dma_access *req)
{
	uint32_t control = be32toh(req->control), len = be32toh(req->length);
	uint8_t *dst;

	if (control & FW_CFG_DMA_SELECT)
		select_key((uint16_t)(control >> 16));
	if (control & FW_CFG_DMA_READ) {
		dst = vm_map_gpa(ctx, be64toh(req->address), len);
		if (dst == NULL)
			return FW_CFG_DMA_ERROR;
		transfer(dst, len);
	} else if (control & FW_CFG_DMA_WRITE) {
		return FW_CFG_DMA_ERROR; /* no item is writable */
	} else if (control & FW_CFG_DMA_SKIP) {
		transfer(NULL, len);
	}
	return 0;
}

static void dma_start(struct vmctx *ctx, uint64_t gpa)
{
	struct dma_access req;
	void *hdr = vm_map_gpa(ctx, gpa, sizeof(req));
	uint32_t done;

	if (hdr == NULL)
		return; /* no control word to report an error in */
	/* The guest may change the structure meanwhile: work on a copy. */
	memcpy(&req, hdr, sizeof(req));
	done = htobe32(dma_execute(ctx, &req));
	memcpy(hdr, &done, sizeof(done));
}

static int data_handler(bool in, int bytes, uint32_t *val)
{
	/* Writes through the data port were retired by QEMU 2.4: dropped. */
	if (in) {
		*val = 0;
		for (int i = 0; i < bytes; i++)
			*val |= (uint32_t)read_byte() << (8 * i);
	}
	return 0;
}

static int dma_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val)
{
	unsigned off = port - FW_CFG_PORT_DMA;

	if (in) {
		*val = 0;
		for (int i = 0; i < bytes && off + i < 8; i++)
			*val |= (uint32_t)(uint8_t)DMA_SIGNATURE[off + i] << (8 * i);
		return 0;
	}
	if (bytes != 4 || (off != 0 && off != 4))
		return 0;
	/* The port bytes are the address in big-endian order; *val read them little-endian. */
	if (off == 0) {
		fc.dma_high = be32toh(htole32(*val));
	} else {
		uint64_t gpa = (uint64_t)fc.dma_high << 32 | be32toh(htole32(*val));

		fc.dma_high = 0;
		dma_start(ctx, gpa);
	}
	return 0;
}

static int fw_cfg_handler(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val,
			  void *arg)
{
	int rc = 0;

	pthread_mutex_lock(&fc.lock);
	if (port == FW_CFG_PORT_SEL) {
		if (in)
			*val = 0;
		else
			select_key((uint16_t)*val);
	} else if (port == FW_CFG_PORT_DATA) {
		rc = data_handler(in, bytes, val);
	} else {
		rc = dma_handler(ctx, in, port, bytes, val);
	}
	pthread_mutex_unlock(&fc.lock);
	return rc;
}

/* ---- set-up ------------------------------------------------------------------ */

int fw_cfg_setup(struct vmctx *ctx)
{
	const struct inout_port ports = { "fw_cfg", FW_CFG_PORT_SEL, 2, IOPORT_F_INOUT,
					  fw_cfg_handler, NULL };
	const struct inout_port dma = { "fw_cfg-dma", FW_CFG_PORT_DMA, 8, IOPORT_F_INOUT,
					fw_cfg_handler, NULL };

	if (register_inout(&ports) < 0) {
		fprintf(stderr, "khyve: fw_cfg: ports 0x510-0x511 are taken\n");
		return -1;
	}
	if (register_inout(&dma) < 0) {
		(void)unregister_inout(FW_CFG_PORT_SEL, 2); /* ours, just registered */
		fprintf(stderr, "khyve: fw_cfg: ports 0x514-0x51b are taken\n");
		return -1;
	}
	fc.active = true;
	if (fw_cfg_add_bytes(FW_CFG_SIGNATURE, "QEMU", 4) < 0 ||
	    fw_cfg_add_u32(FW_CFG_ID, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA) < 0 ||
	    set_item(FW_CFG_FILE_DIR, NULL, "\0\0\0\0", 4) < 0) {
		fprintf(stderr, "khyve: fw_cfg: out of memory\n");
		fw_cfg_teardown();
		return -1;
	}
	return 0;
}

void fw_cfg_teardown(void)
{
	pthread_mutex_lock(&fc.lock);
	if (fc.active) {
		(void)unregister_inout(FW_CFG_PORT_SEL, 2);
		(void)unregister_inout(FW_CFG_PORT_DMA, 8);
	}
	for (int i = 0; i < fc.nitems; i++)
		free(fc.items[i].data);
	fc.nitems = fc.nfiles = 0;
	fc.sel = 0;
	fc.offset = fc.dma_high = 0;
	fc.active = false;
	pthread_mutex_unlock(&fc.lock);
}

bool fw_cfg_active(void)
{
	return fc.active;
}

int fw_cfg_add_machine(int ncpus, int maxcpus, uint64_t ram_size, const uint8_t uuid[16])
{
	if (fw_cfg_add_u16(FW_CFG_NB_CPUS, (uint16_t)ncpus) < 0 ||
	    fw_cfg_add_u16(FW_CFG_MAX_CPUS, (uint16_t)maxcpus) < 0 ||
	    fw_cfg_add_u64(FW_CFG_RAM_SIZE, ram_size) < 0 ||
	    /* No display: firmware uses the serial console (SeaBIOS sercon). */
	    fw_cfg_add_u16(FW_CFG_NOGRAPHIC, 1) < 0 ||
	    fw_cfg_add_u16(FW_CFG_BOOT_MENU, 0) < 0)
		return -1;
	return fw_cfg_add_bytes(FW_CFG_UUID, uuid, 16);
}

/* ---- bhyve's -f ------------------------------------------------------------- */

static int read_whole_file(const char *path, uint8_t **data, uint32_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE_SIZE) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*data = malloc((size_t)st.st_size + 1);
	if (*data != NULL)
		got = read(fd, *data, (size_t)st.st_size);
	close(fd);
	if (*data == NULL || got != st.st_size) {
		free(*data);
		return -1;
	}
	*len = (uint32_t)st.st_size;
	return 0;
}

static int add_user_file(int index, const char *name)
{
	char key[64];
	const char *str, *path;
	uint8_t *data = NULL;
	uint32_t len = 0;
	int rc;

	snprintf(key, sizeof(key), "fwcfg.user.%d.string", index);
	str = get_config_value_raw(key);
	snprintf(key, sizeof(key), "fwcfg.user.%d.file", index);
	path = get_config_value(key);
	if (str != NULL) {
		rc = fw_cfg_add_file(name, str, (uint32_t)strlen(str));
	} else if (path != NULL && (errno = 0, read_whole_file(path, &data, &len)) == 0) {
		rc = fw_cfg_add_file(name, data, len);
	} else {
		fprintf(stderr, "khyve: -f %s: %s: %s\n", name, path ? path : "(no data)",
			path && errno ? strerror(errno) : "cannot read");
		return -1;
	}
	free(data);
	if (rc < 0)
		fprintf(stderr, "khyve: -f %s: cannot add the fw_cfg file (duplicate?)\n", name);
	return rc;
}

int fw_cfg_add_user_files(void)
{
	char key[48];

	for (int i = 0;; i++) {
		const char *name;

		snprintf(key, sizeof(key), "fwcfg.user.%d.name", i);
		if ((name = get_config_value_raw(key)) == NULL)
			return 0;
		if (add_user_file(i, name) < 0)
			return -1;
	}
}

/* Present with -l fwcfg,qemu, and with a boot ROM (firmware reads the machine from it). */
static int fw_cfg_lpc_init(struct vmctx *ctx)
{
	const char *type = get_config_value("lpc.fwcfg");

	if ((type == NULL || strcmp(type, "qemu") != 0) && get_config_value("lpc.bootrom") == NULL) {
		if (find_config_node("fwcfg.user") != NULL) {
			fprintf(stderr, "khyve: -f: fw_cfg files need the fw_cfg device "
				"(-l fwcfg,qemu)\n");
			return -1;
		}
		return 0;
	}
	if (fw_cfg_setup(ctx) < 0)
		return -1;
	return fw_cfg_add_user_files();
}

static void fw_cfg_lpc_cleanup(void)
{
	fw_cfg_teardown();
}

static struct lpc_dev fw_cfg_dev = { .name = "fw_cfg", .init = fw_cfg_lpc_init,
				     .cleanup = fw_cfg_lpc_cleanup };
LPC_DEV_SET(fw_cfg_dev);
