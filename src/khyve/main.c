/*
 * khyve: bhyve's command line on Linux/KVM.
 *
 * Start-up order: options -> config tree -> checks that need no resources
 * (so bad input fails fast and touches nothing) -> name registry -> KVM VM,
 * memory, vCPUs -> platform devices -> ACPI tables and the kernel -> run.
 * Exit status as bhyve(8): 0 rebooted, 1 powered off, 2 halted, 3 triple
 * fault, 4 error (including every usage error).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/control.h"
#include "core/inout.h"
#include "core/mevent.h"
#include "core/options.h"
#include "core/registry.h"
#include "core/vmm.h"
#include "hw/fw_cfg.h"
#include "hw/platform.h"
#include "pci/pci.h"
#include "lib/vmmapi.h"
#include "x86/acpi.h"
#include "x86/acpi_loader.h"
#include "x86/bootrom.h"
#include "x86/cpu.h"
#include "x86/layout.h"
#include "x86/linux_boot.h"
#include "x86/smbios.h"

#define DEFAULT_MEMORY (256ull << 20)
#define MIN_MEMORY (16ull << 20)

static struct vmctx *ctx;
static bool trace_startup;

/* KHYVE_TRACE_STARTUP=1: timestamps of start-up phases on stderr (for make bench). */
static void trace_phase(const char *phase)
{
	struct timespec ts;

	if (!trace_startup)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	fprintf(stderr, "khyve: trace %ld.%06ld %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000, phase);
}
/* With the trace: how often the vCPUs left the guest, by kind (kicks through ioeventfds never do). */
static void trace_exits(void)
{
	struct vcpu_stats st;

	if (!trace_startup)
		return;
	vm_total_stats(&st);
	fprintf(stderr, "khyve: trace exits io=%llu mmio=%llu intr=%llu other=%llu\n",
		(unsigned long long)st.exits_io, (unsigned long long)st.exits_mmio,
		(unsigned long long)st.exits_intr, (unsigned long long)st.exits_other);
}

static int fatal_signal;

static void cleanup(void)
{
	bootrom_cleanup();
	lpc_cleanup();
	registry_release();
}

static void __attribute__((noreturn)) die(void)
{
	cleanup();
	exit(VM_EXIT_ERROR);
}

/* The firmware files exist before any VM does (sizes are checked when mapped). */
static int check_bootrom(void)
{
	const char *keys[] = { "lpc.bootrom", "lpc.bootvars" };
	struct stat st;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *path = get_config_value(keys[i]);

		if (path != NULL && stat(path, &st) < 0) {
			fprintf(stderr, "khyve: %s: %s: %s\n", keys[i], path, strerror(errno));
			return -1;
		}
	}
	if (get_config_value("lpc.bootvars") != NULL && get_config_value("lpc.bootrom") == NULL) {
		fprintf(stderr, "khyve: lpc.bootvars is set without lpc.bootrom\n");
		return -1;
	}
	return 0;
}

/* Options parsed from bhyve's syntax whose emulation is a later milestone. */
static int check_unimplemented(void)
{
	static const struct {
		const char *key, *what;
	} later[] = {
		{ "lpc.tpm", "TPM (-l tpm)" },
		{ "lpc.pc-testdev", "pc-testdev (-l pc-testdev)" },
		{ "gdb", "the GDB server (-G)" },
		{ "restore", "snapshot restore (-r)" },
		{ "numa", "NUMA domains (-n)" },
	};

	if (pci_check_config() < 0)
		return -1;
	if (check_bootrom() < 0)
		return -1;
	/* QEMU's fw_cfg is implemented (hw/fw_cfg.c); bhyve's own interface is not. */
	const char *fwcfg = get_config_value("lpc.fwcfg");

	if (fwcfg != NULL && strcmp(fwcfg, "qemu") != 0) {
		fprintf(stderr, "khyve: fw_cfg type '%s' (-l fwcfg,%s) is not implemented yet; "
			"use -l fwcfg,qemu\n", fwcfg, fwcfg);
		return -1;
	}
	for (size_t i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
		if (get_config_value(later[i].key) != NULL || find_config_node(later[i].key) != NULL) {
			fprintf(stderr, "khyve: %s is not implemented yet\n", later[i].what);
			return -1;
		}
	}
	return 0;
}

