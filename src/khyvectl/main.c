/*
 * khyvectl: bhyvectl(8)'s options for khyve VMs. bhyvectl works on the
 * kernel's VM object; with KVM the VM lives in the khyve process, so every
 * command goes to that process over its control socket (client.c). Queries
 * run first, then at most one of --destroy, --force-reset, --force-poweroff,
 * after which khyvectl waits for the VM's process to end, so that the name
 * is free again when it returns (as after bhyvectl --destroy).
 * --console attaches the terminal to a COM port (console.c).
 * Exit status: 0 on success, 1 on any error (one line on stderr).
 */
#include <dirent.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/json.h"
#include "core/registry.h"
#include "khyvectl/client.h"
#include "khyvectl/console.h"

/* Registers in the order --get-all prints them; each also has --get-NAME. */
static const char *const reg_names[] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
	"r12", "r13", "r14", "r15", "rip", "rflags", "cr0", "cr2", "cr3", "cr4", "cr8", "efer",
	"cs", "ds", "es", "fs", "gs", "ss", "tr", "fs_base", "gs_base", "gdtr_base", "idtr_base",
};
#define NREGS (sizeof(reg_names) / sizeof(reg_names[0]))

enum { OPT_VM = 256, OPT_CPU, OPT_DESTROY, OPT_RESET, OPT_POWEROFF, OPT_STATS, OPT_LIST,
       OPT_ALL, OPT_CONSOLE, OPT_REG0 };

struct request {
	const char *vm;
	int cpu; /* -1: not given */
	const char *action; /* protocol command of --destroy/--force-*, or NULL */
	bool stats, list, all, console;
	const char *console_port; /* NULL: the first attachable one */
	bool regs[NREGS];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: khyvectl --vm=NAME [--cpu=N] [--get-stats] [--get-all] [--get-REG ...]\n"
		   "                [--destroy | --force-reset | --force-poweroff]\n"
		   "       khyvectl --vm=NAME --console [comN]    (~. detaches)\n"
		   "       khyvectl --list\n"
		   "REG: rip rsp rflags rax..r15 cr0 cr2 cr3 cr4 cr8 efer cs ds es fs gs ss tr\n"
		   "     fs_base gs_base gdtr_base idtr_base\n");
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "khyvectl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static struct option *long_options(void)
{
	static struct option opts[OPT_REG0 - OPT_VM + NREGS + 3];
	static char names[NREGS][24];
	static const struct option fixed[] = {
		{ "vm", required_argument, NULL, OPT_VM },
		{ "cpu", required_argument, NULL, OPT_CPU },
		{ "destroy", no_argument, NULL, OPT_DESTROY },
		{ "force-reset", no_argument, NULL, OPT_RESET },
		{ "force-poweroff", no_argument, NULL, OPT_POWEROFF },
		{ "get-stats", no_argument, NULL, OPT_STATS },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "get-all", no_argument, NULL, OPT_ALL },
		{ "console", optional_argument, NULL, OPT_CONSOLE },
		{ "help", no_argument, NULL, 'h' },
	};
	size_t n = 0;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		opts[n++] = fixed[i];
	for (size_t i = 0; i < NREGS; i++) {
		snprintf(names[i], sizeof(names[i]), "get-%s", reg_names[i]);
		opts[n++] = (struct option){ names[i], no_argument, NULL, OPT_REG0 + (int)i };
	}
	opts[n] = (struct option){ 0 };
	return opts;
}

static void set_action(struct request *r, const char *command)
{
	if (r->action != NULL && strcmp(r->action, command) != 0)
		die("--destroy, --force-reset and --force-poweroff exclude each other");
	r->action = command;
}

static int parse_cpu(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0 || v > 4095)
		die("--cpu=%s: not a vCPU number", s);
	return (int)v;
}

static const char *check_port(const char *port)
{
	if (strlen(port) != 4 || strncmp(port, "com", 3) != 0 || port[3] < '1' || port[3] > '4')
		die("--console %s: a COM port is com1, com2, com3 or com4", port);
	return port;
}

