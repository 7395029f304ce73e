/*
 * kvmprobe -- is /dev/kvm usable for running guests?
 *
 *   kvmprobe [-v] [-n ITERATIONS] [-t MAX_MS]
 *   kvmprobe -H
 *
 * 1. Function: a VM with one vCPU in real mode runs
 *        mov $0x4b, %al ; out %al, $0x61 ; hlt
 *    and the first exit must be KVM_EXIT_IO on port 0x61 with data 0x4b.
 * 2. Speed: the vCPU, put straight into 64-bit long mode (as a VMM does
 *    for a Linux kernel), counts ITERATIONS (default 1000000) down in a
 *    dec/jnz loop and then does an OUT; that must take at most MAX_MS
 *    (default 250) milliseconds. Hardware virtualization needs under 1 ms.
 *    Some nested setups (e.g. kvm-pvm under Firecracker) run supervisor
 *    code through an instruction emulator at ~1M instructions/s: /dev/kvm
 *    "works" but a Linux guest needs many minutes to boot.
 *
 * -H: create a VM and hold it until killed. The testbed's L1 runs one for
 * its lifetime: KVM enables the kernel's preempt_notifier_key static key
 * while any VM exists, so the first VM's start and the last one's exit
 * patch __schedule's code (an int3 first). Hung L1s were found with both
 * vCPUs spinning at such an int3 with interrupts off, under L0's TCG; that
 * it was this key is likely, not proven.
 *
 * No in-kernel irqchip is created, so HLT (not reached on success) would
 * exit with KVM_EXIT_HLT rather than block. Run under `timeout` anyway: on
 * a broken nested setup KVM_RUN may never return.
 *
 * Exit status: 0 usable, 1 not usable (reason on stderr), 2 usage.
 * With -v prints what it measured on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x200000UL	/* 2 MiB, identity-mapped with one large page */
#define RM_CODE 0x1000UL	/* real-mode test code */
#define PML4 0x2000UL
#define PDPT 0x3000UL
#define PD 0x4000UL
#define LM_CODE 0x10000UL	/* long-mode test code */

static int kvm_fd, mmap_size;
static uint8_t *mem;

static int fail(const char *what)
{
	fprintf(stderr, "kvmprobe: %s: %s\n", what, errno ? strerror(errno) : "failed");
	return 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run until an exit that is not an interruption; 0 if it is OUT 0x4b to 0x61. */
static int run_until_io(int vcpu, struct kvm_run *run)
{
	for (int i = 0; i < 1000; i++) {
		if (ioctl(vcpu, KVM_RUN, NULL) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return fail("KVM_RUN");
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.direction == KVM_EXIT_IO_OUT && run->io.port == 0x61 &&
			    run->io.size == 1 && *((uint8_t *)run + run->io.data_offset) == 0x4b)
				return 0;
			fprintf(stderr, "kvmprobe: unexpected I/O exit (port 0x%x)\n", run->io.port);
			return 1;
		case KVM_EXIT_INTR:
			continue;
		case KVM_EXIT_FAIL_ENTRY:
			fprintf(stderr, "kvmprobe: KVM_EXIT_FAIL_ENTRY, reason 0x%llx\n",
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
			return 1;
		default:
			fprintf(stderr, "kvmprobe: unexpected exit reason %u\n", run->exit_reason);
			return 1;
		}
	}
	fprintf(stderr, "kvmprobe: no I/O exit after 1000 runs\n");
	return 1;
}

static int new_vcpu(int vm, struct kvm_run **run)
{
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);

	if (vcpu < 0)
		return -1;
	*run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (*run == MAP_FAILED)
		return -1;
	return vcpu;
}

