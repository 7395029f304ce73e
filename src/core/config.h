/*
 * The configuration tree (bhyve_config(5)): every command-line option, -k file
 * line and -o key=value converges here as dotted keys ("pci.0.3.0.path").
 * Only leaves hold values; all values are strings, interpreted by the reader.
 * Values may contain %(other.key) references, expanded when read ("%%" is a
 * literal '%').
 */
#ifndef KHYVE_CONFIG_H
#define KHYVE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct cfg_node;

/* Reset the tree to empty. */
void config_init(void);
/* Free everything. */
void config_free(void);

/*
 * Set a leaf. Creates intermediate nodes. Fails (returns -1 with a message in
 * *err, static or malloc'ed-by-config, valid until next call) when a path
 * component is empty or when a leaf would become a node or vice versa.
 */
int set_config_value(const char *path, const char *value);
int set_config_bool(const char *path, bool value);
/* Only set if not already set. */
int set_config_value_if_unset(const char *path, const char *value);

/* Node-relative variants (node from find/create_config_node). */
int set_config_value_node(struct cfg_node *node, const char *name, const char *value);
int set_config_value_node_if_unset(struct cfg_node *node, const char *name, const char *value);
const char *get_config_value_node(const struct cfg_node *node, const char *name);

struct cfg_node *find_config_node(const char *path);
struct cfg_node *create_config_node(const char *path);
/* Relative path lookup under node (path may be dotted). */
struct cfg_node *find_relative_config_node(struct cfg_node *parent, const char *path);

/* Raw value (no expansion) or NULL; expanded value cached in the tree. */
const char *get_config_value(const char *path);
const char *get_config_value_default(const char *path, const char *def);

/*
 * Typed getters. A malformed value is a user error: they print one line
 * "khyve: config: KEY: 'VAL' is not a boolean/number/size" and exit(4).
 */
bool get_config_bool(const char *path);
bool get_config_bool_default(const char *path, bool def);
bool get_config_bool_node_default(const struct cfg_node *node, const char *name, bool def);
int64_t get_config_int_default(const char *path, int64_t def);
/* Sizes accept bhyve's expand_number syntax: 512M, 1G, 4096, 2T (no suffix = bytes). */
uint64_t get_config_size_default(const char *path, uint64_t def);

/* Parse helpers usable anywhere (return 0 ok / -1 bad). */
int config_parse_bool(const char *s, bool *out);
int config_parse_size(const char *s, uint64_t *out); /* expand_number(3) */

/* Walk: leaves first? No: in insertion order, children of node. */
typedef int (*cfg_walk_fn)(const char *name, struct cfg_node *child, const char *value, void *arg);
/* child is non-NULL for subnodes, value non-NULL for leaves. Stops on nonzero return. */
int config_foreach(struct cfg_node *node, cfg_walk_fn fn, void *arg);
const char *config_node_name(const struct cfg_node *node);

/* Print every leaf as "full.dotted.key=value\n" in insertion order (raw values). */
void dump_config(FILE *fp);

/*
 * Load a bhyve_config(5) file: "key=value" lines, '#' comments, blank lines.
 * Errors name file and line: "khyve: FILE:LINE: ..." ; returns -1 on error.
 */
int config_load_file(const char *path);
/* Parse one "key=value" assignment (-o). Returns -1 with message printed. */
int config_set_assignment(const char *assignment);

#endif
