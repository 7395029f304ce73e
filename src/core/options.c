/*
 * bhyve(8)'s amd64 command line -> configuration tree.
 *
 * Every option only writes keys (see khyve_config(5) for their meaning); the
 * readers apply defaults, so "-o config.dump=1" shows exactly what was given.
 * A mistake is reported as exactly one line on stderr,
 *     khyve: -c: 'abc' is not a valid CPU count
 * naming the option and the offending value, and the parse stops there.
 * bhyve exits with 1 or 64 (EX_USAGE) for such mistakes; khyve uses 4, its
 * status for every error, so scripts only have to know one.
 */
#include "core/options.h"
#include "net/net_backend.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/config.h"

/* bhyve's getopt string plus -n (NUMA). '+': stop at the VM name, as BSD getopt. */
#define OPTSTRING "+:aehuwxACDHIPSWYk:f:o:p:G:c:s:m:l:K:U:r:n:"

#define PCI_BUS_MAX 255
#define PCI_SLOT_MAX 31
#define PCI_FUNC_MAX 7
#define AHCI_MAX_PORTS 32
#define VTCON_MAX_PORTS 16
#define NUMA_MAX_DOMAINS 8
#define FWCFG_MAX_NAME 56 /* QEMU's fw_cfg file name field, NUL included */
#define VM_NAME_MAX 64

/* The option argument being parsed, quoted in configuration errors. */
static const char *current_arg;

/* ---- reporting ----------------------------------------------------------- */

__attribute__((format(printf, 2, 3)))
static int opt_error(int opt, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "khyve: -%c: ", opt);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* A set_config_*() call failed: say which argument and why. */
static int opt_config_error(int opt)
{
	return opt_error(opt, "'%s': %s", current_arg != NULL ? current_arg : "",
	    config_last_error());
}

/* ---- small parsers ------------------------------------------------------- */

static char *xstrdup(const char *s)
{
	char *copy = strdup(s);

	if (copy == NULL) {
		fprintf(stderr, "khyve: out of memory\n");
		exit(4);
	}
	return copy;
}

static char *xstrndup(const char *s, size_t n)
{
	char *copy = strndup(s, n);

	if (copy == NULL) {
		fprintf(stderr, "khyve: out of memory\n");
		exit(4);
	}
	return copy;
}

