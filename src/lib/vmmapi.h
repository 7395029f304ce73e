/*
 * A thin library over the KVM ioctls: khyve's counterpart of bhyve's
 * libvmmapi. It knows about /dev/kvm, VMs, vCPUs, guest memory and interrupt
 * lines; it knows nothing about devices or configuration.
 */
#ifndef KHYVE_VMMAPI_H
#define KHYVE_VMMAPI_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest physical memory layout: RAM below the 32-bit PCI/firmware hole, the rest above 4 GiB. */
#define VM_LOWMEM_LIMIT 0xc0000000ull /* 3 GiB */
/*
 * Pages KVM keeps for itself on Intel hosts (real-mode TSS, EPT identity
 * map): where QEMU puts them, below the IOAPIC-to-4 GiB area so they never
 * overlap a firmware image (up to 16 MiB below 4 GiB).
 */
#define KVM_PRIVATE_BASE 0xfeffc000ull
#define KVM_PRIVATE_SIZE 0x4000ull
#define VM_HIGHMEM_BASE 0x100000000ull /* 4 GiB */

#define VM_MSI_GSI_BASE 24    /* after the IOAPIC's pins */
#define VM_MAX_MSI_ROUTES 64

struct vmctx {
	int kvm_fd;
	int vm_fd;
	int vcpu_mmap_size;
	uint8_t *ram;          /* one host mapping: [lowmem][hole][highmem] */
	size_t ram_map_len;
	uint64_t lowmem;       /* bytes of RAM at GPA 0 */
	uint64_t highmem;      /* bytes of RAM at GPA 4 GiB */
	int nslots;
	/* MSI routes for irqfds (vm_msi_route_*): GSI VM_MSI_GSI_BASE + index. */
	pthread_mutex_t route_lock;
	struct {
		bool used;
		uint64_t addr;
		uint32_t data;
	} msi_route[VM_MAX_MSI_ROUTES];
	/* Where KVM queues coalesced port writes (vm_coalesce_pio): in vCPU 0's mapping. */
	struct kvm_coalesced_mmio_ring *coalesced_ring;
	uint32_t coalesced_max; /* entries in that ring */
};

struct vcpu {
	int id;
	int fd;
	struct kvm_run *run;
};

/*
 * Open /dev/kvm and check everything khyve needs. On failure returns NULL and
 * writes one sentence into err saying what is missing and what to do.
 */
struct vmctx *vm_open(char *err, size_t errlen);
void vm_close(struct vmctx *ctx);

/*
 * Guest RAM: size bytes at a VM_RAM_ALIGN-aligned host address (MAP_FAILED
 * on failure). Only when host and guest addresses agree modulo 2 MiB can a
 * transparent huge page back a guest 2 MiB page and KVM map it with one
 * large nested-page entry; a plain mmap() is only page-aligned (Linux
 * before 6.7 does not align large anonymous mappings), which leaves every
 * guest page a 4 KiB one: many more nested page faults and TLB misses.
 * QEMU aligns its RAM the same way. hugepages: hugetlbfs (MAP_HUGETLB).
 */
#define VM_RAM_ALIGN (2ull << 20)
void *vm_alloc_ram(size_t size, bool hugepages);
/* RAM of "size" bytes split around the 3-4 GiB hole. hugepages: MAP_HUGETLB (2 MiB). */
int vm_setup_memory(struct vmctx *ctx, uint64_t size, bool hugepages, bool wired,
		    char *err, size_t errlen);
/*
 * Host pointer for guest range [gpa, gpa+len) if it lies entirely inside
 * guest RAM, else NULL. Every guest-provided address goes through this.
 */
void *vm_map_gpa(struct vmctx *ctx, uint64_t gpa, uint64_t len);
uint64_t vm_mem_size(const struct vmctx *ctx);
/*
 * Map host memory read-only at gpa (firmware ROM, KVM_MEM_READONLY).
 * Returns the slot number (>= 0), or -1 (errno).
 */
