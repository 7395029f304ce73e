/*
 * The configuration tree: a small n-ary tree of named nodes.  Interior nodes
 * only hold children, leaves only hold a string.  Children keep insertion
 * order so that dump_config() prints the tree the way it was built, and a
 * dump fed back through -k rebuilds the same tree.
 *
 * Values are stored raw; %(key) references are expanded when read and the
 * expansion is cached in the leaf until the tree changes (a generation
 * counter bumped by every write invalidates all caches at once).
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* bhyve's "exited due to an error" status; used for every user error. */
#define CONFIG_EXIT_ERROR 4

struct cfg_node {
	char *name;
	char *value;             /* leaf: raw value; NULL for interior nodes */
	char *expanded;          /* leaf: cached expansion when value has '%' */
	unsigned long expanded_gen;
	bool expanding;          /* on the current expansion path: loop check */
	struct cfg_node *parent;
	struct cfg_node *first_child, *last_child, *next;
};

static struct cfg_node *config_root;
static unsigned long config_generation = 1;
static char config_error[512];
/* Readers on several threads share the expansion caches. */
static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((format(printf, 1, 2)))
static void set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(config_error, sizeof(config_error), fmt, ap);
	va_end(ap);
}

const char *config_last_error(void)
{
	return config_error;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL) {
		fprintf(stderr, "khyve: out of memory\n");
		exit(CONFIG_EXIT_ERROR);
	}
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

/* ---- tree structure ------------------------------------------------------ */

static struct cfg_node *node_new(struct cfg_node *parent, const char *name, size_t len)
{
	struct cfg_node *n = xmalloc(sizeof(*n));

	memset(n, 0, sizeof(*n));
	n->name = xstrndup(name, len);
	n->parent = parent;
	if (parent != NULL) {
		if (parent->last_child != NULL)
			parent->last_child->next = n;
		else
			parent->first_child = n;
		parent->last_child = n;
	}
	return n;
}

static void node_free(struct cfg_node *n)
{
	struct cfg_node *c, *next;

	for (c = n->first_child; c != NULL; c = next) {
		next = c->next;
		node_free(c);
	}
	free(n->name);
	free(n->value);
	free(n->expanded);
	free(n);
}

static struct cfg_node *root(void)
{
	if (config_root == NULL)
		config_root = node_new(NULL, "", 0);
	return config_root;
}

void config_init(void)
{
	config_free();
	root();
}

void config_free(void)
{
	if (config_root != NULL)
		node_free(config_root);
	config_root = NULL;
	config_generation++;
}

static struct cfg_node *child_lookup(const struct cfg_node *parent, const char *name, size_t len)
{
	struct cfg_node *c;

	for (c = parent->first_child; c != NULL; c = c->next)
		if (strncmp(c->name, name, len) == 0 && c->name[len] == '\0')
			return c;
	return NULL;
}

static bool is_leaf(const struct cfg_node *n)
{
	return n->value != NULL;
}

/* Full dotted path of n, for messages. Caller frees. */
static char *node_path(const struct cfg_node *n)
{
	size_t len = 0;
	const struct cfg_node *p;
	char *buf, *end;

	for (p = n; p != NULL && p->parent != NULL; p = p->parent)
		len += strlen(p->name) + 1;
	if (len == 0)
		return xstrdup("");
	buf = xmalloc(len);
	end = buf + len - 1;
	*end = '\0';
	for (p = n; p != NULL && p->parent != NULL; p = p->parent) {
		size_t l = strlen(p->name);

		end -= l;
		memcpy(end, p->name, l);
		if (end > buf)
			*--end = '.';
	}
	return buf;
}

/* ---- key syntax ---------------------------------------------------------- */

static bool key_char_ok(unsigned char c)
{
	return isgraph(c) && c != '=' && c != '#';
}

/* Keys must survive a dump/-k round trip: see config.h. */
static int check_key(const char *path)
{
	const char *p;
	bool component_empty = true;

	if (path == NULL || *path == '\0') {
		set_error("empty key");
		return -1;
	}
	for (p = path; *p != '\0'; p++) {
		if (*p == '.') {
			if (component_empty) {
				set_error("key '%s' has an empty component", path);
				return -1;
			}
			component_empty = true;
			continue;
		}
		if (!key_char_ok((unsigned char)*p)) {
			set_error("key '%s' contains a forbidden character (%s)", path,
			    isspace((unsigned char)*p) ? "whitespace" :
			    *p == '=' ? "'='" : *p == '#' ? "'#'" : "control character");
			return -1;
		}
		component_empty = false;
	}
	if (component_empty) {
		set_error("key '%s' has an empty component", path);
		return -1;
	}
	return 0;
}