/* All of s is a number in [min, max]; no sign, no blanks. */
static bool parse_long_in(const char *s, int base, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtol(s, &end, base);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool is_number(const char *s, int base)
{
	long ignored;

	return parse_long_in(s, base, 0, LONG_MAX, &ignored);
}

/* Cut the first comma-separated token off *rest (NULL when none left). */
static char *take_token(char **rest)
{
	return strsep(rest, ",");
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int set_value(int opt, const char *key, const char *value)
{
	return set_config_value(key, value) == 0 ? 0 : opt_config_error(opt);
}

__attribute__((format(printf, 3, 4)))
static int set_valuef(int opt, const char *value, const char *keyfmt, ...)
{
	char key[128];
	va_list ap;

	va_start(ap, keyfmt);
	vsnprintf(key, sizeof(key), keyfmt, ap);
	va_end(ap);
	return set_value(opt, key, value);
}

static int set_node_value(int opt, struct cfg_node *node, const char *key, const char *value)
{
	return set_config_value_node(node, key, value) == 0 ? 0 : opt_config_error(opt);
}

/*
 * bhyve's generic legacy option list: "name[=value],..."; a bare name means
 * true.  Empty items (",,", a trailing comma) are skipped.
 */
static int parse_generic_options(int opt, struct cfg_node *node, char *opts)
{
	char *tok, *eq;

	while ((tok = take_token(&opts)) != NULL) {
		if (*tok == '\0')
			continue;
		eq = strchr(tok, '=');
		if (eq != NULL)
			*eq++ = '\0';
		/* "device" selects the emulation: only the emulation name sets it. */
		if (opt == 's' && strcmp(tok, "device") == 0)
			return opt_error(opt, "'%s': 'device' cannot be set in device options",
			    current_arg);
		if (set_node_value(opt, node, tok, eq != NULL ? eq : "true") != 0)
			return -1;
	}
	return 0;
}

/* ---- -c: CPU topology ---------------------------------------------------- */

enum { TOPO_CPUS, TOPO_SOCKETS, TOPO_CORES, TOPO_THREADS, TOPO_NKEYS };
static const char *const topology_keys[TOPO_NKEYS] = { "cpus", "sockets", "cores", "threads" };
static const char *const topology_nouns[TOPO_NKEYS] = {
	"CPU count", "socket count", "core count", "thread count"
};

static int topology_key_index(const char *key)
{
	int i;

	for (i = 0; i < TOPO_NKEYS; i++)
		if (strcmp(key, topology_keys[i]) == 0)
			return i;
	return -1;
}

/* bhyve reads these with strtol(..., 0): "0x4" is 4. */
static bool parse_cpu_count(const char *s, long *out)
{
	return parse_long_in(s, 0, 1, KHYVE_MAX_VCPUS, out);
}

static bool all_digits(const char *s)
{
	return *s != '\0' && s[strspn(s, "0123456789")] == '\0';
}

static void describe_bad_count(char *buf, size_t len, const char *value, int key)
{
	if (all_digits(value) || is_number(value, 0))
		snprintf(buf, len, "'%s' is not a valid %s (1-%d)", value, topology_nouns[key],
		    KHYVE_MAX_VCPUS);
	else
		snprintf(buf, len, "'%s' is not a valid %s", value, topology_nouns[key]);
}

/* cpus/sockets/cores/threads as set (range-checked), 1 for those not set. */
static int read_topology_values(long v[], bool given[], char *why, size_t whylen)
{
	char bad[160];
	int i;

	for (i = 0; i < TOPO_NKEYS; i++) {
		const char *s;

		if (config_get_expanded(topology_keys[i], &s) != 0) {
			snprintf(why, whylen, "%s", config_last_error());
			return -1;
		}
		given[i] = s != NULL;
		v[i] = 1;
		if (s != NULL && !parse_cpu_count(s, &v[i])) {
			describe_bad_count(bad, sizeof(bad), s, i);
			snprintf(why, whylen, "%s: %s", topology_keys[i], bad);
			return -1;
		}
	}
	return 0;
}

/*
 * Without a socket count bhyve makes every vCPU a socket, so it rejects
 * "-c 4,cores=2" (4 sockets x 2 cores != 4).  khyve instead takes
 * sockets = cpus / (cores * threads): the same answer as bhyve whenever
 * bhyve accepts the topology (cores * threads = 1), and the documented
 * meaning (bhyve(8): the product rule) where bhyve gives up.
 */
static int infer_sockets(long v[], bool cpus_given, char *why, size_t whylen)
{
	long per_socket = v[TOPO_CORES] * v[TOPO_THREADS];

	if (!cpus_given) {
		v[TOPO_SOCKETS] = 1;
		return 0;
	}
	if (v[TOPO_CPUS] % per_socket != 0) {
		snprintf(why, whylen, "%ld vCPUs do not divide into sockets of %ld cores x %ld "
		    "threads", v[TOPO_CPUS], v[TOPO_CORES], v[TOPO_THREADS]);
		return -1;
	}
	v[TOPO_SOCKETS] = v[TOPO_CPUS] / per_socket;
	return 0;
}

int khyve_config_topology(struct khyve_topology *topo, char *why, size_t whylen)
{
	long v[TOPO_NKEYS], product;
	bool given[TOPO_NKEYS];

	if (read_topology_values(v, given, why, whylen) != 0)
		return -1;
	if (!given[TOPO_SOCKETS] && infer_sockets(v, given[TOPO_CPUS], why, whylen) != 0)
		return -1;
	product = v[TOPO_SOCKETS] * v[TOPO_CORES] * v[TOPO_THREADS];
	if (product > KHYVE_MAX_VCPUS) {
		snprintf(why, whylen, "%ld sockets x %ld cores x %ld threads = %ld vCPUs, more than "
		    "the maximum of %d", v[TOPO_SOCKETS], v[TOPO_CORES], v[TOPO_THREADS], product,
		    KHYVE_MAX_VCPUS);
		return -1;
	}
	if (given[TOPO_CPUS] && product != v[TOPO_CPUS]) {
		snprintf(why, whylen, "%ld sockets x %ld cores x %ld threads = %ld vCPUs, but cpus "
		    "is %ld", v[TOPO_SOCKETS], v[TOPO_CORES], v[TOPO_THREADS], product, v[TOPO_CPUS]);
		return -1;
	}
	topo->cpus = (int)product;
	topo->sockets = (int)v[TOPO_SOCKETS];
	topo->cores = (int)v[TOPO_CORES];
	topo->threads = (int)v[TOPO_THREADS];
	return 0;
}

/* One "[key=]n" item of -c into values[]. */
static int parse_topology_item(const char *arg, char *item, const char *values[])
{
	char *eq = strchr(item, '=');
	const char *key = "cpus", *num = item;
	char bad[160];
	long ignored;
	int i;

	if (*item == '\0')
		return opt_error('c', "'%s' has an empty item", arg);
	if (eq != NULL) {
		*eq = '\0';
		key = item;
		num = eq + 1;
	}
	i = topology_key_index(key);
	if (i < 0)
		return opt_error('c', "'%s' is not a topology setting (cpus, sockets, cores, threads)",
		    key);
	if (!parse_cpu_count(num, &ignored)) {
		describe_bad_count(bad, sizeof(bad), num, i);
		return opt_error('c', "%s", bad);
	}
	values[i] = num;
	return 0;
}

static int parse_topology_option(const char *arg)
{
	const char *values[TOPO_NKEYS] = { NULL };
	struct khyve_topology topo;
	char *copy, *rest, *item, why[256];
	int i, rc = 0;

	/* bhyve: -c "" is the documented way to ask for 1 vCPU. */
	if (*arg == '\0')
		for (i = 0; i < TOPO_NKEYS; i++)
			values[i] = "1";
	copy = rest = xstrdup(arg);
	while (rc == 0 && *arg != '\0' && (item = take_token(&rest)) != NULL)
		rc = parse_topology_item(arg, item, values);
	for (i = 0; rc == 0 && i < TOPO_NKEYS; i++)
		if (values[i] != NULL)
			rc = set_value('c', topology_keys[i], values[i]);
	if (rc == 0 && khyve_config_topology(&topo, why, sizeof(why)) != 0)
		rc = opt_error('c', "'%s': inconsistent topology: %s", arg, why);
	free(copy);
	return rc;
}

/* ---- -p, -m, -G, -U, -K, -r ---------------------------------------------- */

/* -p vcpu:hostcpu appends hostcpu to vcpu.N.cpuset, as bhyve does. */
static int parse_pin_option(const char *arg)
{
	const char *colon = strchr(arg, ':'), *old;
	char vcpu_str[32], key[48], *joined;
	long vcpu, host;
	int rc;

	if (colon == NULL || (size_t)(colon - arg) >= sizeof(vcpu_str))
		return opt_error('p', "'%s' is not of the form vcpu:hostcpu", arg);
	memcpy(vcpu_str, arg, (size_t)(colon - arg));
	vcpu_str[colon - arg] = '\0';
	if (!parse_long_in(vcpu_str, 10, 0, KHYVE_MAX_VCPUS - 1, &vcpu))
		return opt_error('p', "'%s' is not a valid vCPU number (0-%d)", vcpu_str,
		    KHYVE_MAX_VCPUS - 1);
	if (!parse_long_in(colon + 1, 10, 0, CPU_SETSIZE - 1, &host))
		return opt_error('p', "'%s' is not a valid host CPU number (0-%d)", colon + 1,
		    CPU_SETSIZE - 1);
	snprintf(key, sizeof(key), "vcpu.%ld.cpuset", vcpu);
	old = get_config_value_raw(key);
	if (asprintf(&joined, "%s%s%ld", old != NULL ? old : "", old != NULL ? "," : "", host) < 0)
		return opt_error('p', "out of memory");
	rc = set_value('p', key, joined);
	free(joined);
	return rc;
}

static int parse_memory_option(const char *arg)
{
	uint64_t bytes;

	if (config_parse_memsize(arg, &bytes) != 0 || bytes == 0)
		return opt_error('m', "'%s' is not a valid memory size", arg);
	return set_value('m', "memory.size", arg);
}

/* -G [w][address:]port; the address is everything before the last ':'. */
static int parse_gdb_option(const char *arg)
{
	const char *p = arg, *colon, *port;
	bool wait = false;
	char *address;
	long ignored;
	int rc;

	if (*p == 'w') {
		wait = true;
		p++;
	}
	colon = strrchr(p, ':');
	port = colon != NULL ? colon + 1 : p;
	if (!parse_long_in(port, 10, 1, 65535, &ignored))
		return opt_error('G', "'%s' is not a valid TCP port (1-65535)", port);
	if (colon == p)
		return opt_error('G', "'%s' has an empty bind address", arg);
	rc = set_value('G', "gdb.port", port);
	if (rc == 0 && colon != NULL) {
		address = xstrndup(p, (size_t)(colon - p));
		rc = set_value('G', "gdb.address", address);
		free(address);
	}
	if (rc == 0 && wait)
		rc = set_value('G', "gdb.wait", "true");
	return rc;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

int khyve_parse_uuid(const char *text, uint8_t out[16])
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	const char *p = text;
	int n = 0;

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		if (g != 0 && *p++ != '-')
			return -1;
		for (int i = 0; i < groups[g]; i++, p++, n++) {
			int v = hex_digit(*p);

			if (v < 0)
				return -1;
			out[n / 2] = (uint8_t)(n % 2 ? out[n / 2] | v : v << 4);
		}
	}
	return *p == '\0' ? 0 : -1;
}

bool khyve_valid_uuid(const char *uuid)
{
	uint8_t bytes[16];

	return khyve_parse_uuid(uuid, bytes) == 0;
}

static int parse_uuid_option(const char *arg)
{
	if (!khyve_valid_uuid(arg))
		return opt_error('U', "'%s' is not a valid UUID (8-4-4-4-12 hex digits)", arg);
	return set_value('U', "uuid", arg);
}

static int set_nonempty(int opt, const char *key, const char *arg, const char *what)
{
	if (*arg == '\0')
		return opt_error(opt, "'' is not a valid %s", what);
	return set_value(opt, key, arg);
}

/* ---- -f: fw_cfg files ---------------------------------------------------- */

/*
 * -f [name=]NAME,string=DATA | -f [name=]NAME,file=PATH
 *
 * Keys: fwcfg.user.<N>.name = NAME plus fwcfg.user.<N>.string = DATA or
 * fwcfg.user.<N>.file = PATH, N = 0, 1, ... in order.  The fw_cfg name is a
 * value rather than part of the key because fw_cfg names routinely contain
 * dots ("opt/org.example/x") that would split a key.  The file is read when
 * the device is set up, not here; a string is passed without its NUL.
 */
static int find_fwcfg_user_file(const char *name, int *free_index)
{
	char key[48];
	int i;

	for (i = 0;; i++) {
		const char *existing;

		snprintf(key, sizeof(key), "fwcfg.user.%d", i);
		if (find_config_node(key) == NULL) {
			*free_index = i;
			return -1;
		}
		snprintf(key, sizeof(key), "fwcfg.user.%d.name", i);
		existing = get_config_value_raw(key);
		if (existing != NULL && strcmp(existing, name) == 0)
			return i;
	}
}

static int parse_fwcfg_file_option(const char *arg)
{
	const char *name = arg, *comma, *kind, *data;
	char *name_copy;
	int index, rc;

	if (starts_with(name, "name="))
		name += strlen("name=");
	comma = strchr(name, ',');
	if (comma == NULL || comma == name)
		return opt_error('f', "'%s' is not of the form name,string=DATA or name,file=PATH",
		    arg);
	if (comma - name >= FWCFG_MAX_NAME)
		return opt_error('f', "'%.*s' is longer than %d characters", (int)(comma - name),
		    name, FWCFG_MAX_NAME - 1);
	if (starts_with(comma + 1, "string=")) {
		kind = "string";
	} else if (starts_with(comma + 1, "file=") && comma[sizeof("file=")] != '\0') {
		kind = "file";
	} else {
		return opt_error('f', "'%s' is not of the form name,string=DATA or name,file=PATH",
		    arg);
	}
	data = strchr(comma, '=') + 1;
	name_copy = xstrndup(name, (size_t)(comma - name));
	if (find_fwcfg_user_file(name_copy, &index) >= 0) {
		rc = opt_error('f', "'%s' is already defined", name_copy);
	} else {
		rc = set_valuef('f', name_copy, "fwcfg.user.%d.name", index);
		if (rc == 0)
			rc = set_valuef('f', data, "fwcfg.user.%d.%s", index, kind);
	}
	free(name_copy);
	return rc;
}

/* ---- -n: NUMA domains ---------------------------------------------------- */

/* A host/guest CPU range "N" or "N-M". */
static bool valid_cpu_range(const char *s)
{
	const char *dash = strchr(s, '-');
	char first[16];
	long lo, hi;

	if (dash == NULL)
		return parse_long_in(s, 10, 0, KHYVE_MAX_VCPUS - 1, &lo);
	if ((size_t)(dash - s) >= sizeof(first))
		return false;
	memcpy(first, s, (size_t)(dash - s));
	first[dash - s] = '\0';
	return parse_long_in(first, 10, 0, KHYVE_MAX_VCPUS - 1, &lo) &&
	    parse_long_in(dash + 1, 10, 0, KHYVE_MAX_VCPUS - 1, &hi) && lo <= hi;
}

static int set_numa_domain(long id, const char *size, const char *cpus, const char *policy)
{
	int rc = set_valuef('n', size, "numa.%ld.size", id);

	if (rc == 0)
		rc = set_valuef('n', cpus, "numa.%ld.cpus", id);
	if (rc == 0 && policy != NULL)
		rc = set_valuef('n', policy, "numa.%ld.policy", id);
	return rc;
}

/* -n id,size,cpus[,domain_policy] -> numa.<id>.size/cpus/policy */
static int parse_numa_option(const char *arg)
{
	char *copy = xstrdup(arg), *rest = copy, *field[5] = { NULL };
	uint64_t bytes;
	int n = 0, rc;
	long id;

	while (n < 5 && (field[n] = take_token(&rest)) != NULL)
		n++;
	if (n < 3 || n > 4 || (n == 4 && *field[3] == '\0'))
		rc = opt_error('n', "'%s' is not of the form id,size,cpus[,domain_policy]", arg);
	else if (!parse_long_in(field[0], 10, 0, NUMA_MAX_DOMAINS - 1, &id))
		rc = opt_error('n', "'%s' is not a valid NUMA domain id (0-%d)", field[0],
		    NUMA_MAX_DOMAINS - 1);
	else if (config_parse_memsize(field[1], &bytes) != 0 || bytes == 0)
		rc = opt_error('n', "'%s' is not a valid memory size", field[1]);
	else if (!valid_cpu_range(field[2]))
		rc = opt_error('n', "'%s' is not a valid CPU range (N or N-M, 0-%d)", field[2],
		    KHYVE_MAX_VCPUS - 1);
	else
		rc = set_numa_domain(id, field[1], field[2], n == 4 ? field[3] : NULL);
	free(copy);
	return rc;
}

/* ---- -s: legacy device strings, as each bhyve device's pe_legacy_config ---- */

static int convert_generic(struct cfg_node *dev, char *conf)
{
	return parse_generic_options('s', dev, conf);
}

/* bhyve's blockif_legacy_config: the first item is the path, whatever it looks like. */
static int convert_block(struct cfg_node *dev, char *conf)
{
	char *path = take_token(&conf);

	if (path != NULL && *path != '\0' && set_node_value('s', dev, "path", path) != 0)
		return -1;
	return parse_generic_options('s', dev, conf);
}

/* bhyve's netbe_legacy_config, plus the type it would infer at start-up. */
static int convert_net(struct cfg_node *dev, char *conf)
{
	char *backend = take_token(&conf);
	const char *type;

	if (backend == NULL || *backend == '\0')
		return parse_generic_options('s', dev, conf); /* unconnected NIC */
	if (set_node_value('s', dev, "backend", backend) != 0 ||
	    parse_generic_options('s', dev, conf) != 0)
		return -1;
	if (get_config_value_node_raw(dev, "type") != NULL)
		return 0;
	type = netbe_infer_type(backend);
	if (type == NULL)
		return opt_error('s', "'%s' is not a known network backend "
		    "(tapN, vmnetN, netgraph, netmap:IF, valeX:P, slirp; or give type=)", backend);
	return set_node_value('s', dev, "type", type);
}

static int convert_nvme(struct cfg_node *dev, char *conf)
{
	char *ram;

	if (conf == NULL || !starts_with(conf, "ram="))
		return convert_block(dev, conf);
	ram = take_token(&conf) + strlen("ram=");
	if (!is_number(ram, 0))
		return opt_error('s', "'%s' is not a valid RAM disk size in MiB", ram);
	if (set_node_value('s', dev, "ram", ram) != 0)
		return -1;
	return parse_generic_options('s', dev, conf);
}

/* Move *str past an "hd:"/"cd:" port type prefix and return the type. */
static const char *take_ahci_port_type(char **str)
{
	if (starts_with(*str, "hd:") || starts_with(*str, "cd:")) {
		const char *type = starts_with(*str, "hd:") ? "hd" : "cd";

		*str += 3;
		return type;
	}
	return NULL;
}

/* Split off the next ",hd:" / ",cd:" port; returns it or NULL. */
static char *split_next_ahci_port(char *str)
{
	char *hd = strstr(str, ",hd:"), *cd = strstr(str, ",cd:");
	char *next = hd == NULL || (cd != NULL && cd < hd) ? cd : hd;

	if (next == NULL)
		return NULL;
	*next = '\0';
	return next + 1;
}

static int convert_ahci_port(struct cfg_node *dev, int port, const char *type, char *conf)
{
	char name[16];
	struct cfg_node *node;

	snprintf(name, sizeof(name), "port.%d", port);
	node = create_relative_config_node(dev, name);
	if (node == NULL)
		return opt_config_error('s');
	if (set_node_value('s', node, "type", type) != 0)
		return -1;
	return convert_block(node, conf);
}

/* bhyve's pci_ahci_legacy_config: "hd:path[,opts],cd:path[,opts],..." one port each. */
static int convert_ahci(struct cfg_node *dev, char *conf)
{
	char *str, *next;
	int port;

	for (port = 0, str = conf; str != NULL; port++, str = next) {
		const char *type = take_ahci_port_type(&str);

		next = split_next_ahci_port(str);
		if (*str == '\0')
			continue; /* bhyve skips an empty port but still counts it */
		if (type == NULL)
			return opt_error('s', "'%s' needs an hd: or cd: prefix", str);
		if (port >= AHCI_MAX_PORTS)
			return opt_error('s', "'%s': more than %d AHCI ports", current_arg,
			    AHCI_MAX_PORTS);
		if (convert_ahci_port(dev, port, type, str) != 0)
			return -1;
	}
	return 0;
}

static int convert_ahci_hd(struct cfg_node *dev, char *conf)
{
	return convert_ahci_port(dev, 0, "hd", conf);
}

static int convert_ahci_cd(struct cfg_node *dev, char *conf)
{
	return convert_ahci_port(dev, 0, "cd", conf);
}

static int convert_amd_hostbridge(struct cfg_node *dev, char *conf)
{
	if (set_node_value('s', dev, "pcireg.vendor", "0x1022") != 0 ||
	    set_node_value('s', dev, "pcireg.device", "0x7432") != 0)
		return -1;
	return parse_generic_options('s', dev, conf);
}

/* bhyve's pci_vtscsi_legacy_config: the first item is the CTL device. */
static int convert_virtio_scsi(struct cfg_node *dev, char *conf)
{
	char *ctl = take_token(&conf);

	if (ctl != NULL && *ctl != '\0' && set_node_value('s', dev, "dev", ctl) != 0)
		return -1;
	return parse_generic_options('s', dev, conf);
}

/* bhyve's pci_vt9p_legacy_config: "sharename=/path" plus bare flags (ro). */
static int convert_virtio_9p(struct cfg_node *dev, char *conf)
{
	bool have_share = false;
	char *tok, *eq;

	while ((tok = take_token(&conf)) != NULL) {
		if (*tok == '\0')
			continue;
		eq = strchr(tok, '=');
		if (eq == NULL) {
			if (set_node_value('s', dev, tok, "true") != 0)
				return -1;
			continue;
		}
		if (have_share)
			return opt_error('s', "'%s': more than one share given", tok);
		*eq = '\0';
		have_share = true;
		if (set_node_value('s', dev, "sharename", tok) != 0 ||
		    set_node_value('s', dev, "path", eq + 1) != 0)
			return -1;
	}
	return 0;
}

/* bhyve's pci_vtcon_legacy_config: "name=/sock,..." -> port.<i>.name/path. */
static int convert_virtio_console(struct cfg_node *dev, char *conf)
{
	char *tok, *eq, key[32];
	int port = 0;

	while ((tok = take_token(&conf)) != NULL) {
		if (*tok == '\0')
			continue;
		eq = strchr(tok, '=');
		if (eq == NULL || eq == tok || eq[1] == '\0')
			return opt_error('s', "'%s' is not of the form name=/path/to/socket", tok);
		if (port == VTCON_MAX_PORTS)
			return opt_error('s', "'%s': more than %d console ports", current_arg,
			    VTCON_MAX_PORTS);
		*eq = '\0';
		snprintf(key, sizeof(key), "port.%d.name", port);
		if (set_node_value('s', dev, key, tok) != 0)
			return -1;
		snprintf(key, sizeof(key), "port.%d.path", port);
		if (set_node_value('s', dev, key, eq + 1) != 0)
			return -1;
		port++;
	}
	return 0;
}

static int convert_virtio_input(struct cfg_node *dev, char *conf)
{
	if (conf == NULL || *conf == '\0' || *conf == ',')
		return opt_error('s', "'%s': virtio-input needs an event device "
		    "(/dev/input/eventN)", current_arg);
	return convert_block(dev, conf); /* same shape: path first, then options */
}

/* bhyve's pci_uart: the whole string is the backend (it may hold commas). */
static int convert_uart(struct cfg_node *dev, char *conf)
{
	if (conf == NULL || *conf == '\0')
		return 0;
	return set_node_value('s', dev, "path", conf);
}

/* Host device: "pptN", "bus/slot/func" or "pciB:S:F". */
static bool parse_host_pci_selector(const char *s, long sel[3])
{
	static const long max[3] = { PCI_BUS_MAX, PCI_SLOT_MAX, PCI_FUNC_MAX };
	char buf[32], *rest = buf, *part;
	const char *sep = "/";
	int i;

	if (starts_with(s, "pci")) {
		s += 3;
		sep = ":";
	}
	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	for (i = 0; i < 3; i++) {
		part = strsep(&rest, sep);
		if (part == NULL || !parse_long_in(part, 10, 0, max[i], &sel[i]))
			return false;
	}
	return rest == NULL;
}

static int convert_passthru(struct cfg_node *dev, char *conf)
{
	static const char *const names[3] = { "bus", "slot", "func" };
	char *host = take_token(&conf), num[8];
	long sel[3];
	int i;

	if (host == NULL)
		return 0;
	if (starts_with(host, "ppt") && host[3] != '\0') {
		if (set_node_value('s', dev, "pptdev", host) != 0)
			return -1;
	} else if (parse_host_pci_selector(host, sel)) {
		for (i = 0; i < 3; i++) {
			snprintf(num, sizeof(num), "%ld", sel[i]);
			if (set_node_value('s', dev, names[i], num) != 0)
				return -1;
		}
	} else {
		return opt_error('s', "'%s' is not a host PCI device (pptN, bus/slot/func or "
		    "pciB:S:F)", host);
	}
	return parse_generic_options('s', dev, conf);
}

/* bhyve's pci_xhci_legacy_config: "dev[=opt],..." -> slot.<n>.device, n from 1. */
static int convert_xhci(struct cfg_node *dev, char *conf)
{
	char *tok, *opt, name[16];
	struct cfg_node *slot_node;
	int slot = 1;

	while ((tok = take_token(&conf)) != NULL) {
		if (*tok == '\0')
			continue;
		opt = strchr(tok, '=');
		if (opt != NULL)
			*opt++ = '\0';
		if (strcmp(tok, "tablet") != 0)
			return opt_error('s', "'%s' is not a known USB device (tablet)", tok);
		snprintf(name, sizeof(name), "slot.%d", slot++);
		slot_node = create_relative_config_node(dev, name);
		if (slot_node == NULL || set_config_value_node(slot_node, "device", tok) != 0)
			return opt_config_error('s');
		if (opt != NULL && parse_generic_options('s', slot_node, opt) != 0)
			return -1;
	}
	return 0;
}

/*
 * Every emulation -s accepts, in "-s help" order.  device is the value
 * written to pci.B.S.F.device when it differs from the name (bhyve's
 * pe_alias); convert turns the legacy conf string into keys.
 */
static const struct pci_emulation {
	const char *name;
	const char *device;
	int (*convert)(struct cfg_node *dev, char *conf);
} pci_emulations[] = {
	{ "hostbridge", NULL, convert_generic },
	{ "amd_hostbridge", "hostbridge", convert_amd_hostbridge },
	{ "lpc", NULL, convert_generic },
	{ "virtio-net", NULL, convert_net },
	{ "virtio-blk", NULL, convert_block },
	{ "virtio-rnd", NULL, convert_generic },
	{ "virtio-scsi", NULL, convert_virtio_scsi },
	{ "virtio-9p", NULL, convert_virtio_9p },
	{ "virtio-console", NULL, convert_virtio_console },
	{ "virtio-input", NULL, convert_virtio_input },
	{ "ahci", NULL, convert_ahci },
	{ "ahci-hd", "ahci", convert_ahci_hd },
	{ "ahci-cd", "ahci", convert_ahci_cd },
	{ "nvme", NULL, convert_nvme },
	{ "e1000", NULL, convert_net },
	{ "uart", NULL, convert_uart },
	{ "passthru", NULL, convert_passthru },
	{ "fbuf", NULL, convert_generic },
	{ "xhci", NULL, convert_xhci },
	{ "hda", NULL, convert_generic },
};

#define N_PCI_EMULATIONS (sizeof(pci_emulations) / sizeof(pci_emulations[0]))

static const struct pci_emulation *find_pci_emulation(const char *name)
{
	size_t i;

	for (i = 0; i < N_PCI_EMULATIONS; i++)
		if (strcmp(pci_emulations[i].name, name) == 0)
			return &pci_emulations[i];
	return NULL;
}

void khyve_list_pci_emulations(FILE *fp)
{
	size_t i;

	for (i = 0; i < N_PCI_EMULATIONS; i++)
		fprintf(fp, "%s\n", pci_emulations[i].name);
}

/* "slot", "slot:func" or "bus:slot:func", each a decimal number in range. */
static int parse_pci_address(char *s, long *bus, long *slot, long *func)
{
	char *part[4] = { NULL }, *rest = s;
	int n = 0;

	while (n < 4 && (part[n] = strsep(&rest, ":")) != NULL)
		n++;
	if (n > 3 || *s == '\0')
		return opt_error('s', "'%s' is not a PCI slot (slot, slot:func or bus:slot:func)",
		    current_arg);
	*bus = 0;
	*func = 0;
	if (n == 3 && !parse_long_in(part[0], 10, 0, PCI_BUS_MAX, bus))
		return opt_error('s', "'%s' is not a valid PCI bus number (0-%d)", part[0],
		    PCI_BUS_MAX);
	if (!parse_long_in(part[n == 3], 10, 0, PCI_SLOT_MAX, slot))
		return opt_error('s', "'%s' is not a valid PCI slot number (0-%d)", part[n == 3],
		    PCI_SLOT_MAX);
	if (n > 1 && !parse_long_in(part[n - 1], 10, 0, PCI_FUNC_MAX, func))
		return opt_error('s', "'%s' is not a valid PCI function number (0-%d)",
		    part[n - 1], PCI_FUNC_MAX);
	return 0;
}

/* config_foreach callbacks: stop (1) at a pci.B.S.F node whose device is "lpc". */
static int is_lpc_function(const char *func, struct cfg_node *node, const char *value, void *arg)
{
	const char *device;

	if (node == NULL)
		return 0;
	device = get_config_value_node_raw(node, "device");
	return device != NULL && strcmp(device, "lpc") == 0;
}

static int slot_has_lpc(const char *slot, struct cfg_node *node, const char *value, void *arg)
{
	return node != NULL ? config_foreach(node, is_lpc_function, NULL) : 0;
}

static int bus_has_lpc(const char *bus, struct cfg_node *node, const char *value, void *arg)
{
	return node != NULL ? config_foreach(node, slot_has_lpc, NULL) : 0;
}

static bool lpc_already_configured(void)
{
	struct cfg_node *pci = find_config_node("pci");

	return pci != NULL && config_foreach(pci, bus_has_lpc, NULL) != 0;
}

static int check_lpc_placement(long bus)
{
	if (bus != 0)
		return opt_error('s', "'%s': the lpc bridge must be on bus 0", current_arg);
	if (lpc_already_configured())
		return opt_error('s', "'%s': only one lpc bridge is allowed", current_arg);
	return 0;
}

static int add_pci_device(long bus, long slot, long func, const struct pci_emulation *emu,
    char *conf)
{
	char path[32];
	struct cfg_node *dev;

	snprintf(path, sizeof(path), "pci.%ld.%ld.%ld", bus, slot, func);
	if (find_config_node(path) != NULL)
		return opt_error('s', "'%ld:%ld:%ld' is already occupied", bus, slot, func);
	dev = create_config_node(path);
	if (dev == NULL)
		return opt_config_error('s');
	if (set_node_value('s', dev, "device", emu->device != NULL ? emu->device : emu->name) != 0)
		return -1;
	return emu->convert(dev, conf);
}

/* Split "address,emulation[,conf]" (a writable copy of arg) and add the device. */
static int add_slot(const char *arg, char *conf)
{
	char *address = take_token(&conf), *name = take_token(&conf);
	const struct pci_emulation *emu;
	long bus, slot, func;

	if (name == NULL || *name == '\0')
		return opt_error('s', "'%s' is not of the form slot,emulation[,conf]", arg);
	if (parse_pci_address(address, &bus, &slot, &func) != 0)
		return -1;
	emu = find_pci_emulation(name);
	if (emu == NULL)
		return opt_error('s', "'%s' is not a known PCI emulation (see -s help)", name);
	if (strcmp(emu->name, "lpc") == 0 && check_lpc_placement(bus) != 0)
		return -1;
	return add_pci_device(bus, slot, func, emu, conf);
}

/* -s [bus:]slot[:func],emulation[,conf] */
static int parse_slot_option(const char *arg)
{
	char *copy = xstrdup(arg);
	int rc = add_slot(arg, copy);

	free(copy);
	return rc;
}

/* ---- -l: LPC devices ----------------------------------------------------- */

static struct cfg_node *lpc_node(const char *below)
{
	struct cfg_node *node = create_config_node(below);

	if (node == NULL)
		opt_config_error('l');
	return node;
}

static int lpc_com(const char *dev, char *conf)
{
	char key[32];
	size_t i;

	if (conf == NULL || *conf == '\0')
		return opt_error('l', "'%s' needs a backend (stdio, a device path or tcp=ip:port)",
		    dev);
	/* bhyve matches the name in any case but always writes lower case. */
	snprintf(key, sizeof(key), "lpc.%s.path", dev);
	for (i = 0; key[i] != '\0'; i++)
		key[i] = (char)tolower((unsigned char)key[i]);
	return set_value('l', key, conf);
}

/* bootrom,romfile[,varfile][,opts]: a second item holding '=' is an option, not a file. */
static int lpc_bootrom(const char *dev, char *conf)
{
	char *rom = take_token(&conf), *vars;
	struct cfg_node *lpc;

	if (rom == NULL || *rom == '\0')
		return opt_error('l', "'%s' needs a ROM file", dev);
	if (set_value('l', "lpc.bootrom", rom) != 0 || (lpc = lpc_node("lpc")) == NULL)
		return -1;
	vars = take_token(&conf);
	if (vars != NULL && *vars != '\0' && strchr(vars, '=') == NULL) {
		if (set_value('l', "lpc.bootvars", vars) != 0)
			return -1;
	} else if (vars != NULL && parse_generic_options('l', lpc, vars) != 0) {
		return -1;
	}
	return parse_generic_options('l', lpc, conf);
}

static int lpc_fwcfg(const char *dev, char *conf)
{
	if (conf == NULL || (strcmp(conf, "bhyve") != 0 && strcmp(conf, "qemu") != 0))
		return opt_error('l', "'%s' is not a fwcfg type (bhyve, qemu)",
		    conf != NULL ? conf : "");
	return set_value('l', "lpc.fwcfg", conf);
}

/* tpm,type,path[,version=V]; bhyve keeps these at top-level tpm.*, khyve under lpc. */
static int lpc_tpm(const char *dev, char *conf)
{
	char *type = take_token(&conf), *path = take_token(&conf);
	struct cfg_node *tpm;

	if (type == NULL || (strcmp(type, "passthru") != 0 && strcmp(type, "swtpm") != 0))
		return opt_error('l', "'%s' is not a TPM type (passthru, swtpm)",
		    type != NULL ? type : "");
	if (path == NULL || *path == '\0')
		return opt_error('l', "'%s' needs a device or socket path", current_arg);
	if ((tpm = lpc_node("lpc.tpm")) == NULL || set_node_value('l', tpm, "type", type) != 0 ||
	    set_node_value('l', tpm, "path", path) != 0)
		return -1;
	return parse_generic_options('l', tpm, conf);
}

static int lpc_pc_testdev(const char *dev, char *conf)
{
	if (conf != NULL)
		return opt_error('l', "'%s' takes no options", current_arg);
	return set_value('l', "lpc.pc-testdev", "true");
}

static const struct lpc_device {
	const char *name;
	int (*parse)(const char *dev, char *conf);
} lpc_devices[] = {
	{ "bootrom", lpc_bootrom },
	{ "com1", lpc_com },
	{ "com2", lpc_com },
	{ "com3", lpc_com },
	{ "com4", lpc_com },
	{ "fwcfg", lpc_fwcfg },
	{ "tpm", lpc_tpm },
	{ "pc-testdev", lpc_pc_testdev },
};

void khyve_list_lpc_devices(FILE *fp)
{
	size_t i;

	for (i = 0; i < sizeof(lpc_devices) / sizeof(lpc_devices[0]); i++)
		fprintf(fp, "%s\n", lpc_devices[i].name);
}

/* -l lpcdev[,conf] */
static int parse_lpc_option(const char *arg)
{
	char *copy = xstrdup(arg), *conf = copy, *dev = take_token(&conf);
	int rc = -1;
	size_t i;

	for (i = 0; i < sizeof(lpc_devices) / sizeof(lpc_devices[0]); i++)
		if (strcasecmp(dev, lpc_devices[i].name) == 0)
			break;
	if (i == sizeof(lpc_devices) / sizeof(lpc_devices[0]))
		opt_error('l', "'%s' is not a known LPC device (see -l help)", dev);
	else
		rc = lpc_devices[i].parse(dev, conf);
	free(copy);
	return rc;
}

/* ---- flags --------------------------------------------------------------- */

/* Options without an argument: each sets one boolean (key NULL: accepted, no effect). */
static const struct flag_option {
	char opt;
	const char *key;
	bool value;
} flag_options[] = {
	{ 'a', "x86.x2apic", false },
	{ 'A', "acpi_tables", true },
	{ 'C', "memory.guest_in_core", true },
	{ 'D', "destroy_on_poweroff", true },
	{ 'e', "x86.strictio", true },
	{ 'H', "x86.vmexit_on_hlt", true },
	{ 'I', NULL, false }, /* bhyve: the I/O APIC is always there now */
	{ 'P', "x86.vmexit_on_pause", true },
	{ 'S', "memory.wired", true },
	{ 'u', "rtc.use_localtime", false },
	{ 'W', "virtio_msix", false },
	{ 'w', "x86.strictmsr", false },
	{ 'x', "x86.x2apic", true },
	{ 'Y', "x86.mptable", false },
};

static const struct flag_option *find_flag(int opt)
{
	size_t i;

	for (i = 0; i < sizeof(flag_options) / sizeof(flag_options[0]); i++)
		if (flag_options[i].opt == opt)
			return &flag_options[i];
	return NULL;
}

/* ---- final checks -------------------------------------------------------- */

bool khyve_valid_vm_name(const char *name)
{
	size_t len = strlen(name), i;

	if (len == 0 || len > VM_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)name[i]) && strchr("._-", name[i]) == NULL)
			return false;
	return true;
}

