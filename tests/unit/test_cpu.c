/*
 * Guest CPU identity (src/x86/cpu.c): which -c topologies are accepted, the
 * APIC IDs each vCPU gets (package | core | thread bit fields), and what the
 * customised CPUID tells the guest about them: leaf 1, the Intel cache and
 * extended-topology leaves, and the AMD leaves Linux reads on AMD hosts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "x86/cpu.h"

/* ---- topology_init ----------------------------------------------------- */

static struct cpu_topology topo(int cpus, int sockets, int cores, int threads)
{
	struct cpu_topology t;
	const char *err = topology_init(&t, cpus, sockets, cores, threads);

	if (err != NULL)
		fail_msg("topology %d,%d,%d,%d rejected: %s", cpus, sockets, cores, threads, err);
	return t;
}

static void expect_rejected(int cpus, int sockets, int cores, int threads, const char *words)
{
	struct cpu_topology t;
	const char *err = topology_init(&t, cpus, sockets, cores, threads);

	if (err == NULL)
		fail_msg("topology %d,%d,%d,%d accepted", cpus, sockets, cores, threads);
	if (strstr(err, words) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, words);
}

static void test_default_single_cpu(void **state)
{
	struct cpu_topology t = topo(0, 1, 1, 1);

	assert_int_equal(t.cpus, 1);
	assert_int_equal(t.smt_bits, 0);
	assert_int_equal(t.core_bits, 0);
	assert_int_equal(topology_apic_id(&t, 0), 0);
}

static void test_cpus_defaults_to_product(void **state)
{
	struct cpu_topology t = topo(0, 2, 3, 2);

	assert_int_equal(t.cpus, 12);
	assert_int_equal(t.sockets, 2);
	assert_int_equal(t.cores, 3);
	assert_int_equal(t.threads, 2);
}

static void test_fewer_cpus_than_slots(void **state)
{
	struct cpu_topology t = topo(3, 2, 2, 1);

	assert_int_equal(t.cpus, 3);
}

static void test_zero_counts_rejected(void **state)
{
	expect_rejected(1, 0, 1, 1, "at least 1");
	expect_rejected(1, 1, 0, 1, "at least 1");
	expect_rejected(1, 1, 1, 0, "at least 1");
	expect_rejected(1, -1, 1, 1, "at least 1");
	expect_rejected(1, 1, INT_MIN, 1, "at least 1");
}

static void test_cpus_above_product_rejected(void **state)
{
	expect_rejected(5, 2, 2, 1, "cpus is larger");
	expect_rejected(2, 1, 1, 1, "cpus is larger");
	expect_rejected(INT_MAX, 2, 2, 2, "cpus is larger");
}

static void test_more_than_256_slots_rejected(void **state)
{
	expect_rejected(0, 257, 1, 1, "256");
	expect_rejected(0, 2, 2, 65, "256");
	expect_rejected(0, 16, 16, 2, "256");
	expect_rejected(1, 65536, 65536, 1, "256");
	/* Products that overflow 64 bits must not wrap into something small. */
	expect_rejected(1, INT_MAX, INT_MAX, INT_MAX, "256");
	expect_rejected(1, INT_MAX, INT_MAX, 2, "256");
}

static void test_big_topologies_accepted(void **state)
{
	struct cpu_topology t = topo(0, 2, 64, 1);

	assert_int_equal(t.cpus, 128);
	assert_int_equal(topology_apic_id(&t, 127), 127);
	t = topo(0, 1, 127, 2); /* 254 threads, highest APIC ID 253 */
	assert_int_equal(topology_apic_id(&t, 253), 253);
	t = topo(0, 1, 255, 1); /* highest APIC ID 254 */
	assert_int_equal(topology_apic_id(&t, 254), 254);
	t = topo(0, 4, 8, 4); /* 128 threads, highest APIC ID 3<<5 | 7<<2 | 3 */
	assert_int_equal(topology_apic_id(&t, 127), 127);
}

