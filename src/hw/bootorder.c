/* Firmware boot order (fw_cfg "bootorder"): see bootorder.h. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/bootorder.h"
#include "hw/fw_cfg.h"

struct boot_entry {
	unsigned index;
	char *path, *who;
};

/* Kept sorted by index; devices are created on one thread, at start-up. */
static struct {
	struct boot_entry *e;
	size_t n;
} order;

int bootorder_parse(const char *value, unsigned *index)
{
	char *end;
	long v;

	/* strtol would take a sign or leading blanks: a bootindex is digits only. */
	if (value[0] < '0' || value[0] > '9')
		return -1;
	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || *end != '\0' || v > INT32_MAX)
		return -1;
	*index = (unsigned)v;
	return 0;
}

static const struct boot_entry *find_index(unsigned index)
{
	for (size_t i = 0; i < order.n; i++)
		if (order.e[i].index == index)
			return &order.e[i];
	return NULL;
}

int bootorder_add(unsigned index, const char *path, const char *who)
{
	const struct boot_entry *taken = find_index(index);
	struct boot_entry *grown = NULL, new = { index, strdup(path), strdup(who) };
	size_t at = 0;

	if (taken != NULL) {
		fprintf(stderr, "khyve: %s: bootindex %u is taken by %s\n", who, index, taken->who);
		goto fail;
	}
	if (new.path != NULL && new.who != NULL)
		grown = realloc(order.e, (order.n + 1) * sizeof(*grown));
	if (grown == NULL) {
		fprintf(stderr, "khyve: %s: out of memory for the boot order\n", who);
		goto fail;
	}
	order.e = grown;
	while (at < order.n && order.e[at].index < index)
		at++;
	memmove(&order.e[at + 1], &order.e[at], (order.n - at) * sizeof(*grown));
	order.e[at] = new;
	order.n++;
	return 0;
fail:
	free(new.path);
	free(new.who);
	return -1;
}

char *bootorder_file(size_t *len)
{
	size_t total = 0;
	char *text, *p;

	for (size_t i = 0; i < order.n; i++)
		total += strlen(order.e[i].path) + 1; /* '\n' after each but the last; then NUL */
	if (total == 0 || (text = malloc(total)) == NULL)
		return NULL;
	p = text;
	for (size_t i = 0; i < order.n; i++) {
		size_t l = strlen(order.e[i].path);

		memcpy(p, order.e[i].path, l);
		p += l;
		*p++ = i + 1 < order.n ? '\n' : '\0';
	}
	*len = total;
	return text;
}

int bootorder_publish(void)
{
	size_t len;
	char *text;
	int rc;

	if (order.n == 0 || !fw_cfg_active())
		return 0;
	text = bootorder_file(&len);
	rc = text != NULL ? fw_cfg_add_file("bootorder", text, (uint32_t)len) : -1;
	free(text);
	if (rc < 0)
		fprintf(stderr, "khyve: fw_cfg: cannot add the bootorder file\n");
	return rc;
}

void bootorder_reset(void)
{
	for (size_t i = 0; i < order.n; i++) {
		free(order.e[i].path);
		free(order.e[i].who);
	}
	free(order.e);
	order.e = NULL;
	order.n = 0;
}