#define VM_NAME_RULE "1-64 characters of A-Z a-z 0-9 . _ -, not starting with . or -"

/* Global booleans, checked now so that a typo fails before anything starts. */
static const char *const global_bools[] = {
	"acpi_tables", "config.dump", "destroy_on_poweroff", "gdb.wait",
	"memory.guest_in_core", "memory.wired", "rtc.use_localtime", "virtio_msix",
	"x86.coalesced_io", "x86.mptable", "x86.strictio", "x86.strictmsr",
	"x86.vmexit_on_hlt", "x86.vmexit_on_pause", "x86.x2apic",
};

static int validate_bools(void)
{
	size_t i;
	bool b;

	for (i = 0; i < sizeof(global_bools) / sizeof(global_bools[0]); i++) {
		const char *v = get_config_value(global_bools[i]);

		if (v != NULL && config_parse_bool(v, &b) != 0) {
			fprintf(stderr, "khyve: config: %s: '%s' is not a boolean\n",
			    global_bools[i], v);
			return -1;
		}
	}
	return 0;
}

static int validate_name(void)
{
	const char *name = get_config_value("name");

	if (name == NULL) {
		if (get_config_bool_default("config.dump", false))
			return 0;
		fprintf(stderr, "khyve: missing VM name\n");
		return -1;
	}
	if (!khyve_valid_vm_name(name)) {
		fprintf(stderr, "khyve: config: name: '%s' is not a valid VM name (%s)\n", name,
		    VM_NAME_RULE);
		return -1;
	}
	return 0;
}