int main(int argc, char **argv)
{
	static const uint8_t rm_code[] = {
		0xb0, 0x4b,		/* mov $0x4b, %al */
		0xe6, 0x61,		/* out %al, $0x61 */
		0xf4,			/* hlt */
	};
	uint8_t lm_code[] = {
		0x48, 0xb9, 0, 0, 0, 0, 0, 0, 0, 0,	/* movabs $ITER, %rcx */
		0x48, 0xff, 0xc9,			/* 1: dec %rcx */
		0x75, 0xfb,				/* jnz 1b */
		0xb0, 0x4b,				/* mov $0x4b, %al */
		0xe6, 0x61,				/* out %al, $0x61 */
		0xf4,					/* hlt */
	};
	uint64_t iterations = 1000000, *pt;
	long max_ms = 250;
	int verbose = 0, hold = 0, opt, api, vm, vcpu;
	struct kvm_userspace_memory_region region;
	struct kvm_segment seg;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	double t0, elapsed;

	while ((opt = getopt(argc, argv, "Hvn:t:")) != -1) {
		switch (opt) {
		case 'H': hold = 1; break;
		case 'v': verbose = 1; break;
		case 'n': iterations = strtoull(optarg, NULL, 0); break;
		case 't': max_ms = strtol(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: kvmprobe [-v] [-n ITERATIONS] [-t MAX_MS] | -H\n");
			return 2;
		}
	}
	if (iterations == 0)
		iterations = 1;

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		return fail("open /dev/kvm");
	api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		fprintf(stderr, "kvmprobe: KVM API version %d, want %d\n", api, KVM_API_VERSION);
		return 1;
	}
	mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (mmap_size < (int)sizeof(*run))
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	vm = ioctl(kvm_fd, KVM_CREATE_VM, 0UL);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (hold) {
		for (;;)
			pause();
	}

	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap guest memory");
	memset(&region, 0, sizeof(region));
	region.slot = 0;
	region.guest_phys_addr = 0;
	region.memory_size = MEM_SIZE;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");

	/* 1. Real mode, OUT. */
	memcpy(mem + RM_CODE, rm_code, sizeof(rm_code));
	vcpu = new_vcpu(vm, &run);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = RM_CODE;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");
	if (run_until_io(vcpu, run))
		return 1;
	if (verbose)
		printf("kvmprobe: real-mode OUT: ok\n");

	/* 2. Long mode, timed loop, OUT. Same vCPU, registers set directly. */
	pt = (uint64_t *)(mem + PML4);
	pt[0] = PDPT | 3;
	pt = (uint64_t *)(mem + PDPT);
	pt[0] = PD | 3;
	pt = (uint64_t *)(mem + PD);
	pt[0] = 0x83;				/* 2 MiB page at 0, RW, present */
	memcpy(lm_code + 2, &iterations, sizeof(iterations));
	memcpy(mem + LM_CODE, lm_code, sizeof(lm_code));

	memset(&seg, 0, sizeof(seg));
	seg.limit = 0xffffffff;
	seg.present = 1;
	seg.s = 1;
	seg.g = 1;
	seg.selector = 0x8;
	seg.type = 11;				/* code: execute/read, accessed */
	seg.l = 1;
	sregs.cs = seg;
	seg.selector = 0x10;
	seg.type = 3;				/* data: read/write, accessed */
	seg.l = 0;
	seg.db = 1;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = seg;
	sregs.cr3 = PML4;
	sregs.cr4 = 0x20;			/* PAE */
	sregs.cr0 = 0x80000011;			/* PG, ET, PE */
	sregs.efer = 0x500;			/* LMA, LME */
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS (long mode)");
	memset(&regs, 0, sizeof(regs));
	regs.rip = LM_CODE;
	regs.rsp = 0x8000;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS (long mode)");
	t0 = now();
	if (run_until_io(vcpu, run))
		return 1;
	elapsed = now() - t0;
	if (verbose)
		printf("kvmprobe: long-mode loop: %llu iterations in %.3f s (%.1f M/s)\n",
		       (unsigned long long)iterations, elapsed, (double)iterations / elapsed / 1e6);
	if (elapsed * 1000.0 > (double)max_ms) {
		fprintf(stderr, "kvmprobe: too slow: %llu loop iterations took %.3f s (limit %ld ms);"
			" guest code is being emulated, not virtualized\n",
			(unsigned long long)iterations, elapsed, max_ms);
		return 1;
	}
	if (verbose)
		printf("kvmprobe: ok\n");
	return 0;
}