static void test_apic_id_above_254_rejected(void **state)
{
	/* 0xff is the xAPIC broadcast ID; anything above needs x2APIC. */
	expect_rejected(0, 4, 8, 8, "APIC IDs above 254"); /* 256 threads: last ID 0xff */
	expect_rejected(0, 1, 256, 1, "APIC IDs above 254");
	expect_rejected(0, 2, 128, 1, "APIC IDs above 254");
	expect_rejected(0, 3, 65, 1, "APIC IDs above 254"); /* 195 CPUs, but ID 2<<7|64 */
	expect_rejected(0, 2, 64, 2, "APIC IDs above 254");
	/* Even when only the first CPUs exist, the layout must be addressable. */
	expect_rejected(1, 3, 65, 1, "APIC IDs above 254");
}

/* ---- APIC ID packing ----------------------------------------------------- */

static void test_apic_ids_two_sockets_two_cores(void **state)
{
	struct cpu_topology t = topo(0, 2, 2, 1);

	assert_int_equal(t.smt_bits, 0);
	assert_int_equal(t.core_bits, 1);
	for (int i = 0; i < 4; i++)
		assert_int_equal(topology_apic_id(&t, i), i);
}

static void test_apic_ids_threads_and_odd_cores(void **state)
{
	struct cpu_topology t = topo(0, 2, 3, 2);
	static const uint32_t want[] = { 0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13 };

	/* Thread in bit 0, core in bits 1-2, package from bit 3. */
	assert_int_equal(t.smt_bits, 1);
	assert_int_equal(t.core_bits, 2);
	for (int i = 0; i < 12; i++)
		assert_int_equal(topology_apic_id(&t, i), want[i]);
}

static void test_apic_ids_three_threads(void **state)
{
	struct cpu_topology t = topo(0, 1, 2, 3);
	static const uint32_t want[] = { 0, 1, 2, 4, 5, 6 };

	assert_int_equal(t.smt_bits, 2);
	for (int i = 0; i < 6; i++)
		assert_int_equal(topology_apic_id(&t, i), want[i]);
}

static void test_apic_ids_unique_and_decodable(void **state)
{
	static const int shapes[][3] = {
		{ 1, 1, 1 }, { 4, 1, 1 }, { 1, 5, 1 }, { 1, 1, 4 }, { 3, 5, 3 }, { 2, 7, 2 },
		{ 7, 3, 1 }, { 1, 127, 2 }, { 4, 8, 4 }, { 1, 255, 1 },
	};

	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct cpu_topology t = topo(0, shapes[s][0], shapes[s][1], shapes[s][2]);
		uint8_t seen[256] = { 0 };

		for (int i = 0; i < t.cpus; i++) {
			uint32_t id = topology_apic_id(&t, i);

			assert_true(id <= 0xfe);
			assert_int_equal(seen[id], 0);
			seen[id] = 1;
			/* The fields a guest decodes give back the vCPU's position. */
			assert_int_equal(id & ((1u << t.smt_bits) - 1), i % t.threads);
			assert_int_equal((id >> t.smt_bits) & ((1u << t.core_bits) - 1),
					 (i / t.threads) % t.cores);
			assert_int_equal(id >> (t.smt_bits + t.core_bits), i / (t.threads * t.cores));
		}
	}
}

/* ---- cpuid_customize ------------------------------------------------------ */

#define MAX_ENTRIES 32

static struct kvm_cpuid2 *new_cpuid(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + MAX_ENTRIES * sizeof(c->entries[0]));

	assert_non_null(c);
	return c;
}

static struct kvm_cpuid_entry2 *add(struct kvm_cpuid2 *c, uint32_t function, uint32_t index,
				    uint32_t eax, uint32_t ebx, uint32_t ecx, uint32_t edx)
{
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

	assert_true(c->nent <= MAX_ENTRIES);
	*e = (struct kvm_cpuid_entry2){ .function = function, .index = index,
					.eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx };
	return e;
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == function && c->entries[i].index == index)
			return &c->entries[i];
	fail_msg("no leaf 0x%x.%u", function, index);
	return NULL;
}