static int validate_topology(void)
{
	struct khyve_topology topo;
	char why[256];

	if (khyve_config_topology(&topo, why, sizeof(why)) != 0) {
		fprintf(stderr, "khyve: config: %s\n", why);
		return -1;
	}
	return 0;
}

static int validate_memory(void)
{
	const char *size = get_config_value("memory.size");
	uint64_t bytes;

	if (size != NULL && (config_parse_memsize(size, &bytes) != 0 || bytes == 0)) {
		fprintf(stderr, "khyve: config: memory.size: '%s' is not a valid memory size\n",
		    size);
		return -1;
	}
	return 0;
}

static int validate_uuid(void)
{
	const char *uuid = get_config_value("uuid");

	if (uuid != NULL && !khyve_valid_uuid(uuid)) {
		fprintf(stderr, "khyve: config: uuid: '%s' is not a valid UUID\n", uuid);
		return -1;
	}
	return 0;
}

int khyve_validate_config(void)
{
	/* First, so that the getters below cannot exit on a bad reference. */
	if (config_check_expansions() != 0) {
		fprintf(stderr, "khyve: config: %s\n", config_last_error());
		return -1;
	}
	if (validate_bools() != 0 || validate_name() != 0 || validate_topology() != 0 ||
	    validate_memory() != 0 || validate_uuid() != 0)
		return -1;
	return 0;
}