static void parse_args(int argc, char **argv, struct request *r)
{
	struct option *opts = long_options();
	int c;

	memset(r, 0, sizeof(*r));
	r->cpu = -1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_VM: r->vm = optarg; break;
		case OPT_CPU: r->cpu = parse_cpu(optarg); break;
		case OPT_DESTROY: set_action(r, "destroy"); break;
		case OPT_RESET: set_action(r, "force-reset"); break;
		case OPT_POWEROFF: set_action(r, "force-poweroff"); break;
		case OPT_STATS: r->stats = true; break;
		case OPT_LIST: r->list = true; break;
		case OPT_ALL: r->all = true; break;
		case OPT_CONSOLE:
			r->console = true;
			r->console_port = optarg != NULL ? check_port(optarg) : NULL;
			break;
		case 'h': usage(stdout); exit(0);
		default:
			if (c >= OPT_REG0 && c < OPT_REG0 + (int)NREGS) {
				r->regs[c - OPT_REG0] = true;
				break;
			}
			usage(stderr);
			exit(1);
		}
	}
	/* "--console com2" as well as "--console=com2". */
	if (r->console && r->console_port == NULL && optind < argc && strncmp(argv[optind], "com", 3) == 0)
		r->console_port = check_port(argv[optind++]);
	if (optind < argc)
		die("unexpected argument '%s' (the VM is named with --vm=NAME)", argv[optind]);
}

static bool wants_regs(const struct request *r)
{
	for (size_t i = 0; i < NREGS; i++)
		if (r->regs[i])
			return true;
	return r->all;
}

static void check_name(const char *name)
{
	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL)
		die("'%s' is not a VM name", name);
}

/* ---- --list --------------------------------------------------------------- */

static void format_uptime(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (s >= 86400)
		snprintf(buf, len, "%" PRIu64 "-%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 86400,
			 s / 3600 % 24, s / 60 % 60, s % 60);
	else
		snprintf(buf, len, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, s / 60 % 60,
			 s % 60);
}

static int64_t get_int(const struct json_value *obj, const char *key)
{
	int64_t v = -1;

	json_get_int(obj, key, INT64_MIN / 2, INT64_MAX / 2, &v);
	return v;
}

