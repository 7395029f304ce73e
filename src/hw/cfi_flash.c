/* The UEFI variable flash: see cfi_flash.h. */
#include "hw/cfi_flash.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Commands (Intel "Basic Command Set", as edk2's QemuFlash.c issues them). */
#define CMD_READ_ARRAY 0xff
#define CMD_READ_ARRAY_ALT 0x00
#define CMD_PROGRAM 0x10
#define CMD_PROGRAM_ALT 0x40
#define CMD_ERASE_SETUP 0x20
#define CMD_ERASE_CONFIRM 0xd0
#define CMD_CLEAR_STATUS 0x50
#define CMD_READ_STATUS 0x70
#define CMD_READ_ID 0x90
#define CMD_CFI_QUERY 0x98

#define STATUS_READY 0x80
#define STATUS_ERASE_ERROR 0x20
#define STATUS_PROGRAM_ERROR 0x10

#define VARS_MAX_SIZE (16u << 20)

enum flash_mode {
	MODE_ARRAY,         /* reads return the data */
	MODE_STATUS,        /* reads return the status register */
	MODE_PROGRAM,       /* the next write is the data to program */
	MODE_ERASE,         /* the next write must confirm the erase */
	MODE_ID,            /* identifier / query reads: all zeroes here */
};

struct cfi_flash {
	pthread_mutex_t lock;
	char *path;          /* the VARS file, resolved (we rename over it) */
	int fd;              /* open and OFD-locked: the file as last written */
	uint8_t *array;
	uint64_t size;
	enum flash_mode mode;
	uint8_t status;
	bool dirty;          /* array differs from the file */
	bool mapped;         /* the guest reads the array without exits (ROMD) */
	void (*romd_hook)(void *arg, bool mapped);
	void *romd_arg;
};

static int lock_file(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	return fcntl(fd, F_OFD_SETLK, &fl);
}

/* The whole of buf from/to the file at offset 0: pread/pwrite until done. */
static int transfer_all(int fd, uint8_t *buf, uint64_t len, bool writing)
{
	uint64_t done = 0;

	while (done < len) {
		ssize_t n = writing ? pwrite(fd, buf + done, len - done, (off_t)done)
				  : pread(fd, buf + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (uint64_t)n;
	}
	return 0;
}

/* The checks that let the file be used, each failing with its own line. */
static int check_vars_file(const char *path, int fd, struct stat *st)
{
	char dir[PATH_MAX];

	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) || st->st_size == 0 ||
	    st->st_size % CFI_FLASH_BLOCK_SIZE != 0 || st->st_size > VARS_MAX_SIZE) {
		fprintf(stderr, "khyve: lpc.bootvars: %s: not a variable store (a whole number "
			"of 4 KiB blocks, at most 16 MiB)\n", path);
		return -1;
	}
	if (lock_file(fd) < 0) {
		fprintf(stderr, "khyve: lpc.bootvars: %s: in use by another VM\n", path);
		return -1;
	}
	/* Snapshots are renamed into place: the directory must take new files. */
	snprintf(dir, sizeof(dir), "%s", path);
	if (access(dirname(dir), W_OK) < 0) {
		fprintf(stderr, "khyve: lpc.bootvars: %s: its directory is not writable\n", path);
		return -1;
	}
	return 0;
}

struct cfi_flash *cfi_flash_open(const char *path)
{
	struct cfi_flash *f = calloc(1, sizeof(*f));
	struct stat st;