static int check_value(const char *path, const char *value)
{
	if (value == NULL) {
		set_error("%s: no value", path);
		return -1;
	}
	if (strchr(value, '\n') != NULL) {
		set_error("%s: value contains a newline", path);
		return -1;
	}
	return 0;
}

/* ---- lookup and creation ------------------------------------------------- */

/*
 * Walk the first len characters of a dotted path below base, creating missing
 * interior nodes when asked to.  A leaf in the way is a conflict when
 * creating and a plain miss when looking up.
 */
static struct cfg_node *walk_nodes(struct cfg_node *base, const char *path, size_t len,
    bool create)
{
	const char *p = path, *end = path + len;
	struct cfg_node *n = base;

	while (p < end) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t clen = dot != NULL ? (size_t)(dot - p) : (size_t)(end - p);
		struct cfg_node *c = child_lookup(n, p, clen);

		if (c == NULL) {
			if (!create)
				return NULL;
			c = node_new(n, p, clen);
		} else if (is_leaf(c)) {
			if (create) {
				char *where = node_path(c);

				set_error("'%s' holds a value, it cannot have '%s' below it",
				    where, path);
				free(where);
			}
			return NULL;
		}
		n = c;
		p += clen + (dot != NULL ? 1 : 0);
	}
	return n;
}

static struct cfg_node *base_or_root(const struct cfg_node *node)
{
	return node != NULL ? (struct cfg_node *)node : root();
}

static struct cfg_node *find_leaf(const struct cfg_node *base, const char *path)
{
	const char *last_dot;
	struct cfg_node *parent, *n;

	if (path == NULL || *path == '\0')
		return NULL;
	last_dot = strrchr(path, '.');
	if (last_dot == NULL) {
		parent = base_or_root(base);
		n = child_lookup(parent, path, strlen(path));
	} else {
		parent = walk_nodes(base_or_root(base), path, (size_t)(last_dot - path), false);
		n = parent != NULL ? child_lookup(parent, last_dot + 1, strlen(last_dot + 1)) : NULL;
	}
	return n != NULL && is_leaf(n) ? n : NULL;
}

struct cfg_node *find_relative_config_node(struct cfg_node *parent, const char *path)
{
	if (path == NULL || *path == '\0')
		return NULL;
	return walk_nodes(base_or_root(parent), path, strlen(path), false);
}

struct cfg_node *find_config_node(const char *path)
{
	return find_relative_config_node(NULL, path);
}

struct cfg_node *create_relative_config_node(struct cfg_node *parent, const char *path)
{
	if (check_key(path) != 0)
		return NULL;
	return walk_nodes(base_or_root(parent), path, strlen(path), true);
}

struct cfg_node *create_config_node(const char *path)
{
	return create_relative_config_node(NULL, path);
}

const char *config_node_name(const struct cfg_node *node)
{
	return node != NULL ? node->name : "";
}

/* ---- setting values ------------------------------------------------------ */

static void replace_value(struct cfg_node *leaf, const char *value)
{
	char *copy = xstrdup(value);

	free(leaf->value);
	leaf->value = copy;
	free(leaf->expanded);
	leaf->expanded = NULL;
	config_generation++;
}

static int set_leaf(struct cfg_node *base, const char *path, const char *value,
    bool only_if_unset)
{
	const char *last_dot, *name;
	struct cfg_node *parent, *leaf;

	if (check_key(path) != 0 || check_value(path, value) != 0)
		return -1;
	last_dot = strrchr(path, '.');
	if (last_dot != NULL) {
		parent = walk_nodes(base, path, (size_t)(last_dot - path), true);
		if (parent == NULL)
			return -1;
		name = last_dot + 1;
	} else {
		parent = base;
		name = path;
	}
	leaf = child_lookup(parent, name, strlen(name));
	if (leaf != NULL && !is_leaf(leaf)) {
		char *where = node_path(leaf);

		set_error("'%s' has keys below it, it cannot hold a value", where);
		free(where);
		return -1;
	}
	if (leaf != NULL && only_if_unset)
		return 0;
	if (leaf == NULL)
		leaf = node_new(parent, name, strlen(name));
	replace_value(leaf, value);
	return 0;
}