/* Leaf 1 as a typical Intel host reports it for its own CPU 0x12. */
#define HOST_1_EBX 0x12100800u /* APIC 0x12, 16 logical, CLFLUSH 64 */
#define HOST_1_ECX 0x7ffafbffu
#define HOST_1_EDX 0xbfebfbffu

static struct kvm_cpuid2 *host_cpuid(void)
{
	struct kvm_cpuid2 *c = new_cpuid();

	add(c, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(c, 1, 0, 0x000906ea, HOST_1_EBX, HOST_1_ECX, HOST_1_EDX);
	/* Leaf 4: L1d, L1i, L2, L3, then the null entry. */
	add(c, 4, 0, 0x1c004121, 0x01c0003f, 0x3f, 0);
	add(c, 4, 1, 0x1c004122, 0x01c0003f, 0x3f, 0);
	add(c, 4, 2, 0x1c004143, 0x00c0003f, 0x3ff, 0);
	add(c, 4, 3, 0x1c03c163, 0x02c0003f, 0x2fff, 6);
	add(c, 4, 4, 0, 0, 0, 0);
	add(c, 7, 0, 0, 0x029c6fbf, 0x40000000, 0xbc000400);
	add(c, 0xb, 0, 1, 2, 0x100, 0x12);
	add(c, 0xb, 1, 4, 16, 0x201, 0x12);
	add(c, 0xb, 2, 0, 0, 2, 0x12);
	add(c, 0x1f, 0, 1, 2, 0x100, 0x12);
	add(c, 0x1f, 1, 4, 16, 0x201, 0x12);
	add(c, 0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	add(c, 0x80000001, 0, 0, 0, 0x121, 0x2c100800);
	add(c, 0x80000008, 0, 0x3027, 0, 0xffffffff, 0);
	add(c, 0x8000001e, 0, 0x99, 0x0107, 0x0300, 0);
	return c;
}

static struct kvm_cpuid2 *customized(int sockets, int cores, int threads, int vcpu)
{
	struct cpu_topology t = topo(0, sockets, cores, threads);
	struct kvm_cpuid2 *c = host_cpuid();

	cpuid_customize(c, &t, vcpu);
	return c;
}

/* The TSC-deadline bit goes on leaf 1 only, the rest of ECX untouched. */
static void test_tsc_deadline_bit(void **state)
{
	struct kvm_cpuid2 *c = host_cpuid();
	uint32_t ecx, ecx7 = find(c, 7, 0) ? find(c, 7, 0)->ecx : 0;

	find(c, 1, 0)->ecx &= ~(1u << 24); /* as KVM reports it */
	ecx = find(c, 1, 0)->ecx;
	cpuid_add_tsc_deadline(c);
	assert_int_equal(find(c, 1, 0)->ecx, ecx | (1u << 24));
	if (find(c, 7, 0))
		assert_int_equal(find(c, 7, 0)->ecx, ecx7);
	free(c);
}

static void test_leaf1_apic_id_per_vcpu(void **state)
{
	struct cpu_topology t = topo(0, 2, 3, 2);

	for (int v = 0; v < t.cpus; v++) {
		struct kvm_cpuid2 *c = host_cpuid();

		cpuid_customize(c, &t, v);
		assert_int_equal(find(c, 1, 0)->ebx >> 24, topology_apic_id(&t, v));
		free(c);
	}
}

static void test_leaf1_keeps_low_ebx_sets_hypervisor(void **state)
{
	struct kvm_cpuid2 *c = customized(1, 1, 1, 0);
	struct kvm_cpuid_entry2 *e = find(c, 1, 0);

	assert_int_equal(e->ebx & 0xffff, HOST_1_EBX & 0xffff); /* brand, CLFLUSH size */
	assert_int_equal(e->ecx, HOST_1_ECX | 0x80000000u);
	assert_int_equal(e->eax, 0x000906ea);
	free(c);
}

static void test_leaf1_single_cpu_package_has_no_htt(void **state)
{
	struct kvm_cpuid2 *c = customized(4, 1, 1, 3);
	struct kvm_cpuid_entry2 *e = find(c, 1, 0);

	assert_int_equal(e->edx & (1u << 28), 0);
	assert_int_equal(e->edx, HOST_1_EDX & ~(1u << 28));
	assert_int_equal((e->ebx >> 16) & 0xff, 1);
	assert_int_equal(e->ebx >> 24, 3);
	free(c);
}

static void test_leaf1_multicore_package_has_htt_and_count(void **state)
{
	struct kvm_cpuid2 *c = customized(1, 3, 2, 0);
	struct kvm_cpuid_entry2 *e = find(c, 1, 0);

	assert_int_equal(e->edx & (1u << 28), 1u << 28);
	/* Addressable IDs: 2^(core_bits + smt_bits) = 2^(2 + 1). */
	assert_int_equal((e->ebx >> 16) & 0xff, 8);
	free(c);
	c = new_cpuid();
	add(c, 1, 0, 0, 0, 0, 0); /* host without HTT: set for a 2-core guest */
	cpuid_customize(c, &(struct cpu_topology){ 2, 1, 2, 1, 0, 1 }, 1);
	assert_int_equal(c->entries[0].edx, 1u << 28);
	free(c);
}

static void test_leaf1_256_ids_per_package_does_not_corrupt_apic_id(void **state)
{
	/* 100 cores * 2 threads: 8 ID bits, 256 addressable IDs in 8-bit field. */
	struct cpu_topology t = topo(0, 1, 100, 2);

	for (int v = 0; v < t.cpus; v += 33) {
		struct kvm_cpuid2 *c = host_cpuid();
		struct kvm_cpuid_entry2 *e;

		cpuid_customize(c, &t, v);
		e = find(c, 1, 0);
		assert_int_equal(e->ebx >> 24, topology_apic_id(&t, v));
		assert_int_equal((e->ebx >> 16) & 0xff, 0xff);
		free(c);
	}
}

static void test_leaf4_sharing_fields(void **state)
{
	/* 1 socket, 3 cores, 2 threads: core_bits 2, smt_bits 1. */
	struct kvm_cpuid2 *c = customized(1, 3, 2, 0), *host = host_cpuid();

	for (uint32_t i = 0; i < 4; i++) {
		struct kvm_cpuid_entry2 *e = find(c, 4, i);
		uint32_t level = (e->eax >> 5) & 7;

		assert_int_equal(e->eax >> 26, 3);                  /* cores/package - 1 */
		assert_int_equal((e->eax >> 14) & 0xfff, level >= 3 ? 7 : 1);
		assert_int_equal(e->eax & 0x3ff, find(host, 4, i)->eax & 0x3ff);
		assert_int_equal(e->ebx, find(host, 4, i)->ebx); /* geometry unchanged */
	}
	/* The null entry that ends the list stays null. */
	assert_int_equal(find(c, 4, 4)->eax, 0);
	free(host);
	free(c);
}

static void test_leaf4_many_cores_saturate(void **state)
{
	/* 127 cores: 7 core bits, more than the 6-bit EAX[31:26] can say. */
	struct kvm_cpuid2 *c = customized(1, 127, 2, 0);
	struct kvm_cpuid_entry2 *e = find(c, 4, 3);

	assert_int_equal(e->eax >> 26, 63);
	assert_int_equal((e->eax >> 14) & 0xfff, 255);
	assert_int_equal(e->eax & 0x3ff, 0x163);
	free(c);
}

static void test_leaf4_single_cpu(void **state)
{
	struct kvm_cpuid2 *c = customized(1, 1, 1, 0);

	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(find(c, 4, i)->eax >> 14, 0);
	free(c);
}

static void test_leaf_b_levels(void **state)
{
	struct cpu_topology t = topo(0, 2, 3, 2);
	struct kvm_cpuid2 *c = host_cpuid();
	struct kvm_cpuid_entry2 *e;

	cpuid_customize(c, &t, 7); /* package 1, core 0, thread 1: APIC ID 9 */
	e = find(c, 0xb, 0);
	assert_int_equal(e->eax, 1);        /* shift to the core ID */
	assert_int_equal(e->ebx, 2);        /* threads per core */
	assert_int_equal(e->ecx, 0x100);    /* level 0, type SMT */
	assert_int_equal(e->edx, 9);
	e = find(c, 0xb, 1);
	assert_int_equal(e->eax, 3);        /* shift to the package ID */
	assert_int_equal(e->ebx, 6);        /* threads per package */
	assert_int_equal(e->ecx, 0x201);    /* level 1, type core */
	assert_int_equal(e->edx, 9);
	e = find(c, 0xb, 2);
	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 0);
	assert_int_equal(e->ecx, 2);        /* invalid level: type 0, index echoed */
	assert_int_equal(e->edx, 9);
	/* Leaf 0x1f says the same. */
	assert_int_equal(find(c, 0x1f, 1)->eax, 3);
	assert_int_equal(find(c, 0x1f, 1)->edx, 9);
	free(c);
}

static void test_leaf_b_single_thread_cores(void **state)
{
	struct kvm_cpuid2 *c = customized(1, 4, 1, 2);
	struct kvm_cpuid_entry2 *e = find(c, 0xb, 0);

	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 1);
	assert_int_equal(find(c, 0xb, 1)->eax, 2);
	assert_int_equal(find(c, 0xb, 1)->ebx, 4);
	assert_int_equal(find(c, 0xb, 1)->edx, 2);
	free(c);
}

