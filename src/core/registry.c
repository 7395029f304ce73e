#include "core/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"

static char vm_dir[PATH_MAX];
static char vmm_link[PATH_MAX];
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

/*
 * Take the lock file. A VM that exits unlinks it, so after locking we check
 * that the path still names the file we locked; otherwise we raced with an
 * exiting VM and try again on the new file.
 */
static int lock_name(const char *lock_path)
{
	for (int attempt = 0; attempt < 10; attempt++) {
		struct stat held, now;

		lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (lock_fd < 0 && errno == ENOENT) {
			/* An exiting VM removed the directory between our mkdir and open. */
			(void)mkdir(vm_dir, 0755);
			continue;
		}
		if (lock_fd < 0) {
			fprintf(stderr, "khyve: %s: %s\n", lock_path, strerror(errno));
			return -1;
		}
		if (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
			close(lock_fd);
			lock_fd = -1;
			return 0; /* busy: the caller reports who holds it */
		}
		if (fstat(lock_fd, &held) == 0 && stat(lock_path, &now) == 0 &&
		    held.st_ino == now.st_ino && held.st_dev == now.st_dev)
			return 0;
		close(lock_fd);
		lock_fd = -1;
		/* The directory may have gone with the exiting VM: recreate it. */
		(void)mkdir(vm_dir, 0755);
	}
	fprintf(stderr, "khyve: %s: cannot take the lock\n", lock_path);
	return -1;
}

/* Our entries, removed first on release so listings drop the VM at once. */
static void remove_links(void)
{
	char path[PATH_MAX + 16];

	if (vmm_link[0] != '\0')
		unlink(vmm_link);
	snprintf(path, sizeof(path), "%s/%s", vm_dir, REGISTRY_SOCKET);
	unlink(path);
}

/*
 * RUNDIR/vmm/NAME -> ../NAME. We hold the name's lock, so whatever is there
 * was left by a killed VM of this name: replace it.
 */
static int make_vmm_link(const char *rundir, const char *name)
{
	char dir[PATH_MAX], target[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%s", rundir, REGISTRY_VMM_DIR);
	if (make_dir(dir) < 0)
		return -1;
	/* Names are at most 64 characters (options.c): these never truncate. */
	if (snprintf(vmm_link, sizeof(vmm_link), "%s/%s", dir, name) >= (int)sizeof(vmm_link) ||
	    snprintf(target, sizeof(target), "../%s", name) >= (int)sizeof(target)) {
		vmm_link[0] = '\0';
		return -1;
	}
	(void)unlink(vmm_link);
	if (symlink(target, vmm_link) == 0)
		return 0;
	fprintf(stderr, "khyve: cannot create %s: %s\n", vmm_link, strerror(errno));
	vmm_link[0] = '\0';
	return -1;
}

int registry_claim(const char *name)
{
	const char *rundir = registry_rundir();
	char lock_path[PATH_MAX + 8], pid[32];

	if (strcmp(name, REGISTRY_VMM_DIR) == 0) {
		fprintf(stderr, "khyve: '%s' cannot name a VM: %s/%s lists the running VMs\n", name,
			rundir, REGISTRY_VMM_DIR);
		return -1;
	}
	if (make_dir(rundir) < 0)
		return -1;
	snprintf(vm_dir, sizeof(vm_dir), "%s/%s", rundir, name);
	if (make_dir(vm_dir) < 0)
		return -1;
	snprintf(lock_path, sizeof(lock_path), "%s/lock", vm_dir);
	if (lock_name(lock_path) < 0)
		return -1;
	if (lock_fd < 0) {
		read_owner_pid(vm_dir, pid, sizeof(pid));
		fprintf(stderr, "khyve: a VM named '%s' is already running (pid %s)\n", name, pid);
		vm_dir[0] = '\0';
		return -1;
	}
	write_pid(vm_dir);
	remove_links(); /* a killed VM's socket */
	if (make_vmm_link(rundir, name) < 0) {
		registry_release();
		return -1;
	}
	return 0;
}

void registry_release(void)
{
	char path[PATH_MAX + 8];

	if (lock_fd < 0)
		return;
	remove_links();
	snprintf(path, sizeof(path), "%s/pid", vm_dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock", vm_dir);
	unlink(path);
	rmdir(vm_dir);
	close(lock_fd);
	lock_fd = -1;
	vmm_link[0] = '\0';
}

int registry_control_addr(const char *name, struct sockaddr_un *sa, int *dir_fd)
{
	char dir[PATH_MAX];
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	*dir_fd = -1;
	snprintf(dir, sizeof(dir), "%s/%s", registry_rundir(), name);
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, REGISTRY_SOCKET);
	if (n > 0 && (size_t)n < sizeof(sa->sun_path))
		return 0;
	*dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*dir_fd < 0)
		return -1;
	snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", *dir_fd,
		 REGISTRY_SOCKET);
	return 0;
}
