#include "core/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"

static char vm_dir[PATH_MAX];
static int lock_fd = -1;

const char *registry_rundir(void)
{
	static char buf[PATH_MAX];
	const char *dir = get_config_value("rundir");
	const char *xdg;

	if (dir == NULL)
		dir = getenv("KHYVE_RUNDIR");
	if (dir != NULL)
		return dir;
	if (geteuid() == 0)
		return "/run/khyve";
	xdg = getenv("XDG_RUNTIME_DIR");
	snprintf(buf, sizeof(buf), "%s/khyve", xdg ? xdg : "/tmp");
	return buf;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		return 0;
	fprintf(stderr, "khyve: cannot create %s: %s\n", path, strerror(errno));
	return -1;
}

static void read_owner_pid(const char *dir, char *pid, size_t len)
{
	char path[PATH_MAX + 8];
	FILE *f;

	snprintf(pid, len, "?");
	snprintf(path, sizeof(path), "%s/pid", dir);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fgets(pid, (int)len, f) != NULL)
		pid[strcspn(pid, "\n")] = '\0';
	fclose(f);
}

static void write_pid(const char *dir)
{
	char path[PATH_MAX + 8];
	FILE *f;

	snprintf(path, sizeof(path), "%s/pid", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return;
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
}

int registry_claim(const char *name)
{
	const char *rundir = registry_rundir();
	char lock_path[PATH_MAX + 8], pid[32];

	if (make_dir(rundir) < 0)
		return -1;
	snprintf(vm_dir, sizeof(vm_dir), "%s/%s", rundir, name);
	if (make_dir(vm_dir) < 0)
		return -1;
	snprintf(lock_path, sizeof(lock_path), "%s/lock", vm_dir);
	lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock_fd < 0) {
		fprintf(stderr, "khyve: %s: %s\n", lock_path, strerror(errno));
		return -1;
	}
	if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
		read_owner_pid(vm_dir, pid, sizeof(pid));
		fprintf(stderr, "khyve: a VM named '%s' is already running (pid %s)\n", name, pid);
		close(lock_fd);
		lock_fd = -1;
		vm_dir[0] = '\0';
		return -1;
	}
	write_pid(vm_dir);
	return 0;
}

void registry_release(void)
{
	char path[PATH_MAX + 8];

	if (lock_fd < 0)
		return;
	snprintf(path, sizeof(path), "%s/pid", vm_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock", vm_dir);
	unlink(path);
	rmdir(vm_dir);
	close(lock_fd);
	lock_fd = -1;
}