int vm_add_rom(struct vmctx *ctx, uint64_t gpa, void *host, uint64_t len);
/* Re-map a ROM slot from vm_add_rom (len 0: take it away, so accesses exit as MMIO). */
int vm_set_rom(struct vmctx *ctx, int slot, uint64_t gpa, void *host, uint64_t len);

int vm_create_irqchip(struct vmctx *ctx);
/* Drive an ISA/IOAPIC interrupt line (level: 1 asserted, 0 deasserted). */
int vm_set_irq_line(struct vmctx *ctx, uint32_t gsi, int level);
int vm_signal_msi(struct vmctx *ctx, uint64_t addr, uint32_t data);
int vm_ioeventfd(struct vmctx *ctx, uint64_t addr, uint32_t len, bool pio, int fd,
		 bool deassign);
/* Only writes of exactly data signal fd (several queues behind one register). */
int vm_ioeventfd_match(struct vmctx *ctx, uint64_t addr, uint32_t len, bool pio,
		       uint64_t data, int fd, bool deassign);
int vm_irqfd(struct vmctx *ctx, uint32_t gsi, int fd, bool deassign);
/*
 * MSI routes, so that an eventfd signalled by the kernel (vhost) interrupts
 * the guest through an irqfd without waking khyve. The first route replaces
 * KVM's default routing with an identical table plus the MSI routes (KVM
 * takes only whole tables). Thread-safe. add returns the GSI or -1 (errno).
 */
int vm_msi_route_add(struct vmctx *ctx, uint64_t addr, uint32_t data);
int vm_msi_route_set(struct vmctx *ctx, int gsi, uint64_t addr, uint32_t data);
void vm_msi_route_del(struct vmctx *ctx, int gsi);
/*
 * Coalesced port writes: KVM queues the guest's OUTs to [port, port+len) in
 * a ring shared with khyve instead of exiting to it, and khyve replays them
 * in order at its next exit (core/inout.c). Only for registers whose writes
 * have no effect the guest waits for before it next exits anyway. Returns 0,
 * or -1 (errno ENOTSUP when KVM lacks KVM_CAP_COALESCED_PIO).
 */
int vm_coalesce_pio(struct vmctx *ctx, uint16_t port, uint16_t len);
int vm_check_extension(struct vmctx *ctx, long cap);
int vm_enable_cap(struct vmctx *ctx, uint32_t cap, uint64_t arg0);
/* Include guest RAM in core dumps again (bhyve -C). */
void vm_guest_in_core(struct vmctx *ctx);

int vm_vcpu_create(struct vmctx *ctx, int id, struct vcpu *vcpu);
void vm_vcpu_destroy(struct vmctx *ctx, struct vcpu *vcpu);
/* KVM_RUN; returns 0 or -errno (-EINTR when kicked by a signal). */
int vm_vcpu_run(struct vcpu *vcpu);

/* Supported CPUID entries (malloc'ed, caller frees). */
struct kvm_cpuid2 *vm_get_supported_cpuid(struct vmctx *ctx);
int vm_vcpu_set_cpuid(struct vcpu *vcpu, struct kvm_cpuid2 *cpuid);
int vm_vcpu_get_regs(struct vcpu *vcpu, struct kvm_regs *regs);
int vm_vcpu_set_regs(struct vcpu *vcpu, const struct kvm_regs *regs);
int vm_vcpu_get_sregs(struct vcpu *vcpu, struct kvm_sregs *sregs);
int vm_vcpu_set_sregs(struct vcpu *vcpu, const struct kvm_sregs *sregs);
/* Running, halted, or (an AP) waiting for INIT/SIPI; only between two KVM_RUNs. */
int vm_vcpu_get_mp_state(struct vcpu *vcpu, struct kvm_mp_state *mp);
int vm_vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value);
int vm_vcpu_set_fpu(struct vcpu *vcpu, const struct kvm_fpu *fpu);

#endif
