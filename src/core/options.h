/*
 * bhyve(8)'s amd64 command line, turned into configuration-tree keys
 * (config.h) exactly the way bhyve does it: options are applied in order,
 * the last one wins, "-k file" loads a file at that point.  Nothing else
 * happens here: no device is opened, no default is written into the tree
 * (readers apply defaults, see khyve_config(5)).
 */
#ifndef KHYVE_OPTIONS_H
#define KHYVE_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* What main() should do after khyve_parse_options(). */
enum khyve_opts_status {
	OPTS_RUN = 0,     /* tree complete: run the VM (or dump it, config.dump) */
	OPTS_EXIT_OK = 1, /* -h, -s help or -l help printed: exit 0 */
	OPTS_ERROR = 2,   /* one line already on stderr: exit 4 */
};

/* The largest vCPU count khyve accepts (cpus, sockets*cores*threads). */
#define KHYVE_MAX_VCPUS 256

/*
 * Parse argv into the configuration tree (which the caller has initialised
 * with config_init()).  Resets getopt itself (optind = 0), so it can be
 * called again.  Returns an enum khyve_opts_status.
 */
int khyve_parse_options(int argc, char **argv);

/* The -h text. */
void khyve_usage(FILE *fp);
/* One emulation / LPC device name per line, as "-s help" / "-l help". */
void khyve_list_pci_emulations(FILE *fp);
void khyve_list_lpc_devices(FILE *fp);

/*
 * Checks of the finished tree that khyve_parse_options() runs last (also
 * useful after editing the tree): the VM name (required unless config.dump
 * is true), the CPU topology, memory.size, uuid and every %() reference.
 * Prints one line and returns -1 on the first problem.
 */
int khyve_validate_config(void);

/* 1-64 characters of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool khyve_valid_vm_name(const char *name);
/* 8-4-4-4-12 hexadecimal digits. */
bool khyve_valid_uuid(const char *uuid);
/* A UUID as bhyve's -U takes it (8-4-4-4-12 hex digits) into its 16 bytes in
 * RFC 4122 (big-endian) order; -1 if text is not one. */
int khyve_parse_uuid(const char *text, uint8_t out[16]);

/*
 * The guest CPU topology from cpus/sockets/cores/threads: each defaults to 1;
 * a missing cpus is sockets*cores*threads, an explicit one must equal it;
 * with cpus but no sockets, sockets = cpus/(cores*threads) (bhyve: = cpus,
 * which agrees whenever bhyve accepts the topology).  At most
 * KHYVE_MAX_VCPUS.  Readers must use this rather than read "cpus" directly:
 * "-c sockets=2,cores=2" does not write cpus.
 */
struct khyve_topology {
	int cpus, sockets, cores, threads;
};
/* 0, or -1 with the reason (no "khyve:" prefix) in why. */
int khyve_config_topology(struct khyve_topology *topo, char *why, size_t whylen);

#endif
