/*
 * The VM name registry: one running VM per name. A VM holds an exclusive
 * flock on RUNDIR/NAME/lock for its lifetime; the kernel drops it when the
 * process dies however it dies, so a stale entry is simply re-locked by the
 * next start, which also replaces the stale pid, socket and vmm/NAME link.
 * RUNDIR is the config key "rundir", else $KHYVE_RUNDIR, else /run/khyve
 * (root) or $XDG_RUNTIME_DIR/khyve.
 *
 *   RUNDIR/NAME/lock            flock held while the VM runs
 *   RUNDIR/NAME/pid             khyve's process ID
 *   RUNDIR/NAME/control.sock    the control socket (khyvectl(8), PROTOCOL)
 *   RUNDIR/vmm/NAME -> ../NAME  one link per VM, as FreeBSD's /dev/vmm/NAME
 *
 * Readers (khyvectl) must never flock the lock file: a starting VM would
 * take their shared lock for a running VM. A stale entry is recognised by
 * its socket refusing connections.
 */
#ifndef KHYVE_REGISTRY_H
#define KHYVE_REGISTRY_H

#include <sys/un.h>

#define REGISTRY_SOCKET "control.sock"
#define REGISTRY_VMM_DIR "vmm"

/* Claim the name; prints one line and returns -1 if it is taken or unusable. */
int registry_claim(const char *name);
/* Remove our entry (on the way out). */
void registry_release(void);
const char *registry_rundir(void);
/*
 * The address of VM name's control socket. A path too long for sun_path
 * (deep RUNDIRs) goes through /proc/self/fd/N: *dir_fd is then an open fd
 * of the VM's directory to close after bind/connect, else -1. Returns -1
 * with errno set (ENOENT: no such VM directory).
 */
int registry_control_addr(const char *name, struct sockaddr_un *sa, int *dir_fd);

#endif