/* ---- usage and the getopt loop ------------------------------------------- */

void khyve_usage(FILE *fp)
{
	fputs("Usage: khyve [-aACDeHhIPSuWwxY] [-c [[cpus=]n][,sockets=n][,cores=n][,threads=n]]\n"
	    "             [-f name,string=data|file=path] [-G [w][address:]port]\n"
	    "             [-k config_file] [-K layout] [-l lpcdev[,conf]] [-m size[K|M|G|T]]\n"
	    "             [-n id,size,cpus[,domain_policy]] [-o key=value] [-p vcpu:hostcpu]\n"
	    "             [-r file] [-s [bus:]slot[:func],emulation[,conf]] [-U uuid] vmname\n"
	    "       khyve -l help\n"
	    "       khyve -s help\n"
	    "  -A  generate ACPI tables (the default)\n"
	    "  -a  local APIC in xAPIC mode (the default)\n"
	    "  -C  include guest memory in core dumps\n"
	    "  -c  number of vCPUs and/or topology\n"
	    "  -D  destroy the VM on guest power-off\n"
	    "  -e  exit on access to an unemulated I/O port\n"
	    "  -f  add a QEMU fw_cfg file\n"
	    "  -G  start a GDB debug server ('w': wait for the debugger)\n"
	    "  -H  vCPUs exit on HLT (yield the host CPU)\n"
	    "  -h  this help\n"
	    "  -I  accepted for compatibility, no effect\n"
	    "  -k  load key=value lines from config_file\n"
	    "  -K  keyboard layout\n"
	    "  -l  configure an LPC device (com1-com4, bootrom, fwcfg, tpm, pc-testdev)\n"
	    "  -m  guest memory size (no suffix: MiB)\n"
	    "  -n  NUMA domain\n"
	    "  -o  set configuration variable key to value\n"
	    "  -P  vCPUs exit on PAUSE\n"
	    "  -p  pin vCPU vcpu to host CPU hostcpu\n"
	    "  -r  restore from a snapshot file\n"
	    "  -S  wire (lock) guest memory\n"
	    "  -s  add a PCI device\n"
	    "  -U  SMBIOS system UUID\n"
	    "  -u  RTC keeps UTC\n"
	    "  -W  virtio devices use MSI instead of MSI-X\n"
	    "  -w  ignore accesses to unimplemented MSRs\n"
	    "  -x  local APIC in x2APIC mode\n"
	    "  -Y  do not generate an MP table\n"
	    "Exit status: 0 rebooted, 1 powered off, 2 halted, 3 triple fault, 4 error.\n"
	    "See khyve(8) and khyve_config(5).\n", fp);
}