int set_config_value_node(struct cfg_node *node, const char *name, const char *value)
{
	return set_leaf(base_or_root(node), name, value, false);
}

int set_config_value_node_if_unset(struct cfg_node *node, const char *name, const char *value)
{
	return set_leaf(base_or_root(node), name, value, true);
}

int set_config_bool_node(struct cfg_node *node, const char *name, bool value)
{
	return set_config_value_node(node, name, value ? "true" : "false");
}

int set_config_value(const char *path, const char *value)
{
	return set_config_value_node(NULL, path, value);
}

int set_config_value_if_unset(const char *path, const char *value)
{
	return set_config_value_node_if_unset(NULL, path, value);
}

int set_config_bool(const char *path, bool value)
{
	return set_config_value(path, value ? "true" : "false");
}

/* ---- %(key) expansion ---------------------------------------------------- */

struct strbuf {
	char *s;
	size_t len, cap;
};

static void sb_append(struct strbuf *sb, const char *s, size_t n)
{
	if (sb->len + n + 1 > sb->cap) {
		size_t cap = sb->cap != 0 ? sb->cap : 64;
		char *p;

		while (sb->len + n + 1 > cap)
			cap *= 2;
		p = realloc(sb->s, cap);
		if (p == NULL) {
			fprintf(stderr, "khyve: out of memory\n");
			exit(CONFIG_EXIT_ERROR);
		}
		sb->s = p;
		sb->cap = cap;
	}
	memcpy(sb->s + sb->len, s, n);
	sb->len += n;
	sb->s[sb->len] = '\0';
}

static int expand_leaf(struct cfg_node *leaf, const char *top, const char **out);

/*
 * Append the expansion of the reference "%(" ... ")" starting at *pp (which
 * points just past "%(") and advance *pp past the ')'.
 */
static int expand_reference(struct strbuf *sb, const char **pp, const char *top)
{
	const char *start = *pp, *close = strchr(start, ')');
	struct cfg_node *target;
	const char *value;
	char *name;
	int rc;

	if (close == NULL) {
		set_error("%s: unterminated reference '%%(%s'", top, start);
		return -1;
	}
	if (close == start) {
		set_error("%s: empty reference '%%()'", top);
		return -1;
	}
	name = xstrndup(start, (size_t)(close - start));
	target = find_leaf(NULL, name);
	if (target == NULL) {
		set_error("%s: reference to unset variable '%s'", top, name);
		free(name);
		return -1;
	}
	if (target->expanding) {
		set_error("%s: expansion loop through %%(%s)", top, name);
		free(name);
		return -1;
	}
	free(name);
	rc = expand_leaf(target, top, &value);
	if (rc == 0)
		sb_append(sb, value, strlen(value));
	*pp = close + 1;
	return rc;
}

static int expand_string(const char *value, const char *top, struct strbuf *sb)
{
	const char *p = value;

	while (*p != '\0') {
		const char *pct = strchr(p, '%');

		if (pct == NULL) {
			sb_append(sb, p, strlen(p));
			break;
		}
		sb_append(sb, p, (size_t)(pct - p));
		if (pct[1] == '%') {
			sb_append(sb, "%", 1);
			p = pct + 2;
		} else if (pct[1] == '(') {
			p = pct + 2;
			if (expand_reference(sb, &p, top) != 0)
				return -1;
		} else {
			/* A lone '%' ("50%") is kept as is, as bhyve does. */
			sb_append(sb, "%", 1);
			p = pct + 1;
		}
	}
	return 0;
}

/* Caller holds config_lock. */
static int expand_leaf(struct cfg_node *leaf, const char *top, const char **out)
{
	struct strbuf sb = { 0 };
	int rc;

	if (strchr(leaf->value, '%') == NULL) {
		*out = leaf->value;
		return 0;
	}
	if (leaf->expanded != NULL && leaf->expanded_gen == config_generation) {
		*out = leaf->expanded;
		return 0;
	}
	leaf->expanding = true;
	rc = expand_string(leaf->value, top, &sb);
	leaf->expanding = false;
	if (rc != 0) {
		free(sb.s);
		return -1;
	}
	if (sb.s == NULL)
		sb_append(&sb, "", 0);
	free(leaf->expanded);
	leaf->expanded = sb.s;
	leaf->expanded_gen = config_generation;
	*out = leaf->expanded;
	return 0;
}