static void test_amd_cmp_legacy(void **state)
{
	struct kvm_cpuid2 *c = customized(1, 2, 1, 0);

	assert_int_equal(find(c, 0x80000001, 0)->ecx, 0x121 | 0x2);
	assert_int_equal(find(c, 0x80000001, 0)->edx, 0x2c100800);
	free(c);
	c = customized(2, 1, 1, 1);
	assert_int_equal(find(c, 0x80000001, 0)->ecx, 0x121 & ~0x2u);
	free(c);
}

static void test_amd_nc_and_apic_id_size(void **state)
{
	struct kvm_cpuid2 *c = customized(2, 3, 2, 0);
	struct kvm_cpuid_entry2 *e = find(c, 0x80000008, 0);

	assert_int_equal(e->ecx & 0xff, 5);            /* NC: 6 threads - 1 */
	assert_int_equal((e->ecx >> 12) & 0xf, 3);     /* ApicIdCoreIdSize */
	assert_int_equal(e->ecx & 0xffff0f00u, 0xffff0f00u); /* other bits kept */
	assert_int_equal(e->eax, 0x3027);
	free(c);
	c = customized(1, 1, 1, 0);
	e = find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xf0ff, 0);
	free(c);
	c = customized(1, 127, 2, 0);
	e = find(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, 253);
	assert_int_equal((e->ecx >> 12) & 0xf, 8);
	free(c);
}