static int handle_flag(int opt)
{
	const struct flag_option *flag = find_flag(opt);

	if (flag->key == NULL)
		return 0;
	return set_config_bool(flag->key, flag->value) == 0 ? 0 : opt_config_error(opt);
}

/* The "--name" argument getopt choked on (it may or may not have moved past it). */
static const char *find_long_option(int argc, char **argv)
{
	if (optind < argc && starts_with(argv[optind], "--"))
		return argv[optind];
	if (optind > 0 && optind <= argc && starts_with(argv[optind - 1], "--"))
		return argv[optind - 1];
	return "--";
}

static int handle_getopt_error(int c, int argc, char **argv)
{
	if (c == ':')
		fprintf(stderr, "khyve: -%c: missing argument\n", optopt);
	else if (optopt == '-')
		fprintf(stderr, "khyve: '%s': unknown option, khyve has no long options "
		    "(see khyve -h)\n", find_long_option(argc, argv));
	else if (isprint(optopt))
		fprintf(stderr, "khyve: -%c: unknown option (see khyve -h)\n", optopt);
	else
		fprintf(stderr, "khyve: unknown option character 0x%02x (see khyve -h)\n",
		    (unsigned char)optopt);
	return OPTS_ERROR;
}

static int handle_option_with_arg(int c, const char *arg)
{
	switch (c) {
	case 'c': return parse_topology_option(arg);
	case 'f': return parse_fwcfg_file_option(arg);
	case 'G': return parse_gdb_option(arg);
	case 'k': return config_load_file(arg);
	case 'K': return set_nonempty('K', "keyboard.layout", arg, "keyboard layout");
	case 'l': return parse_lpc_option(arg);
	case 'm': return parse_memory_option(arg);
	case 'n': return parse_numa_option(arg);
	case 'o': return config_set_assignment(arg);
	case 'p': return parse_pin_option(arg);
	case 'r': return set_nonempty('r', "restore", arg, "snapshot file");
	case 's': return parse_slot_option(arg);
	case 'U': return parse_uuid_option(arg);
	}
	return opt_error(c, "not handled");
}

