/*
 * Thin wrappers over the KVM ioctls. Error reporting is left to callers,
 * except in vm_open/vm_setup_memory, whose failures are the ones users meet
 * first ("is KVM there?", "is there enough memory?") and deserve a sentence.
 */
#include "lib/vmmapi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* Addresses KVM needs for its own use on Intel (real-mode TSS, EPT identity map). */
#define KVM_TSS_ADDR (KVM_PRIVATE_BASE + 0x1000) /* three pages */
#define KVM_IDENTITY_MAP_ADDR KVM_PRIVATE_BASE

struct required_cap {
	long cap;
	const char *what;
};

static const struct required_cap required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "user memory regions" },
	{ KVM_CAP_IRQCHIP, "an in-kernel interrupt controller" },
	{ KVM_CAP_PIT2, "an in-kernel PIT" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "extended CPUID" },
	{ KVM_CAP_IOEVENTFD, "ioeventfd" },
	{ KVM_CAP_IRQFD, "irqfd" },
	{ KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
	{ KVM_CAP_SIGNAL_MSI, "MSI injection" },
};

static int open_kvm_device(char *err, size_t errlen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		snprintf(err, errlen,
			 "/dev/kvm does not exist: this CPU or kernel offers no KVM "
			 "(check that the CPU has VT-x or AMD-V with EPT/NPT: "
			 "grep -E 'vmx|svm' /proc/cpuinfo, and load kvm-intel or kvm-amd)");
	else if (errno == EACCES || errno == EPERM)
		snprintf(err, errlen,
			 "/dev/kvm: permission denied (run as root or join the 'kvm' group)");
	else
		snprintf(err, errlen, "/dev/kvm: %s", strerror(errno));
	return -1;
}

static int check_kvm_caps(int kvm_fd, char *err, size_t errlen)
{
	int version = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);

	if (version != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm speaks API version %d, khyve needs %d",
			 version, KVM_API_VERSION);
		return -1;
	}
	for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
		if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
			snprintf(err, errlen, "KVM on this host lacks %s, which khyve needs",
				 required_caps[i].what);
			return -1;
		}
	}
	return 0;
}

struct vmctx *vm_open(char *err, size_t errlen)
{
	struct vmctx *ctx;
	int kvm_fd = open_kvm_device(err, errlen);

	if (kvm_fd < 0)
		return NULL;
	if (check_kvm_caps(kvm_fd, err, errlen) < 0) {
		close(kvm_fd);
		return NULL;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		close(kvm_fd);
		return NULL;
	}
	ctx->kvm_fd = kvm_fd;
	pthread_mutex_init(&ctx->route_lock, NULL);
	ctx->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (ctx->vm_fd < 0) {
		snprintf(err, errlen, "cannot create a KVM virtual machine: %s", strerror(errno));
		goto fail;
	}
	ctx->vcpu_mmap_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ctx->vcpu_mmap_size <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
		goto fail;
	}
	if (ioctl(ctx->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0) {
		snprintf(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(errno));
		goto fail;
	}
	uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
	/* Only meaningful on Intel without unrestricted guest; harmless elsewhere. */
	(void)ioctl(ctx->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
	return ctx;
fail:
	if (ctx->vm_fd >= 0)
		close(ctx->vm_fd);
	close(kvm_fd);
	free(ctx);
	return NULL;
}

void vm_close(struct vmctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->ram != NULL)
		munmap(ctx->ram, ctx->ram_map_len);
	close(ctx->vm_fd);
	close(ctx->kvm_fd);
	free(ctx);
}