static void test_amd_extended_apic_and_core_ids(void **state)
{
	struct cpu_topology t = topo(0, 2, 3, 2);
	struct kvm_cpuid2 *c = host_cpuid();
	struct kvm_cpuid_entry2 *e;

	cpuid_customize(c, &t, 11); /* package 1, core 2, thread 1: APIC ID 13 */
	e = find(c, 0x8000001e, 0);
	assert_int_equal(e->eax, 13);
	assert_int_equal(e->ebx & 0xff, 13 >> 1);
	assert_int_equal((e->ebx >> 8) & 0xff, 1); /* threads per core - 1 */
	assert_int_equal(e->ecx, 1);               /* node = package */
	free(c);
}

/*
 * An AMD host before Zen, like the testbed's emulated K8: no TOPOEXT, the
 * extended leaves end at 0x80000008.
 */
static struct kvm_cpuid2 *amd_k8_cpuid(void)
{
	struct kvm_cpuid2 *c = new_cpuid();

	add(c, 0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65); /* AuthenticAMD */
	add(c, 1, 0, 0x00060fb1, 0x00040800, 0x80002201, 0x178bfbff);
	add(c, 0x80000000, 0, 0x80000008, 0x68747541, 0x444d4163, 0x69746e65);
	add(c, 0x80000001, 0, 0x00060fb1, 0, 0x00000003, 0xe1d3fbff);
	add(c, 0x80000008, 0, 0x3028, 0, 0x3003, 0);
	return c;
}