/*
 * Firmware built for QEMU's i440FX machine (stock SeaBIOS and OVMF) runs on
 * what it recognises: an i440FX 8086:1237 at 00:00.0 (a hostbridge there
 * presents those IDs unless its pcireg.* keys say otherwise), the PIIX4 PM
 * function at 00:01.3 where OVMF reads the ACPI PM base, and no ECAM: the
 * firmware assigns BARs anywhere from the top of low RAM to the IOAPIC, so
 * that is the window the DSDT describes.
 */
static void firmware_platform(void)
{
	const char *dev = get_config_value("pci.0.0.0.device");
	struct pci_windows w = { .mmio32_base = ctx->lowmem, .mmio32_end = IOAPIC_BASE,
				 .ecam = false };

	if (dev != NULL && strcmp(dev, "hostbridge") == 0) {
		(void)set_config_value_if_unset("pci.0.0.0.pcireg.vendor", "0x8086");
		(void)set_config_value_if_unset("pci.0.0.0.pcireg.device", "0x1237");
	}
	if (find_config_node("pci.0.1.3") == NULL)
		(void)set_config_value("pci.0.1.3.device", "piix4-pm");
	pci_set_windows(&w);
}

static uint64_t memory_size(void)
{
	uint64_t size = get_config_memsize_default("memory.size", DEFAULT_MEMORY);

	if (size < MIN_MEMORY) {
		fprintf(stderr, "khyve: memory.size: at least %llu MiB of guest memory are needed\n",
			MIN_MEMORY >> 20);
		die();
	}
	return (size + 0xfffff) & ~0xfffffull; /* whole MiB, as KVM slots want pages */
}

/* A boot file named in the config must be a readable regular file: checked before any VM exists. */
static void check_boot_file(const char *key, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "khyve: %s: %s: %s\n", key, path, strerror(errno));
		die();
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "khyve: %s: %s: not a regular file\n", key, path);
		die();
	}
}

static const char *boot_kernel(void)
{
	const char *kernel = get_config_value("boot.kernel");

	if (kernel == NULL) {
		fprintf(stderr, "khyve: nothing to boot: set boot.kernel (-o boot.kernel=PATH) for a "
			"direct Linux boot\n");
		die();
	}
	check_boot_file("boot.kernel", kernel);
	return kernel;
}

static const char *boot_initrd(void)
{
	const char *initrd = get_config_value("boot.initrd");

	if (initrd != NULL)
		check_boot_file("boot.initrd", initrd);
	return initrd;
}

