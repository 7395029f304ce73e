/*
 * Guest CPU identity: topology (-c cpus=,sockets=,cores=,threads=), APIC IDs
 * and the CPUID each vCPU reports.
 */
#ifndef KHYVE_X86_CPU_H
#define KHYVE_X86_CPU_H

#include <stdint.h>

#include "lib/vmmapi.h"

#define VM_MAX_CPUS_TOPO 256

struct cpu_topology {
	int cpus, sockets, cores, threads;
	int smt_bits;  /* APIC ID bits for the thread within a core */
	int core_bits; /* APIC ID bits for the core within a package */
};

/*
 * From the config keys cpus/sockets/cores/threads (bhyve defaults: 1 each;
 * cpus defaults to sockets*cores*threads). Prints one line and returns -1 on
 * an impossible combination.
 */
int topology_from_config(struct cpu_topology *t);
/* Pure variant (unit-testable). Returns NULL or a static error message. */
const char *topology_init(struct cpu_topology *t, int cpus, int sockets, int cores, int threads);
uint32_t topology_apic_id(const struct cpu_topology *t, int vcpu);

/*
 * Adjust the host-supported CPUID for vCPU "vcpu": APIC ID, topology leaves
 * (Intel 0x4/0xB/0x1F, AMD 0x80000008/0x8000001E), hypervisor bit. Works on
 * a copy: cpuid entries are per vCPU.
 */
void cpuid_customize(struct kvm_cpuid2 *cpuid, const struct cpu_topology *t, int vcpu);
/*
 * Make sure the leaves that tell a guest its topology exist, so that
 * cpuid_customize can fill them in however little the host CPU reports
 * (the host's own topology is irrelevant to the guest's):
 * - leaf 0xB, levels 0-2 (SMT, core, end), whenever the maximum basic leaf
 *   reaches it: Linux reads packages and cores from it on AMD too;
 * - on an AMD (or Hygon) CPUID with threads > 1, leaf 0x8000001E and the
 *   TOPOEXT bit (0x80000001 ECX[22]) that announces it, raising the
 *   extended maximum leaf to reach it: an AMD guest counts SMT threads only
 *   from there. Hosts before Zen lack both (so does the K8 QEMU's TCG
 *   emulates in the testbed), and such a guest would count threads as
 *   cores. A guest that sees TOPOEXT looks for cache leaves in 0x8000001D,
 *   which stays absent (zero): it reports no cache sizes then.
 * Needs room for CPUID_EXTRA_ENTRIES more entries.
 */
#define CPUID_EXTRA_ENTRIES 4
void cpuid_add_topology_leaves(struct kvm_cpuid2 *cpuid, const struct cpu_topology *t);
/*
 * Announce the TSC-deadline timer (leaf 1 ECX[24]): KVM emulates it but, as
 * an emulated feature, leaves it out of the supported CPUID; call when
 * KVM_CAP_TSC_DEADLINE_TIMER says it is there (QEMU does the same).
 */
void cpuid_add_tsc_deadline(struct kvm_cpuid2 *cpuid);

/*
 * Power-on MSR state firmware would otherwise establish: MTRRs enabled with
 * write-back as the default type (with MTRRs off all of RAM is uncacheable,
 * which makes a guest crawl), fast string operations on.
 */
int cpu_reset_msrs(struct vcpu *vcpu);

#endif