static void list_one(const char *name)
{
	char err[512], uptime[32];
	struct json_value *info;
	int fd, stale;

	fd = ctl_connect(name, err, sizeof(err), &stale);
	if (fd < 0)
		return; /* stopped or stale since readdir: not running, not listed */
	info = ctl_request(fd, "info", -1, err, sizeof(err));
	close(fd);
	if (info == NULL) {
		fprintf(stderr, "khyvectl: %s: %s\n", name, err);
		return;
	}
	format_uptime((uint64_t)get_int(info, "uptime_ms"), uptime, sizeof(uptime));
	printf("%-20s %8" PRId64 " %4" PRId64 " %7" PRId64 "M %11s %s\n", name, get_int(info, "pid"),
	       get_int(info, "cpus"), get_int(info, "memory") >> 20, uptime,
	       json_get_string(info, "state") ? json_get_string(info, "state") : "?");
	json_free(info);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int list_vms(void)
{
	char dir[4096];
	struct dirent **entries;
	int n;

	snprintf(dir, sizeof(dir), "%s/%s", registry_rundir(), REGISTRY_VMM_DIR);
	printf("%-20s %8s %4s %8s %11s %s\n", "NAME", "PID", "CPUS", "MEMORY", "UPTIME", "STATE");
	n = scandir(dir, &entries, NULL, by_name);
	for (int i = 0; i < n; i++) {
		if (entries[i]->d_name[0] != '.')
			list_one(entries[i]->d_name);
		free(entries[i]);
	}
	if (n >= 0)
		free(entries);
	return 0;
}

/* ---- queries -------------------------------------------------------------- */

static uint64_t hex_value(const struct json_value *obj, const char *key)
{
	const char *s = json_get_string(obj, key);

	return s != NULL ? strtoull(s, NULL, 16) : 0;
}

static void print_regs(const struct request *r, const struct json_value *reply, int cpu)
{
	const struct json_value *regs = json_get(reply, "regs");

	for (size_t i = 0; i < NREGS; i++) {
		if (!r->all && !r->regs[i])
			continue;
		if (json_get_string(regs, reg_names[i]) == NULL)
			die("the VM's reply has no register %s", reg_names[i]);
		char label[32];

		/* bhyvectl's "name[cpu]  value" lines, aligned. */
		snprintf(label, sizeof(label), "%s[%d]", reg_names[i], cpu);
		printf("%-15s 0x%016" PRIx64 "\n", label, hex_value(regs, reg_names[i]));
	}
}

static void print_stat(const char *what, const struct json_value *vcpu, const char *key)
{
	if (json_get(vcpu, key) != NULL)
		printf("%-48s%" PRId64 "\n", what, get_int(vcpu, key));
}

static void print_vcpu_stats(const struct json_value *vcpu)
{
	printf("vcpu%" PRId64 " stats:\n", get_int(vcpu, "cpu"));
	print_stat("  port I/O exits handled by khyve", vcpu, "exits_io");
	print_stat("  MMIO exits handled by khyve", vcpu, "exits_mmio");
	print_stat("  interrupt exits (KVM_EXIT_INTR, IRQ window)", vcpu, "exits_intr");
	print_stat("  other exits", vcpu, "exits_other");
	print_stat("  CPU time of the vCPU thread (ms)", vcpu, "cpu_time_ms");
	print_stat("    of which in the guest (ms)", vcpu, "guest_time_ms");
}

static void print_stats(const struct json_value *reply, int cpu)
{
	const struct json_value *vcpus = json_get(reply, "vcpus");

	if (vcpus == NULL || vcpus->type != JSON_ARRAY)
		die("the VM's reply has no vcpus array");
	if (cpu >= (int)vcpus->count)
		die("no vCPU %d: this VM has %zu", cpu, vcpus->count);
	for (size_t i = 0; i < vcpus->count; i++)
		if (cpu < 0 || (size_t)cpu == i)
			print_vcpu_stats(&vcpus->items[i]);
}

static struct json_value *request_or_die(int fd, const struct request *r, const char *command,
					 int cpu)
{
	char err[512];
	struct json_value *reply = ctl_request(fd, command, cpu, err, sizeof(err));

	if (reply == NULL)
		die("%s: %s", r->vm, err);
	return reply;
}

static int run(const struct request *r)
{
	char err[512];
	struct json_value *reply;
	int fd, stale;

	check_name(r->vm);
	fd = ctl_connect(r->vm, err, sizeof(err), &stale);
	if (fd < 0)
		die("%s", err);
	if (r->stats) {
		reply = request_or_die(fd, r, "stats", -1);
		print_stats(reply, r->cpu);
		json_free(reply);
	}
	if (wants_regs(r)) {
		int cpu = r->cpu < 0 ? 0 : r->cpu;

		reply = request_or_die(fd, r, "regs", cpu);
		print_regs(r, reply, cpu);
		json_free(reply);
	}
	if (r->action != NULL) {
		json_free(request_or_die(fd, r, r->action, -1));
		if (ctl_wait_closed(fd, CTL_EXIT_TIMEOUT_MS) < 0)
			die("%s: accepted --%s but is still running after %d s", r->vm, r->action,
			    CTL_EXIT_TIMEOUT_MS / 1000);
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct request r;

	signal(SIGPIPE, SIG_IGN); /* a VM that goes away mid-reply is an error, not a kill */
	config_init(); /* registry_rundir() reads the (empty) config first */
	parse_args(argc, argv, &r);
	if (r.list) {
		if (r.vm != NULL || r.action != NULL || r.stats || wants_regs(&r) || r.console)
			die("--list takes no other option");
		return list_vms();
	}
	if (r.vm == NULL) {
		usage(stderr);
		return 1;
	}
	if (r.console) {
		if (r.action != NULL || r.stats || wants_regs(&r))
			die("--console takes no other option than --vm");
		check_name(r.vm);
		return ctl_console(r.vm, r.console_port);
	}
	if (r.action == NULL && !r.stats && !wants_regs(&r))
		die("nothing to do for VM '%s' (see khyvectl -h)", r.vm);
	return run(&r);
}