	if (f == NULL)
		return NULL;
	f->fd = -1;
	f->array = MAP_FAILED;
	pthread_mutex_init(&f->lock, NULL);
	f->path = realpath(path, NULL);
	if (f->path == NULL || (f->fd = open(f->path, O_RDWR | O_CLOEXEC)) < 0) {
		fprintf(stderr, "khyve: lpc.bootvars: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if (check_vars_file(path, f->fd, &st) < 0)
		goto fail;
	f->size = (uint64_t)st.st_size;
	f->array = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f->array == MAP_FAILED || transfer_all(f->fd, f->array, f->size, false) < 0) {
		fprintf(stderr, "khyve: lpc.bootvars: %s: cannot read it\n", path);
		goto fail;
	}
	f->mode = MODE_ARRAY;
	f->mapped = true; /* the caller maps it when it maps the flash */
	return f;
fail:
	cfi_flash_close(f);
	return NULL;
}

uint64_t cfi_flash_size(const struct cfi_flash *f)
{
	return f->size;
}

void *cfi_flash_array(struct cfi_flash *f)
{
	return f->array;
}

void cfi_flash_set_romd_hook(struct cfi_flash *f, void (*hook)(void *arg, bool mapped), void *arg)
{
	f->romd_hook = hook;
	f->romd_arg = arg;
}

/* Write a snapshot beside the file, sync it, rename it over. Call locked. */
static int write_snapshot(struct cfi_flash *f)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	int fd, dfd;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", f->path) >= (int)sizeof(tmp))
		return -1;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* The new file keeps the old one's permissions and, if we may, its owner. */
	if (fstat(f->fd, &st) < 0 || (fchown(fd, st.st_uid, st.st_gid) < 0 && errno != EPERM))
		goto fail;
	if (lock_file(fd) < 0 || fchmod(fd, st.st_mode & 07777) < 0 ||
	    transfer_all(fd, f->array, f->size, true) < 0 || fdatasync(fd) < 0 || rename(tmp, f->path) < 0)
		goto fail;
	/* The rename itself must survive a crash: sync the directory. */
	snprintf(dir, sizeof(dir), "%s", f->path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	close(f->fd); /* drops the old inode's lock; the new one is locked already */
	f->fd = fd;
	f->dirty = false;
	return 0;
fail:
	unlink(tmp);
	close(fd);
	return -1;
}

static int sync_locked(struct cfi_flash *f)
{
	if (!f->dirty)
		return 0;
	if (write_snapshot(f) < 0) {
		fprintf(stderr, "khyve: lpc.bootvars: %s: cannot save the variables: %s\n", f->path,
			strerror(errno));
		return -1;
	}
	return 0;
}

int cfi_flash_sync(struct cfi_flash *f)
{
	int rc;

	pthread_mutex_lock(&f->lock);
	rc = sync_locked(f);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static void set_mapped(struct cfi_flash *f, bool mapped)
{
	if (f->mapped == mapped)
		return;
	f->mapped = mapped;
	if (f->romd_hook)
		f->romd_hook(f->romd_arg, mapped);
}

/*
 * Mode changes. The array is taken away as soon as reads must see status;
 * it comes back on the first read in read-array mode rather than at once,
 * so a firmware writing many bytes in a row (one command sequence each)
 * does not remap the slot between them.
 */
static void set_mode(struct cfi_flash *f, enum flash_mode mode)
{
	bool was_array = f->mode == MODE_ARRAY;

	f->mode = mode;
	if (mode == MODE_ARRAY && !was_array)
		(void)sync_locked(f); /* a command sequence ended: persist it */
	if (mode != MODE_ARRAY)
		set_mapped(f, false);
}

uint64_t cfi_flash_read(struct cfi_flash *f, uint64_t off, int bytes)
{
	uint64_t val = 0;

	if (bytes < 1 || bytes > 8)
		return ~0ull;
	pthread_mutex_lock(&f->lock);
	if (f->mode == MODE_ARRAY)
		set_mapped(f, true);
	for (int i = bytes - 1; i >= 0; i--) {
		uint8_t b = 0xff;

		if (f->mode == MODE_STATUS || f->mode == MODE_PROGRAM || f->mode == MODE_ERASE)
			b = f->status;
		else if (f->mode == MODE_ID)
			b = 0;
		else if (off + (uint64_t)i < f->size && off + (uint64_t)i >= off)
			b = f->array[off + (uint64_t)i];
		val = val << 8 | b;
	}
	pthread_mutex_unlock(&f->lock);
	return val;
}

static void program(struct cfi_flash *f, uint64_t off, int bytes, uint64_t val)
{
	if (off >= f->size || (uint64_t)bytes > f->size - off) {
		f->status |= STATUS_PROGRAM_ERROR;
		return;
	}
	for (int i = 0; i < bytes; i++)
		f->array[off + (uint64_t)i] = (uint8_t)(val >> (8 * i));
	f->dirty = true;
}

static void erase(struct cfi_flash *f, uint64_t off)
{
	if (off >= f->size) {
		f->status |= STATUS_ERASE_ERROR;
		return;
	}
	memset(f->array + (off & ~(uint64_t)(CFI_FLASH_BLOCK_SIZE - 1)), 0xff, CFI_FLASH_BLOCK_SIZE);
	f->dirty = true;
}

/* A write while no command waits for data: it is a command. */
static void command(struct cfi_flash *f, uint8_t cmd)
{
	switch (cmd) {
	case CMD_PROGRAM:
	case CMD_PROGRAM_ALT:
		set_mode(f, MODE_PROGRAM);
		break;
	case CMD_ERASE_SETUP:
		set_mode(f, MODE_ERASE);
		break;
	case CMD_CLEAR_STATUS:
		f->status = 0;
		set_mode(f, MODE_ARRAY);
		break;
	case CMD_READ_STATUS:
		set_mode(f, MODE_STATUS);
		break;
	case CMD_READ_ID:
	case CMD_CFI_QUERY:
		set_mode(f, MODE_ID);
		break;
	case CMD_READ_ARRAY:
	case CMD_READ_ARRAY_ALT:
		set_mode(f, MODE_ARRAY);
		break;
	default:
		break; /* unknown commands leave the flash as it was */
	}
}

void cfi_flash_write(struct cfi_flash *f, uint64_t off, int bytes, uint64_t val)
{
	if (bytes < 1 || bytes > 8)
		return;
	pthread_mutex_lock(&f->lock);
	switch (f->mode) {
	case MODE_PROGRAM:
		program(f, off, bytes, val);
		f->status |= STATUS_READY;
		set_mode(f, MODE_STATUS);
		break;
	case MODE_ERASE:
		if ((uint8_t)val == CMD_ERASE_CONFIRM)
			erase(f, off);
		else
			f->status |= STATUS_ERASE_ERROR | STATUS_PROGRAM_ERROR; /* sequence error */
		f->status |= STATUS_READY;
		set_mode(f, MODE_STATUS);
		break;
	default:
		command(f, (uint8_t)val);
		break;
	}
	pthread_mutex_unlock(&f->lock);
}

void cfi_flash_close(struct cfi_flash *f)
{
	if (f == NULL)
		return;
	if (f->array != MAP_FAILED) {
		(void)cfi_flash_sync(f);
		munmap(f->array, f->size);
	}
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