/* threads=2 on it: leaf 0xB, TOPOEXT, leaf 0x8000001E and a maximum that reaches it. */
static void test_topology_leaves_added_for_amd_smt(void **state)
{
	struct cpu_topology t = topo(0, 1, 2, 2);
	struct kvm_cpuid2 *c = amd_k8_cpuid();
	uint32_t n = c->nent;
	struct kvm_cpuid_entry2 *e;

	cpuid_add_topology_leaves(c, &t);
	assert_int_equal(c->nent, n + 4);
	assert_true(c->nent - n <= CPUID_EXTRA_ENTRIES); /* the room callers leave */
	for (uint32_t level = 0; level < 3; level++)
		assert_int_equal(find(c, 0xb, level)->flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
	assert_int_equal(find(c, 0x80000001, 0)->ecx, 0x00000003u | (1u << 22));
	assert_int_equal(find(c, 0x80000000, 0)->eax, 0x8000001e);
	cpuid_add_topology_leaves(c, &t); /* idempotent */
	assert_int_equal(c->nent, n + 4);

	cpuid_customize(c, &t, 3); /* core 1, thread 1: APIC ID 3 */
	e = find(c, 0x8000001e, 0);
	assert_int_equal(e->eax, 3);
	assert_int_equal(e->ebx & 0xff, 1);        /* core */
	assert_int_equal((e->ebx >> 8) & 0xff, 1); /* threads per core - 1 */
	assert_int_equal(e->ecx, 0);               /* node = package 0 */
	e = find(c, 0xb, 0);
	assert_int_equal(e->eax, 1); /* shift to the core ID */
	assert_int_equal(e->ebx, 2); /* threads per core */
	assert_int_equal(e->ecx, 0x100);
	assert_int_equal(e->edx, 3);
	e = find(c, 0xb, 1);
	assert_int_equal(e->eax, 2); /* shift to the package ID */
	assert_int_equal(e->ebx, 4); /* threads per package */
	assert_int_equal(e->ecx, 0x201);
	assert_int_equal((find(c, 0xb, 2)->ecx >> 8) & 0xff, 0); /* invalid: the end */
	free(c);
}

/* One thread per core, an Intel host, or Zen (TOPOEXT there): no AMD leaf to add. */
static void test_topology_leaves_amd_part_left_alone(void **state)
{
	struct cpu_topology one = topo(0, 2, 2, 1), smt = topo(0, 1, 2, 2);
	struct kvm_cpuid2 *c = amd_k8_cpuid(), *orig = amd_k8_cpuid(), *intel = host_cpuid();
	uint32_t n = intel->nent, ecx;

	cpuid_add_topology_leaves(c, &one);
	assert_int_equal(c->nent, orig->nent + 3); /* leaf 0xB only */
	assert_memory_equal(c->entries, orig->entries, orig->nent * sizeof(c->entries[0]));
	cpuid_add_topology_leaves(intel, &smt); /* has 0xB levels 0-2 already */
	assert_int_equal(intel->nent, n);
	free(c);

	c = amd_k8_cpuid();
	find(c, 0x80000000, 0)->eax = 0x80000021;
	find(c, 0x80000001, 0)->ecx |= 1u << 22;
	ecx = find(c, 0x80000001, 0)->ecx;
	add(c, 0x8000001e, 0, 0, 0x100, 0, 0);
	n = c->nent;
	cpuid_add_topology_leaves(c, &smt);
	assert_int_equal(c->nent, n + 3);
	assert_int_equal(find(c, 0x80000000, 0)->eax, 0x80000021);
	assert_int_equal(find(c, 0x80000001, 0)->ecx, ecx);
	free(c);

	/* A maximum basic leaf below 0xB: nothing beyond it appears. */
	c = amd_k8_cpuid();
	find(c, 0, 0)->eax = 0xa;
	n = c->nent;
	cpuid_add_topology_leaves(c, &one);
	assert_int_equal(c->nent, n);
	free(c);
	free(orig);
	free(intel);
}

static void test_other_leaves_untouched(void **state)
{
	struct kvm_cpuid2 *host = host_cpuid();
	struct kvm_cpuid2 *c = customized(2, 3, 2, 5);

	assert_memory_equal(find(c, 0, 0), find(host, 0, 0), sizeof(struct kvm_cpuid_entry2));
	assert_memory_equal(find(c, 7, 0), find(host, 7, 0), sizeof(struct kvm_cpuid_entry2));
	assert_memory_equal(find(c, 0x40000000, 0), find(host, 0x40000000, 0),
			    sizeof(struct kvm_cpuid_entry2));
	free(c);
	free(host);
}

static void test_empty_cpuid(void **state)
{
	struct kvm_cpuid2 *c = new_cpuid();
	struct cpu_topology t = topo(0, 2, 2, 2);

	cpuid_customize(c, &t, 7);
	assert_int_equal(c->nent, 0);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_single_cpu),
		cmocka_unit_test(test_cpus_defaults_to_product),
		cmocka_unit_test(test_fewer_cpus_than_slots),
		cmocka_unit_test(test_zero_counts_rejected),
		cmocka_unit_test(test_cpus_above_product_rejected),
		cmocka_unit_test(test_more_than_256_slots_rejected),
		cmocka_unit_test(test_big_topologies_accepted),
		cmocka_unit_test(test_apic_id_above_254_rejected),
		cmocka_unit_test(test_apic_ids_two_sockets_two_cores),
		cmocka_unit_test(test_apic_ids_threads_and_odd_cores),
		cmocka_unit_test(test_apic_ids_three_threads),
		cmocka_unit_test(test_apic_ids_unique_and_decodable),
		cmocka_unit_test(test_leaf1_apic_id_per_vcpu),
		cmocka_unit_test(test_tsc_deadline_bit),
		cmocka_unit_test(test_leaf1_keeps_low_ebx_sets_hypervisor),
		cmocka_unit_test(test_leaf1_single_cpu_package_has_no_htt),
		cmocka_unit_test(test_leaf1_multicore_package_has_htt_and_count),
		cmocka_unit_test(test_leaf1_256_ids_per_package_does_not_corrupt_apic_id),
		cmocka_unit_test(test_leaf4_sharing_fields),
		cmocka_unit_test(test_leaf4_many_cores_saturate),
		cmocka_unit_test(test_leaf4_single_cpu),
		cmocka_unit_test(test_leaf_b_levels),
		cmocka_unit_test(test_leaf_b_single_thread_cores),
		cmocka_unit_test(test_amd_cmp_legacy),
		cmocka_unit_test(test_amd_nc_and_apic_id_size),
		cmocka_unit_test(test_amd_extended_apic_and_core_ids),
		cmocka_unit_test(test_topology_leaves_added_for_amd_smt),
		cmocka_unit_test(test_topology_leaves_amd_part_left_alone),
		cmocka_unit_test(test_other_leaves_untouched),
		cmocka_unit_test(test_empty_cpuid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
