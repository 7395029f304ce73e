/*
 * The configuration tree (bhyve_config(5)): every command-line option, -k file
 * line and -o key=value converges here as dotted keys ("pci.0.3.0.path").
 * Only leaves hold values; all values are strings, interpreted by the reader.
 * Values may contain %(other.key) references, expanded when read ("%%" is a
 * literal '%').
 *
 * Keys: dot-separated components, each non-empty, made of printable
 * characters other than whitespace, '=' and '#' (so that every dumped line
 * reads back as the same key).  Values: any string without a newline.
 *
 * The tree is built on the main thread while options are parsed and is
 * read-only afterwards; reads (which cache expansions) are serialised
 * internally so device threads may call the getters.
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
 * Set a leaf. Creates intermediate nodes. Fails (returns -1; the reason is
 * in config_last_error(), nothing is printed) when a path component is empty
 * or malformed, when the value holds a newline, or when a leaf would become a
 * node or vice versa.
 */
int set_config_value(const char *path, const char *value);
int set_config_bool(const char *path, bool value);
/* Only set if not already set. */
int set_config_value_if_unset(const char *path, const char *value);

/* Node-relative variants (node from find/create_config_node; NULL = root). */
int set_config_value_node(struct cfg_node *node, const char *name, const char *value);
int set_config_value_node_if_unset(struct cfg_node *node, const char *name, const char *value);
int set_config_bool_node(struct cfg_node *node, const char *name, bool value);
/* Expanded value of the leaf at the (dotted) relative path, or NULL. */
const char *get_config_value_node(const struct cfg_node *node, const char *name);
/* Same without %() expansion. */
const char *get_config_value_node_raw(const struct cfg_node *node, const char *name);

/* NULL when absent or when path names a leaf. */
struct cfg_node *find_config_node(const char *path);
/* NULL (reason in config_last_error()) when path is malformed or crosses a leaf. */
struct cfg_node *create_config_node(const char *path);
/* Relative path lookup under node (path may be dotted; NULL parent = root). */
struct cfg_node *find_relative_config_node(struct cfg_node *parent, const char *path);
struct cfg_node *create_relative_config_node(struct cfg_node *parent, const char *path);

/*
 * Expanded value or NULL when unset. The string lives in the tree (expansion
 * cached) and stays valid until the tree changes. A bad reference (unset
 * variable, loop, unterminated "%(") is a user error: one line on stderr and
 * exit(4). Use config_get_expanded() to handle that yourself.
 */
const char *get_config_value(const char *path);
const char *get_config_value_default(const char *path, const char *def);
/* The value as set, without %() expansion, or NULL. */
const char *get_config_value_raw(const char *path);
/* 0 with *out = expanded value or NULL (unset); -1 on a bad reference. */
int config_get_expanded(const char *path, const char **out);
/* Expand every leaf once: -1 (reason in config_last_error()) on the first bad one. */
int config_check_expansions(void);

/*
 * Typed getters. A malformed value is a user error: they print one line
 * "khyve: config: KEY: 'VAL' is not a boolean/number/size" and exit(4).
 * get_config_bool() also exits when KEY is unset.
 */
bool get_config_bool(const char *path);
bool get_config_bool_default(const char *path, bool def);
bool get_config_bool_node_default(const struct cfg_node *node, const char *name, bool def);
int64_t get_config_int_default(const char *path, int64_t def);
/* Sizes accept bhyve's expand_number syntax: 512M, 1G, 4096, 2T (no suffix = bytes). */
uint64_t get_config_size_default(const char *path, uint64_t def);
/* memory.size and friends: like bhyve, a bare number below 1 MiB means MiB. */
uint64_t get_config_memsize_default(const char *path, uint64_t def);

/* Parse helpers usable anywhere (return 0 ok / -1 bad). */
int config_parse_bool(const char *s, bool *out);  /* true/on/yes/1, false/off/no/0, any case */
int config_parse_int(const char *s, int64_t *out); /* strtol(3) base 0, whole string */
int config_parse_size(const char *s, uint64_t *out); /* expand_number(3) */
int config_parse_memsize(const char *s, uint64_t *out); /* bhyve -m rule, see above */

/* Why the last failing config call failed (static buffer). */
const char *config_last_error(void);

/* Walk the children of node (NULL = root) in insertion order. */
typedef int (*cfg_walk_fn)(const char *name, struct cfg_node *child, const char *value, void *arg);
/*
 * child is non-NULL for subnodes, value (raw, unexpanded) non-NULL for leaves.
 * Stops on nonzero return and returns that value.
 */
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