static int expand_node_value(const struct cfg_node *base, const char *path, const char **out)
{
	struct cfg_node *leaf = find_leaf(base, path);
	char *top;
	int rc;

	*out = NULL;
	if (leaf == NULL)
		return 0;
	top = node_path(leaf);
	pthread_mutex_lock(&config_lock);
	rc = expand_leaf(leaf, top, out);
	pthread_mutex_unlock(&config_lock);
	free(top);
	return rc;
}

int config_get_expanded(const char *path, const char **out)
{
	return expand_node_value(NULL, path, out);
}

__attribute__((noreturn))
static void die_config(void)
{
	fprintf(stderr, "khyve: config: %s\n", config_error);
	exit(CONFIG_EXIT_ERROR);
}

const char *get_config_value_node(const struct cfg_node *node, const char *name)
{
	const char *v;

	if (expand_node_value(node, name, &v) != 0)
		die_config();
	return v;
}

const char *get_config_value(const char *path)
{
	return get_config_value_node(NULL, path);
}

const char *get_config_value_default(const char *path, const char *def)
{
	const char *v = get_config_value(path);

	return v != NULL ? v : def;
}

const char *get_config_value_node_raw(const struct cfg_node *node, const char *name)
{
	const struct cfg_node *leaf = find_leaf(node, name);

	return leaf != NULL ? leaf->value : NULL;
}

const char *get_config_value_raw(const char *path)
{
	return get_config_value_node_raw(NULL, path);
}

static int check_expansions_below(struct cfg_node *n)
{
	struct cfg_node *c;
	const char *ignored;

	for (c = n->first_child; c != NULL; c = c->next) {
		char *top;
		int rc;

		if (!is_leaf(c)) {
			if (check_expansions_below(c) != 0)
				return -1;
			continue;
		}
		top = node_path(c);
		pthread_mutex_lock(&config_lock);
		rc = expand_leaf(c, top, &ignored);
		pthread_mutex_unlock(&config_lock);
		free(top);
		if (rc != 0)
			return -1;
	}
	return 0;
}

int config_check_expansions(void)
{
	return check_expansions_below(root());
}

/* ---- typed values -------------------------------------------------------- */

int config_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "on", "yes", "1" };
	static const char *const no[] = { "false", "off", "no", "0" };
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int config_parse_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	/* strtoll would skip leading blanks: a value is the whole string. */
	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* Leading digits of s as an unsigned number (strtoumax base 0); NULL if none. */
static const char *parse_unsigned_prefix(const char *s, uint64_t *out)
{
	char *end;
	uintmax_t v;

	/* Refuse signs and blanks that strtoumax would silently accept. */
	if (s == NULL || !isdigit((unsigned char)*s))
		return NULL;
	errno = 0;
	v = strtoumax(s, &end, 0);
	if (errno != 0 || v > UINT64_MAX)
		return NULL;
	*out = v;
	return end;
}