static int add_memslot_flags(struct vmctx *ctx, uint64_t gpa, uint64_t len, void *host,
			     uint32_t flags)
{
	struct kvm_userspace_memory_region region = {
		.slot = (uint32_t)ctx->nslots,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = len,
		.userspace_addr = (uintptr_t)host,
	};

	if (ioctl(ctx->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return -1;
	ctx->nslots++;
	return 0;
}

static int add_memslot(struct vmctx *ctx, uint64_t gpa, uint64_t len, void *host)
{
	return add_memslot_flags(ctx, gpa, len, host, 0);
}

int vm_add_rom(struct vmctx *ctx, uint64_t gpa, void *host, uint64_t len)
{
	int slot = ctx->nslots;

	/* Guest writes to a read-only slot exit as MMIO, where nobody claims them. */
	if (vm_check_extension(ctx, KVM_CAP_READONLY_MEM) <= 0) {
		errno = ENOTSUP;
		return -1;
	}
	return add_memslot_flags(ctx, gpa, len, host, KVM_MEM_READONLY) < 0 ? -1 : slot;
}

int vm_set_rom(struct vmctx *ctx, int slot, uint64_t gpa, void *host, uint64_t len)
{
	struct kvm_userspace_memory_region region = {
		.slot = (uint32_t)slot,
		.flags = len ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = len,
		.userspace_addr = (uintptr_t)host,
	};

	return ioctl(ctx->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

void *vm_alloc_ram(size_t size, bool hugepages)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	size_t span = size + (hugepages ? 0 : VM_RAM_ALIGN);
	uint8_t *p, *ram;

	if (hugepages)
		flags |= MAP_HUGETLB; /* hugetlbfs mappings come aligned */
	p = mmap(NULL, span, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED || hugepages)
		return p;
	/* Keep the aligned middle; give back the ends. */
	ram = (uint8_t *)(((uintptr_t)p + VM_RAM_ALIGN - 1) & ~(uintptr_t)(VM_RAM_ALIGN - 1));
	if (ram > p)
		munmap(p, (size_t)(ram - p));
	if (p + span > ram + size)
		munmap(ram + size, (size_t)(p + span - (ram + size)));
	return ram;
}

int vm_setup_memory(struct vmctx *ctx, uint64_t size, bool hugepages, bool wired,
		    char *err, size_t errlen)
{
	ctx->ram = vm_alloc_ram(size, hugepages);
	if (ctx->ram == MAP_FAILED) {
		ctx->ram = NULL;
		snprintf(err, errlen, "cannot map %llu MiB of guest memory%s: %s",
			 (unsigned long long)(size >> 20),
			 hugepages ? " in huge pages (see /proc/sys/vm/nr_hugepages)" : "",
			 strerror(errno));
		return -1;
	}
	ctx->ram_map_len = size;
	/* Transparent huge pages cut the nested page walk; a no-op where THP is off. */
	if (!hugepages)
		(void)madvise(ctx->ram, size, MADV_HUGEPAGE);
	/* Guest memory in a core dump of the VMM is rarely wanted and can be huge (bhyve -C). */
	(void)madvise(ctx->ram, size, MADV_DONTDUMP);
	if (wired && mlock(ctx->ram, size) < 0) {
		snprintf(err, errlen, "cannot wire (-S) %llu MiB of guest memory: %s "
			 "(raise RLIMIT_MEMLOCK: ulimit -l)",
			 (unsigned long long)(size >> 20), strerror(errno));
		return -1;
	}
	ctx->lowmem = size < VM_LOWMEM_LIMIT ? size : VM_LOWMEM_LIMIT;
	ctx->highmem = size - ctx->lowmem;
	if (add_memslot(ctx, 0, ctx->lowmem, ctx->ram) < 0 ||
	    (ctx->highmem > 0 &&
	     add_memslot(ctx, VM_HIGHMEM_BASE, ctx->highmem, ctx->ram + ctx->lowmem) < 0)) {
		snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void vm_guest_in_core(struct vmctx *ctx)
{
	(void)madvise(ctx->ram, ctx->ram_map_len, MADV_DODUMP);
}

void *vm_map_gpa(struct vmctx *ctx, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	if (end <= ctx->lowmem)
		return ctx->ram + gpa;
	if (gpa >= VM_HIGHMEM_BASE && end - VM_HIGHMEM_BASE <= ctx->highmem)
		return ctx->ram + ctx->lowmem + (gpa - VM_HIGHMEM_BASE);
	return NULL;
}

uint64_t vm_mem_size(const struct vmctx *ctx)
{
	return ctx->lowmem + ctx->highmem;
}

int vm_create_irqchip(struct vmctx *ctx)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (ioctl(ctx->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
		return -1;
	return ioctl(ctx->vm_fd, KVM_CREATE_PIT2, &pit);
}

int vm_set_irq_line(struct vmctx *ctx, uint32_t gsi, int level)
{
	struct kvm_irq_level irq = { .irq = gsi, .level = level };

	return ioctl(ctx->vm_fd, KVM_IRQ_LINE, &irq);
}

int vm_signal_msi(struct vmctx *ctx, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = {
		.address_lo = (uint32_t)addr,
		.address_hi = (uint32_t)(addr >> 32),
		.data = data,
	};

	return ioctl(ctx->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -1 : 0;
}

static int ioeventfd(struct vmctx *ctx, uint64_t addr, uint32_t len, uint32_t flags,
		     uint64_t data, int fd)
{
	struct kvm_ioeventfd ioev = {
		.datamatch = data,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = flags,
	};

	return ioctl(ctx->vm_fd, KVM_IOEVENTFD, &ioev);
}

static uint32_t ioeventfd_flags(bool pio, bool deassign)
{
	return (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
}

int vm_ioeventfd(struct vmctx *ctx, uint64_t addr, uint32_t len, bool pio, int fd,
		 bool deassign)
{
	return ioeventfd(ctx, addr, len, ioeventfd_flags(pio, deassign), 0, fd);
}

int vm_ioeventfd_match(struct vmctx *ctx, uint64_t addr, uint32_t len, bool pio,
		       uint64_t data, int fd, bool deassign)
{
	return ioeventfd(ctx, addr, len, ioeventfd_flags(pio, deassign) |
			 KVM_IOEVENTFD_FLAG_DATAMATCH, data, fd);
}

int vm_irqfd(struct vmctx *ctx, uint32_t gsi, int fd, bool deassign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0,
	};

	return ioctl(ctx->vm_fd, KVM_IRQFD, &irqfd);
}

int vm_check_extension(struct vmctx *ctx, long cap)
{
	return ioctl(ctx->vm_fd, KVM_CHECK_EXTENSION, cap);
}

int vm_enable_cap(struct vmctx *ctx, uint32_t cap, uint64_t arg0)
{
	struct kvm_enable_cap ec = { .cap = cap, .args = { arg0 } };

	return ioctl(ctx->vm_fd, KVM_ENABLE_CAP, &ec);
}

int vm_coalesce_pio(struct vmctx *ctx, uint16_t port, uint16_t len)
{
	struct kvm_coalesced_mmio_zone zone = { .addr = port, .size = len, .pio = 1 };

	if (vm_check_extension(ctx, KVM_CAP_COALESCED_PIO) <= 0) {
		errno = ENOTSUP;
		return -1;
	}
	return ioctl(ctx->vm_fd, KVM_REGISTER_COALESCED_MMIO, &zone) < 0 ? -1 : 0;
}

/*
 * The coalesced ring is one page per VM, mapped into every vCPU's kvm_run
 * area at the page KVM_CAP_COALESCED_MMIO names; vCPU 0's copy serves all.
 */
static void find_coalesced_ring(struct vmctx *ctx, struct vcpu *vcpu)
{
	long page = sysconf(_SC_PAGESIZE);
	int offset = vm_check_extension(ctx, KVM_CAP_COALESCED_MMIO);

	if (offset <= 0 || page <= 0 || (long)(offset + 1) * page > ctx->vcpu_mmap_size)
		return;
	ctx->coalesced_ring = (struct kvm_coalesced_mmio_ring *)((uint8_t *)vcpu->run +
								 (size_t)offset * (size_t)page);
	ctx->coalesced_max = (uint32_t)(((size_t)page - sizeof(struct kvm_coalesced_mmio_ring)) /
					sizeof(struct kvm_coalesced_mmio));
}

int vm_vcpu_create(struct vmctx *ctx, int id, struct vcpu *vcpu)
{
	vcpu->id = id;
	vcpu->fd = ioctl(ctx->vm_fd, KVM_CREATE_VCPU, id);
	if (vcpu->fd < 0)
		return -1;
	vcpu->run = mmap(NULL, (size_t)ctx->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			 vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		close(vcpu->fd);
		vcpu->run = NULL;
		return -1;
	}
	if (id == 0)
		find_coalesced_ring(ctx, vcpu);
	return 0;
}

void vm_vcpu_destroy(struct vmctx *ctx, struct vcpu *vcpu)
{
	if (vcpu->id == 0)
		ctx->coalesced_ring = NULL;
	if (vcpu->run != NULL)
		munmap(vcpu->run, (size_t)ctx->vcpu_mmap_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
}

int vm_vcpu_run(struct vcpu *vcpu)
{
	return ioctl(vcpu->fd, KVM_RUN, 0) < 0 ? -errno : 0;
}

struct kvm_cpuid2 *vm_get_supported_cpuid(struct vmctx *ctx)
{
	for (uint32_t n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *cpuid =
		    calloc(1, sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));

		if (cpuid == NULL)
			return NULL;
		cpuid->nent = n;
		if (ioctl(ctx->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			return cpuid;
		free(cpuid);
		if (errno != E2BIG)
			return NULL;
	}
	return NULL;
}

int vm_vcpu_set_cpuid(struct vcpu *vcpu, struct kvm_cpuid2 *cpuid)
{
	return ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid);
}

int vm_vcpu_get_regs(struct vcpu *vcpu, struct kvm_regs *regs)
{
	return ioctl(vcpu->fd, KVM_GET_REGS, regs);
}

int vm_vcpu_set_regs(struct vcpu *vcpu, const struct kvm_regs *regs)
{
	return ioctl(vcpu->fd, KVM_SET_REGS, regs);
}

int vm_vcpu_get_mp_state(struct vcpu *vcpu, struct kvm_mp_state *mp)
{
	return ioctl(vcpu->fd, KVM_GET_MP_STATE, mp);
}

int vm_vcpu_get_sregs(struct vcpu *vcpu, struct kvm_sregs *sregs)
{
	return ioctl(vcpu->fd, KVM_GET_SREGS, sregs);
}

int vm_vcpu_set_sregs(struct vcpu *vcpu, const struct kvm_sregs *sregs)
{
	return ioctl(vcpu->fd, KVM_SET_SREGS, sregs);
}

int vm_vcpu_set_msr(struct vcpu *vcpu, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entry;
	} msrs = { .hdr.nmsrs = 1, .entry = { .index = index, .data = value } };

	return ioctl(vcpu->fd, KVM_SET_MSRS, &msrs) == 1 ? 0 : -1;
}

int vm_vcpu_set_fpu(struct vcpu *vcpu, const struct kvm_fpu *fpu)
{
	return ioctl(vcpu->fd, KVM_SET_FPU, fpu);
}