static void setup_vcpus(const struct cpu_topology *topo)
{
	struct kvm_cpuid2 *host_cpuid = vm_get_supported_cpuid(ctx);

	if (host_cpuid == NULL || vm_create_vcpus(ctx, topo->cpus) < 0) {
		fprintf(stderr, "khyve: cannot create %d vCPUs\n", topo->cpus);
		die();
	}
	size_t room = sizeof(*host_cpuid) +
		      (host_cpuid->nent + CPUID_EXTRA_ENTRIES) * sizeof(host_cpuid->entries[0]);
	struct kvm_cpuid2 *base = realloc(host_cpuid, room), *cpuid = malloc(room);

	if (base == NULL || cpuid == NULL) {
		fprintf(stderr, "khyve: out of memory\n");
		die();
	}
	host_cpuid = base;
	if (vm_check_extension(ctx, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
		cpuid_add_tsc_deadline(host_cpuid);
	cpuid_add_topology_leaves(host_cpuid, topo);
	size_t size = sizeof(*host_cpuid) + host_cpuid->nent * sizeof(host_cpuid->entries[0]);

	for (int i = 0; i < topo->cpus; i++) {
		memcpy(cpuid, host_cpuid, size);
		cpuid_customize(cpuid, topo, i);
		if (vm_vcpu_set_cpuid(vm_vcpu(i), cpuid) < 0 || cpu_reset_msrs(vm_vcpu(i)) < 0) {
			fprintf(stderr, "khyve: vCPU %d: cannot set up CPUID and MSRs\n", i);
			die();
		}
	}
	free(cpuid);
	free(host_cpuid);
}

/* bhyve without -P does not exit on PAUSE; KVM exits by default, so turn it off if allowed. */
static void setup_pause_exits(void)
{
	if (get_config_bool_default("x86.vmexit_on_pause", false))
		return;
	int caps = vm_check_extension(ctx, KVM_CAP_X86_DISABLE_EXITS);

	if (caps > 0 && (caps & KVM_X86_DISABLE_EXITS_PAUSE))
		(void)vm_enable_cap(ctx, KVM_CAP_X86_DISABLE_EXITS, KVM_X86_DISABLE_EXITS_PAUSE);
}

static uint64_t install_acpi(const struct cpu_topology *topo, bool firmware)
{
	struct acpi_config cfg = { .ncpus = topo->cpus, .ioapic_id = 0 };
	struct acpi_tables tables;
	size_t len = SMBIOS_ADDR - ACPI_TABLES_ADDR; /* SMBIOS has the 0xF0000 segment */
	size_t used;

	for (int i = 0; i < topo->cpus; i++)
		cfg.apic_ids[i] = topology_apic_id(topo, i);
	/* The IOAPIC takes the first ID after the CPUs' (IDs share one space on xAPIC). */
	cfg.ioapic_id = (uint8_t)(topology_apic_id(topo, topo->cpus - 1) + 1);
	lpc_acpi(&cfg);
	cfg.mmio32_base = pci_get_windows()->mmio32_base;
	cfg.mmio32_end = pci_get_windows()->mmio32_end;
	cfg.no_ecam = !pci_get_windows()->ecam;
	if (acpi_build(&cfg, &tables) < 0) {
		fprintf(stderr, "khyve: cannot build ACPI tables\n");
		die();
	}
	/* Firmware owns low memory (the BIOS copy lives where the tables would). */
	used = firmware ? 1
			: acpi_install(&tables, vm_map_gpa(ctx, ACPI_TABLES_ADDR, len),
				       ACPI_TABLES_ADDR, len);
	/* Firmware gets the same tables through the fw_cfg linker/loader. */
	if (fw_cfg_active() && acpi_loader_add_fw_cfg(&tables) < 0) {
		fprintf(stderr, "khyve: fw_cfg: cannot add the ACPI tables\n");
		die();
	}
	acpi_tables_free(&tables);
	if (used == 0) {
		fprintf(stderr, "khyve: ACPI tables do not fit below 1 MiB\n");
		die();
	}
	return ACPI_TABLES_ADDR;
}

/* SMBIOS: in the 0xF0000 segment for a direct boot, through fw_cfg for firmware. */
static void install_smbios(const struct cpu_topology *topo, bool firmware, const uint8_t uuid[16])
{
	struct smbios_config cfg = { .sockets = topo->sockets, .cores_per_socket = topo->cores,
				     .threads_per_core = topo->threads, .lowmem = ctx->lowmem,
				     .highmem = ctx->highmem, .firmware = firmware };
	struct smbios_tables t;
	size_t room = BIOS_AREA_END - SMBIOS_ADDR;
	bool ok;

	memcpy(cfg.uuid, uuid, sizeof(cfg.uuid));
	if (smbios_build(&cfg, &t) < 0)
		die();
	ok = firmware || smbios_install(&t, vm_map_gpa(ctx, SMBIOS_ADDR, room), SMBIOS_ADDR, room) > 0;
	if (ok && fw_cfg_active())
		ok = smbios_add_fw_cfg(&t) == 0;
	smbios_free(&t);
	if (!ok) {
		fprintf(stderr, "khyve: cannot install the SMBIOS tables\n");
		die();
	}
}

static void press_power_button(void)
{
	control_note_stopping();
	acpi_pm_power_button(ctx);
}

static void on_sigterm(int signo, enum ev_type type, void *arg)
{
	/* bhyve(8): SIGTERM presses the ACPI power button; the guest shuts down cleanly. */
	press_power_button();
}

static void on_fatal_signal(int signo, enum ev_type type, void *arg)
{
	fatal_signal = signo;
	vm_request_exit(VM_EXIT_ERROR);
}

static void setup_signals(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (mevent_add(SIGTERM, EVF_SIGNAL, on_sigterm, NULL) == NULL ||
	    mevent_add(SIGINT, EVF_SIGNAL, on_fatal_signal, NULL) == NULL ||
	    mevent_add(SIGHUP, EVF_SIGNAL, on_fatal_signal, NULL) == NULL) {
		fprintf(stderr, "khyve: cannot set up signal handling\n");
		die();
	}
}

static void open_vm(uint64_t mem)
{
	char err[256];

	ctx = vm_open(err, sizeof(err));
	if (ctx == NULL) {
		fprintf(stderr, "khyve: %s\n", err);
		die();
	}
	if (vm_setup_memory(ctx, mem, get_config_bool_default("memory.hugepages", false),
			    get_config_bool_default("memory.wired", false), err, sizeof(err)) < 0) {
		fprintf(stderr, "khyve: %s\n", err);
		die();
	}
	if (get_config_bool_default("memory.guest_in_core", false))
		vm_guest_in_core(ctx);
	setup_pause_exits();
	if (vm_create_irqchip(ctx) < 0) {
		fprintf(stderr, "khyve: cannot create the in-kernel interrupt controller and PIT\n");
		die();
	}
}

int main(int argc, char **argv)
{
	struct cpu_topology topo;
	struct linux_boot lb;
	enum vm_exit_code code;
	const char *name;
	uint8_t uuid[16];

	trace_startup = getenv("KHYVE_TRACE_STARTUP") != NULL;
	trace_phase("start");
	config_init();
	switch (khyve_parse_options(argc, argv)) {
	case OPTS_RUN:
		break;
	case OPTS_EXIT_OK:
		return 0;
	default:
		return VM_EXIT_ERROR;
	}
	if (get_config_bool_default("config.dump", false)) {
		dump_config(stdout);
		return 0;
	}
	name = get_config_value("name");
	if (name == NULL) {
		fprintf(stderr, "khyve: missing VM name\n");
		return VM_EXIT_ERROR;
	}
	if (check_unimplemented() < 0 || topology_from_config(&topo) < 0)
		return VM_EXIT_ERROR;
	uint64_t mem = memory_size();
	const char *bootrom = get_config_value("lpc.bootrom");

	if (bootrom == NULL) {
		lb = (struct linux_boot){
			.kernel = boot_kernel(),
			.initrd = boot_initrd(),
			.cmdline = get_config_value("boot.cmdline"),
			.pvh = get_config_bool_default("boot.pvh", true),
			.kernel_cache = get_config_bool_default("boot.kernel_cache", true),
			.trace = trace_startup,
		};
	}
	if (registry_claim(name) < 0)
		return VM_EXIT_ERROR;
	if (mevent_init() < 0) {
		fprintf(stderr, "khyve: cannot create the event loop\n");
		die();
	}
	setup_signals();
	/* Served once the VM runs; a client connecting earlier waits in the backlog. */
	if (control_start(&(struct control_params){ .name = name, .memory = mem,
						   .power_button = press_power_button }) < 0)
		die();
	open_vm(mem);
	trace_phase("vm-created");
	setup_vcpus(&topo);
	if (bootrom != NULL)
		firmware_platform();
	if (init_inout() < 0 || lpc_init(ctx) < 0 || pci_init(ctx) < 0)
		die();
	lb.rsdp_addr = install_acpi(&topo, bootrom != NULL);
	if (smbios_vm_uuid(get_config_value("uuid"), name, uuid) < 0)
		die();
	install_smbios(&topo, bootrom != NULL, uuid);
	if (fw_cfg_active() && fw_cfg_add_machine(topo.cpus, topo.cpus, mem, uuid) < 0) {
		fprintf(stderr, "khyve: fw_cfg: cannot describe the machine\n");
		die();
	}
	/* With firmware, vCPU 0 starts at the reset vector in KVM's reset state. */
	if (bootrom != NULL ? bootrom_setup(ctx, bootrom, get_config_value("lpc.bootvars")) < 0
			    : linux_boot_load(ctx, vm_vcpu(0), &lb) < 0)
		die();

	trace_phase("guest-start");
	code = vm_run(ctx);
	trace_phase("guest-stopped");
	trace_exits();
	cleanup();
	vm_close(ctx);
	trace_phase("exit");
	if (fatal_signal) {
		sigset_t set;

		signal(fatal_signal, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, fatal_signal);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		raise(fatal_signal);
	}
	return (int)code;
}
