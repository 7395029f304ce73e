/*
 * Topology and CPUID. APIC IDs are packed as
 *   [ package | core (core_bits) | thread (smt_bits) ]
 * the layout every OS decodes from CPUID, so the guest's idea of packages,
 * cores and threads matches -c exactly.
 */
#include "x86/cpu.h"

#include <stdio.h>
#include <string.h>

#include "core/options.h"

#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_1_EDX_HTT (1u << 28)
#define CPUID_80000001_ECX_CMP_LEGACY (1u << 1)
#define CPUID_80000001_ECX_TOPOEXT (1u << 22)
#define CPUID_AMD_TOPOLOGY_LEAF 0x8000001eu
#define CPUID_VENDOR_AUTHENTICAMD_EBX 0x68747541u /* "Auth" */
#define CPUID_VENDOR_HYGONGENUINE_EBX 0x6f677948u /* "Hygo" */

static int bits_for(int n)
{
	int bits = 0;

	while ((1 << bits) < n)
		bits++;
	return bits;
}

const char *topology_init(struct cpu_topology *t, int cpus, int sockets, int cores, int threads)
{
	if (sockets < 1 || cores < 1 || threads < 1)
		return "sockets, cores and threads must each be at least 1";
	/* Each count bounded first: the product of three ints can overflow a long. */
	if (sockets > VM_MAX_CPUS_TOPO || cores > VM_MAX_CPUS_TOPO || threads > VM_MAX_CPUS_TOPO ||
	    (long)sockets * cores * threads > VM_MAX_CPUS_TOPO)
		return "sockets * cores * threads is larger than the supported 256 vCPUs";
	if (cpus <= 0)
		cpus = sockets * cores * threads;
	if (cpus > sockets * cores * threads)
		return "cpus is larger than sockets * cores * threads";
	t->cpus = cpus;
	t->sockets = sockets;
	t->cores = cores;
	t->threads = threads;
	t->smt_bits = bits_for(threads);
	t->core_bits = bits_for(cores);
	if (topology_apic_id(t, sockets * cores * threads - 1) > 0xfe)
		return "this topology needs APIC IDs above 254, which needs x2APIC (not supported yet)";
	return NULL;
}

int topology_from_config(struct cpu_topology *t)
{
	struct khyve_topology kt;
	char why[160];
	const char *err;

	/* The option parser owns the rules for combining cpus/sockets/cores/threads. */
	if (khyve_config_topology(&kt, why, sizeof(why)) < 0) {
		fprintf(stderr, "khyve: bad CPU topology: %s\n", why);
		return -1;
	}
	err = topology_init(t, kt.cpus, kt.sockets, kt.cores, kt.threads);
	if (err != NULL) {
		fprintf(stderr, "khyve: bad CPU topology: %s\n", err);
		return -1;
	}
	return 0;
}

uint32_t topology_apic_id(const struct cpu_topology *t, int vcpu)
{
	int thread = vcpu % t->threads;
	int core = (vcpu / t->threads) % t->cores;
	int pkg = vcpu / (t->threads * t->cores);

	return (uint32_t)((pkg << (t->core_bits + t->smt_bits)) | (core << t->smt_bits) | thread);
}

static void set_leaf_1(struct kvm_cpuid_entry2 *e, const struct cpu_topology *t, uint32_t apic)
{
	int per_pkg = t->cores * t->threads;
	uint32_t ids = 1u << (t->core_bits + t->smt_bits);

	/* EBX[23:16] is 8 bits: 256 addressable IDs saturate at 255, as in QEMU. */
	if (ids > 0xff)
		ids = 0xff;
	e->ebx = (e->ebx & 0x0000ffffu) | (apic << 24) | (ids << 16);
	if (per_pkg > 1)
		e->edx |= CPUID_1_EDX_HTT;
	else
		e->edx &= ~CPUID_1_EDX_HTT;
	e->ecx |= CPUID_1_ECX_HYPERVISOR;
}

/* Intel deterministic cache parameters: cores sharing the package and a cache. */
static void set_leaf_4(struct kvm_cpuid_entry2 *e, const struct cpu_topology *t)
{
	uint32_t cache_level = (e->eax >> 5) & 7;
	uint32_t sharing = cache_level >= 3 ? (1u << (t->core_bits + t->smt_bits)) : (1u << t->smt_bits);

	if ((e->eax & 0x1f) == 0)
		return;
	e->eax &= 0x3ff;
	e->eax |= ((uint32_t)((1 << t->core_bits) - 1) << 26) | ((sharing - 1) << 14);
}

/* Extended topology (0xB / 0x1F): level 0 SMT, level 1 core, then invalid. */
static void set_leaf_extended_topology(struct kvm_cpuid_entry2 *e, const struct cpu_topology *t,
				       uint32_t apic)
{
	e->edx = apic;
	switch (e->index) {
	case 0:
		e->eax = (uint32_t)t->smt_bits;
		e->ebx = (uint32_t)t->threads;
		e->ecx = (1u << 8) | 0;
		break;
	case 1:
		e->eax = (uint32_t)(t->core_bits + t->smt_bits);
		e->ebx = (uint32_t)(t->cores * t->threads);
		e->ecx = (2u << 8) | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = e->index;
		break;
	}
}