int config_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "bkmgtpe";
	const char *end, *unit;
	uint64_t v;
	unsigned shift;

	end = parse_unsigned_prefix(s, &v);
	if (end == NULL)
		return -1;
	if (*end == '\0') {
		*out = v;
		return 0;
	}
	unit = strchr(units, tolower((unsigned char)*end));
	if (unit == NULL || end[1] != '\0')
		return -1;
	shift = 10 * (unsigned)(unit - units);
	if (shift != 0 && v > (UINT64_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}

int config_parse_memsize(const char *s, uint64_t *out)
{
	const uint64_t mib = 1024 * 1024;
	const char *end;
	uint64_t v;

	end = parse_unsigned_prefix(s, &v);
	if (end != NULL && *end == '\0') {
		/* bhyve compatibility: "-m 512" has always meant 512 MiB. */
		*out = v < mib ? v * mib : v;
		return 0;
	}
	return config_parse_size(s, out);
}

__attribute__((noreturn))
static void die_malformed(const char *path, const char *value, const char *what)
{
	fprintf(stderr, "khyve: config: %s: '%s' is not %s\n", path, value, what);
	exit(CONFIG_EXIT_ERROR);
}

static bool bool_or_die(const char *path, const char *v)
{
	bool b;

	if (config_parse_bool(v, &b) != 0)
		die_malformed(path, v, "a boolean");
	return b;
}

bool get_config_bool(const char *path)
{
	const char *v = get_config_value(path);

	if (v == NULL) {
		fprintf(stderr, "khyve: config: %s: not set\n", path);
		exit(CONFIG_EXIT_ERROR);
	}
	return bool_or_die(path, v);
}

bool get_config_bool_default(const char *path, bool def)
{
	const char *v = get_config_value(path);

	return v != NULL ? bool_or_die(path, v) : def;
}

bool get_config_bool_node_default(const struct cfg_node *node, const char *name, bool def)
{
	const char *v = get_config_value_node(node, name);

	return v != NULL ? bool_or_die(name, v) : def;
}

int64_t get_config_int_default(const char *path, int64_t def)
{
	const char *v = get_config_value(path);
	int64_t n;

	if (v == NULL)
		return def;
	if (config_parse_int(v, &n) != 0)
		die_malformed(path, v, "a number");
	return n;
}

uint64_t get_config_size_default(const char *path, uint64_t def)
{
	const char *v = get_config_value(path);
	uint64_t n;

	if (v == NULL)
		return def;
	if (config_parse_size(v, &n) != 0)
		die_malformed(path, v, "a size");
	return n;
}

uint64_t get_config_memsize_default(const char *path, uint64_t def)
{
	const char *v = get_config_value(path);
	uint64_t n;

	if (v == NULL)
		return def;
	if (config_parse_memsize(v, &n) != 0)
		die_malformed(path, v, "a size");
	return n;
}

/* ---- walking and dumping ------------------------------------------------- */

int config_foreach(struct cfg_node *node, cfg_walk_fn fn, void *arg)
{
	struct cfg_node *c;

	for (c = base_or_root(node)->first_child; c != NULL; c = c->next) {
		int rc = is_leaf(c) ? fn(c->name, NULL, c->value, arg)
				    : fn(c->name, c, NULL, arg);

		if (rc != 0)
			return rc;
	}
	return 0;
}

static void dump_below(FILE *fp, const struct cfg_node *n, struct strbuf *prefix)
{
	const struct cfg_node *c;

	for (c = n->first_child; c != NULL; c = c->next) {
		size_t saved = prefix->len;

		if (saved != 0)
			sb_append(prefix, ".", 1);
		sb_append(prefix, c->name, strlen(c->name));
		if (is_leaf(c))
			fprintf(fp, "%s=%s\n", prefix->s, c->value);
		else
			dump_below(fp, c, prefix);
		prefix->len = saved;
		prefix->s[saved] = '\0';
	}
}

void dump_config(FILE *fp)
{
	struct strbuf prefix = { 0 };

	sb_append(&prefix, "", 0);
	dump_below(fp, root(), &prefix);
	free(prefix.s);
}

/* ---- -o and -k ----------------------------------------------------------- */

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Split "key=value" at the first '=' (values may contain more of them). */
static int split_assignment(char *line, char **key, char **value)
{
	char *eq = strchr(line, '=');

	if (eq == NULL || eq == line)
		return -1;
	*eq = '\0';
	*key = line;
	*value = eq + 1;
	return 0;
}

int config_set_assignment(const char *assignment)
{
	char *copy = xstrdup(assignment), *key, *value;
	int rc = 0;

	if (split_assignment(copy, &key, &value) != 0) {
		fprintf(stderr, "khyve: -o: '%s' is not of the form key=value\n", assignment);
		rc = -1;
	} else if (set_config_value(key, value) != 0) {
		fprintf(stderr, "khyve: -o: '%s': %s\n", assignment, config_error);
		rc = -1;
	}
	free(copy);
	return rc;
}

static int load_line(const char *file, unsigned lineno, char *raw)
{
	char *line = trim(raw), *key, *value;

	if (*line == '\0' || *line == '#')
		return 0;
	if (split_assignment(line, &key, &value) != 0) {
		fprintf(stderr, "khyve: %s:%u: expected key=value\n", file, lineno);
		return -1;
	}
	if (set_config_value(key, value) != 0) {
		fprintf(stderr, "khyve: %s:%u: %s\n", file, lineno, config_error);
		return -1;
	}
	return 0;
}

int config_load_file(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = 0;

	if (fp == NULL) {
		fprintf(stderr, "khyve: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && getline(&line, &cap, fp) != -1)
		rc = load_line(path, ++lineno, line);
	if (rc == 0 && ferror(fp)) {
		fprintf(stderr, "khyve: %s: %s\n", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}
