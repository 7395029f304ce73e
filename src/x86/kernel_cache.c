#include "x86/kernel_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bump when what is stored changes meaning. */
#define CACHE_FORMAT 1

static int cache_dir(char *buf, size_t len)
{
	const char *dir = getenv("KHYVE_CACHE_DIR"), *xdg, *home;

	if (dir != NULL)
		return snprintf(buf, len, "%s", dir) < (int)len ? 0 : -1;
	if (geteuid() == 0)
		return snprintf(buf, len, "/var/cache/khyve") < (int)len ? 0 : -1;
	xdg = getenv("XDG_CACHE_HOME");
	if (xdg != NULL)
		return snprintf(buf, len, "%s/khyve", xdg) < (int)len ? 0 : -1;
	home = getenv("HOME");
	if (home == NULL)
		return -1;
	return snprintf(buf, len, "%s/.cache/khyve", home) < (int)len ? 0 : -1;
}

static int cache_path(const char *kernel_path, char *buf, size_t len)
{
	char dir[PATH_MAX];
	struct stat st;

	if (cache_dir(dir, sizeof(dir)) < 0 || stat(kernel_path, &st) < 0)
		return -1;
	return snprintf(buf, len, "%s/vmlinux-v%d-%llx-%llx-%llx-%lld.%09ld", dir, CACHE_FORMAT,
			(unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
			(unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec,
			st.st_mtim.tv_nsec) < (int)len
		   ? 0
		   : -1;
}

const uint8_t *kernel_cache_lookup(const char *kernel_path, size_t *len)
{
	char path[PATH_MAX];
	struct stat st;
	void *map;
	int fd;

	if (cache_path(kernel_path, path, sizeof(path)) < 0)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	/* Mapped, not read: the segments are copied once, straight into guest RAM. */
	map = fstat(fd, &st) == 0 && st.st_size > 0
		      ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
		      : MAP_FAILED;
	close(fd);
	if (map == MAP_FAILED)
		return NULL;
	*len = (size_t)st.st_size;
	return map;
}

void kernel_cache_release(const uint8_t *vmlinux, size_t len)
{
	if (vmlinux != NULL)
		munmap((void *)vmlinux, len);
}

static void make_parents(const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(dir, 0755);
		*p = '/';
	}
}

void kernel_cache_store(const char *kernel_path, const uint8_t *vmlinux, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32];
	int fd;

	if (cache_path(kernel_path, path, sizeof(path)) < 0)
		return;
	make_parents(path);
	/* Written aside and renamed: a reader never sees half a file. */
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, vmlinux + done, len - done);

		if (n <= 0 && errno != EINTR) {
			close(fd);
			unlink(tmp);
			return;
		}
		if (n > 0)
			done += (size_t)n;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0)
		unlink(tmp);
}