static void set_amd_leaves(struct kvm_cpuid_entry2 *e, const struct cpu_topology *t, uint32_t apic)
{
	int per_pkg = t->cores * t->threads;

	switch (e->function) {
	case 0x80000001:
		if (per_pkg > 1)
			e->ecx |= CPUID_80000001_ECX_CMP_LEGACY;
		else
			e->ecx &= ~CPUID_80000001_ECX_CMP_LEGACY;
		break;
	case 0x80000008:
		/* NC = logical processors per package - 1; ApicIdCoreIdSize = bits. */
		e->ecx = (e->ecx & ~0xf0ffu) | ((uint32_t)(t->core_bits + t->smt_bits) << 12) |
			 (uint32_t)(per_pkg - 1);
		break;
	case 0x8000001e:
		e->eax = apic;
		e->ebx = ((uint32_t)(t->threads - 1) << 8) | ((apic >> t->smt_bits) & 0xff);
		e->ecx = apic >> (t->core_bits + t->smt_bits); /* node = package */
		break;
	default:
		break;
	}
}

void cpuid_customize(struct kvm_cpuid2 *cpuid, const struct cpu_topology *t, int vcpu)
{
	uint32_t apic = topology_apic_id(t, vcpu);

	for (uint32_t i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			set_leaf_1(e, t, apic);
			break;
		case 4:
			set_leaf_4(e, t);
			break;
		case 0xb:
		case 0x1f:
			set_leaf_extended_topology(e, t, apic);
			break;
		default:
			set_amd_leaves(e, t, apic);
			break;
		}
	}
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, uint32_t function,
				     uint32_t index)
{
	for (uint32_t i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == function && cpuid->entries[i].index == index)
			return &cpuid->entries[i];
	return NULL;
}

/* An entry for function.index, added (zeroed) if the host had none; caller leaves room. */
static struct kvm_cpuid_entry2 *cpuid_ensure(struct kvm_cpuid2 *cpuid, uint32_t function,
					     uint32_t index, uint32_t flags)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(cpuid, function, index);

	if (e == NULL) {
		e = &cpuid->entries[cpuid->nent++];
		*e = (struct kvm_cpuid_entry2){ .function = function, .index = index, .flags = flags };
	}
	return e;
}

/* From leaf 0 (EBX holds the first four bytes of the vendor string). */
static bool vendor_is_amd(const struct kvm_cpuid_entry2 *leaf0)
{
	return leaf0 && (leaf0->ebx == CPUID_VENDOR_AUTHENTICAMD_EBX ||
			 leaf0->ebx == CPUID_VENDOR_HYGONGENUINE_EBX);
}

void cpuid_add_topology_leaves(struct kvm_cpuid2 *cpuid, const struct cpu_topology *t)
{
	struct kvm_cpuid_entry2 *max = cpuid_find(cpuid, 0, 0);
	struct kvm_cpuid_entry2 *ext_max = cpuid_find(cpuid, 0x80000000u, 0);
	struct kvm_cpuid_entry2 *ext_1 = cpuid_find(cpuid, 0x80000001u, 0);

	/* Leaf 0xB: SMT level, core level, then the invalid level that ends the list. */
	if (max != NULL && max->eax >= 0xb)
		for (uint32_t level = 0; level < 3; level++)
			cpuid_ensure(cpuid, 0xb, level, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	if (t->threads < 2 || !vendor_is_amd(max) || ext_max == NULL || ext_1 == NULL)
		return;
	ext_1->ecx |= CPUID_80000001_ECX_TOPOEXT;
	if (ext_max->eax < CPUID_AMD_TOPOLOGY_LEAF)
		ext_max->eax = CPUID_AMD_TOPOLOGY_LEAF;
	cpuid_ensure(cpuid, CPUID_AMD_TOPOLOGY_LEAF, 0, 0);
}

void cpuid_add_tsc_deadline(struct kvm_cpuid2 *cpuid)
{
	struct kvm_cpuid_entry2 *leaf1 = cpuid_find(cpuid, 1, 0);

	if (leaf1 != NULL)
		leaf1->ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_DEF_ENABLE (1u << 11)
#define MTRR_TYPE_WB 6
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 1u

int cpu_reset_msrs(struct vcpu *vcpu)
{
	if (vm_vcpu_set_msr(vcpu, MSR_MTRR_DEF_TYPE, MTRR_DEF_ENABLE | MTRR_TYPE_WB) < 0)
		return -1;
	/* Not every host CPU model has MISC_ENABLE (AMD): optional. */
	(void)vm_vcpu_set_msr(vcpu, MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING);
	return 0;
}