static int handle_option(int c, const char *arg, int argc, char **argv)
{
	if (c == '?' || c == ':')
		return handle_getopt_error(c, argc, argv);
	if (c == 'h') {
		khyve_usage(stdout);
		return OPTS_EXIT_OK;
	}
	if ((c == 's' || c == 'l') && strcmp(arg, "help") == 0) {
		if (c == 's')
			khyve_list_pci_emulations(stdout);
		else
			khyve_list_lpc_devices(stdout);
		return OPTS_EXIT_OK;
	}
	current_arg = arg;
	if (find_flag(c) != NULL)
		return handle_flag(c) == 0 ? OPTS_RUN : OPTS_ERROR;
	return handle_option_with_arg(c, arg) == 0 ? OPTS_RUN : OPTS_ERROR;
}

/* The operands after the options: at most one, the VM name. */
static int handle_operands(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "khyve: '%s': unexpected argument after the VM name '%s'\n",
		    argv[1], argv[0]);
		return OPTS_ERROR;
	}
	if (argc == 1) {
		if (!khyve_valid_vm_name(argv[0])) {
			fprintf(stderr, "khyve: '%s' is not a valid VM name (%s)\n", argv[0],
			    VM_NAME_RULE);
			return OPTS_ERROR;
		}
		if (set_config_value("name", argv[0]) != 0) {
			fprintf(stderr, "khyve: name: %s\n", config_last_error());
			return OPTS_ERROR;
		}
	}
	return OPTS_RUN;
}

int khyve_parse_options(int argc, char **argv)
{
	int c, rc = OPTS_RUN;

	optind = 0; /* glibc: full reset, so repeated calls (tests) start afresh */
	opterr = 0; /* we print our own one-line messages */
	while (rc == OPTS_RUN && (c = getopt(argc, argv, OPTSTRING)) != -1)
		rc = handle_option(c, optarg, argc, argv);
	current_arg = NULL;
	if (rc != OPTS_RUN)
		return rc;
	rc = handle_operands(argc - optind, argv + optind);
	if (rc != OPTS_RUN)
		return rc;
	return khyve_validate_config() == 0 ? OPTS_RUN : OPTS_ERROR;
}
