/*
 * The running VM: vCPU threads, VM-exit dispatch and the VM's end. A khyve
 * process runs exactly one VM, so this state is a process-wide singleton;
 * what crosses threads is an atomic exit reason and per-vCPU kick flags.
 */
#ifndef KHYVE_VMM_H
#define KHYVE_VMM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/vmmapi.h"

/* bhyve(8)'s exit status, which is also khyve's. */
enum vm_exit_code {
	VM_EXIT_REBOOT = 0,
	VM_EXIT_POWEROFF = 1,
	VM_EXIT_HALT = 2,
	VM_EXIT_TRIPLEFAULT = 3,
	VM_EXIT_ERROR = 4,
};

#define VM_MAX_VCPUS 256

/* Per-vCPU exit statistics (khyvectl --get-stats). */
struct vcpu_stats {
	uint64_t exits_io, exits_mmio, exits_intr, exits_other;
};

/*
 * Ask the VM to stop with this exit code. The first request wins; vCPUs are
 * kicked out of the guest and the main loop returns. Safe from any thread.
 */
void vm_request_exit(enum vm_exit_code code);
bool vm_exit_requested(void);
/* Valid once vm_run() returned. */
enum vm_exit_code vm_exit_code(void);

/* Create vCPUs 0..n-1 (CPUID and boot state are set by the caller before vm_run). */
int vm_create_vcpus(struct vmctx *ctx, int n);
struct vcpu *vm_vcpu(int id);
int vm_vcpu_count(void);

/*
 * Start one thread per vCPU, dispatch events on the calling thread until the
 * VM stops, join the threads and return the exit code.
 */
enum vm_exit_code vm_run(struct vmctx *ctx);
/* Exits of every vCPU added up (valid once vm_run() returned). */
void vm_total_stats(struct vcpu_stats *total);

/* ---- for the control socket (main thread, while vm_run() dispatches) ---- */

/* One vCPU's exit counts so far: 0, or -1 if there is no such vCPU. */
int vm_vcpu_stats(int id, struct vcpu_stats *out);
/* The vCPU thread's Linux thread ID (for its CPU and guest times in /proc), 0 if not started. */
pid_t vm_vcpu_tid(int id);

struct vcpu_regs {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
};

/*
 * Read a vCPU's registers. KVM vCPU ioctls block while that vCPU is in
 * KVM_RUN, so the request is posted to the vCPU's thread, which is kicked
 * out of the guest (a halted vCPU too) and reads them between two KVM_RUNs.
 * Waits at most timeout_ms. Returns 0, -ENOENT (no such vCPU), -ETIMEDOUT
 * (the vCPU did not answer: stopping, or stuck in a device model) or the
 * ioctl's -errno. One request at a time: call from the main thread only.
 */
int vm_vcpu_read_regs(int id, struct vcpu_regs *out, int timeout_ms);

#endif
