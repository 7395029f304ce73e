/*
 * fw_cfg linker/loader script for the ACPI tables; see acpi_loader.h.
 * Commands are little-endian, each 128 bytes, file names NUL-padded to 56.
 */
#include <endian.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hw/fw_cfg.h"
#include "x86/acpi_loader.h"

#define MAX_TABLES ((int)(sizeof(((struct acpi_tables *)0)->tables) / \
			  sizeof(((struct acpi_tables *)0)->tables[0])))
#define MAX_POINTERS ((int)(sizeof(((struct acpi_tables *)0)->pointers) / \
			    sizeof(((struct acpi_tables *)0)->pointers[0])))

struct script {
	uint8_t *cmds;
	uint32_t n, cap;
};

/* Where each table lives: which file, and at what offset within it. */
struct placement {
	uint32_t offset[MAX_TABLES];
	uint32_t tables_len;
};

static const char *file_of(int table)
{
	return table == 0 ? ACPI_LOADER_RSDP_FILE : ACPI_LOADER_TABLES_FILE;
}

static uint8_t *new_cmd(struct script *s, uint32_t command)
{
	uint8_t *c;
	uint32_t le = htole32(command);

	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 32;
		uint8_t *grown = realloc(s->cmds, (size_t)cap * LOADER_CMD_SIZE);

		if (grown == NULL)
			return NULL;
		s->cmds = grown;
		s->cap = cap;
	}
	c = s->cmds + (size_t)s->n++ * LOADER_CMD_SIZE;
	memset(c, 0, LOADER_CMD_SIZE);
	memcpy(c, &le, 4);
	return c;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static bool cmd_allocate(struct script *s, const char *file, uint32_t align, uint8_t zone)
{
	uint8_t *c = new_cmd(s, LOADER_CMD_ALLOCATE);

	if (c == NULL)
		return false;
	strncpy((char *)c + 4, file, LOADER_FILE_LEN - 1);
	put_le32(c + 4 + LOADER_FILE_LEN, align);
	c[4 + LOADER_FILE_LEN + 4] = zone;
	return true;
}

/* The pointer at "offset" in "dest" gets the address of file "src" added. */
static bool cmd_add_pointer(struct script *s, const char *dest, const char *src,
			    uint32_t offset, uint8_t size)
{
	uint8_t *c = new_cmd(s, LOADER_CMD_ADD_POINTER);

	if (c == NULL)
		return false;
	strncpy((char *)c + 4, dest, LOADER_FILE_LEN - 1);
	strncpy((char *)c + 4 + LOADER_FILE_LEN, src, LOADER_FILE_LEN - 1);
	put_le32(c + 4 + 2 * LOADER_FILE_LEN, offset);
	c[4 + 2 * LOADER_FILE_LEN + 4] = size;
	return true;
}

static bool cmd_add_checksum(struct script *s, const char *file, uint32_t csum,
			     uint32_t start, uint32_t len)
{
	uint8_t *c = new_cmd(s, LOADER_CMD_ADD_CHECKSUM);

	if (c == NULL)
		return false;
	strncpy((char *)c + 4, file, LOADER_FILE_LEN - 1);
	put_le32(c + 4 + LOADER_FILE_LEN, csum);
	put_le32(c + 4 + LOADER_FILE_LEN + 4, start);
	put_le32(c + 4 + LOADER_FILE_LEN + 8, len);
	return true;
}

/* tables[1..] one after the other in etc/acpi/tables, each at its alignment. */
static bool place(const struct acpi_tables *t, struct placement *p)
{
	uint64_t off = 0;

	if (t->ntables < 1 || t->ntables > MAX_TABLES || t->tables[0].data == NULL)
		return false;
	p->offset[0] = 0;
	for (int i = 1; i < t->ntables; i++) {
		uint32_t align = t->tables[i].align ? t->tables[i].align : 1;

		if (t->tables[i].data == NULL || (align & (align - 1)) != 0 ||
		    align > ACPI_LOADER_TABLES_ALIGN)
			return false;
		off = (off + align - 1) & ~(uint64_t)(align - 1);
		p->offset[i] = (uint32_t)off;
		off += t->tables[i].len;
		if (off > UINT32_MAX)
			return false;
	}
	p->tables_len = (uint32_t)off;
	return true;
}

static bool valid_pointer(const struct acpi_tables *t, const struct acpi_pointer *ptr)
{
	return ptr->src_table >= 0 && ptr->src_table < t->ntables && ptr->dst_table >= 0 &&
	       ptr->dst_table < t->ntables && (ptr->size == 4 || ptr->size == 8) &&
	       (uint64_t)ptr->offset + ptr->size <= t->tables[ptr->src_table].len;
}

/* The same rule acpi_install() applies: the checksum byte lies inside its range. */
static bool valid_checksum(uint32_t table_len, uint32_t csum, uint32_t start, uint32_t len)
{
	return csum < table_len && start <= table_len && len <= table_len - start &&
	       csum >= start && csum < start + len;
}

/* Copy the tables into the two blobs; pointer fields get the target's offset in its file. */
static bool fill_blobs(const struct acpi_tables *t, const struct placement *p,
		       struct acpi_loader_blobs *out)
{
	out->rsdp_len = t->tables[0].len;
	out->tables_len = p->tables_len;
	out->rsdp = calloc(1, out->rsdp_len ? out->rsdp_len : 1);
	out->tables = calloc(1, out->tables_len ? out->tables_len : 1);
	if (out->rsdp == NULL || out->tables == NULL)
		return false;
	memcpy(out->rsdp, t->tables[0].data, out->rsdp_len);
	for (int i = 1; i < t->ntables; i++)
		memcpy(out->tables + p->offset[i], t->tables[i].data, t->tables[i].len);
	for (int i = 0; i < t->npointers; i++) {
		const struct acpi_pointer *ptr = &t->pointers[i];
		uint8_t *base = ptr->src_table == 0 ? out->rsdp : out->tables;
		uint8_t *field = base + p->offset[ptr->src_table] + ptr->offset;
		uint64_t target = p->offset[ptr->dst_table];

		for (int b = 0; b < ptr->size; b++)
			field[b] = (uint8_t)(target >> (8 * b));
	}
	return true;
}

static bool script_pointers(struct script *s, const struct acpi_tables *t,
			    const struct placement *p)
{
	for (int i = 0; i < t->npointers; i++) {
		const struct acpi_pointer *ptr = &t->pointers[i];

		if (!valid_pointer(t, ptr) ||
		    !cmd_add_pointer(s, file_of(ptr->src_table), file_of(ptr->dst_table),
				     p->offset[ptr->src_table] + ptr->offset, ptr->size))
			return false;
	}
	return true;
}

static bool script_checksums(struct script *s, const struct acpi_table *tbl, const char *file,
			     uint32_t at)
{
	if (tbl->has_checksum &&
	    (!valid_checksum(tbl->len, tbl->csum_offset, tbl->csum_start, tbl->csum_len) ||
	     !cmd_add_checksum(s, file, at + tbl->csum_offset, at + tbl->csum_start,
			       tbl->csum_len)))
		return false;
	/* The extended checksum covers the first one, so it comes second. */
	if (tbl->has_ext_checksum &&
	    (!valid_checksum(tbl->len, tbl->ext_csum_offset, 0, tbl->ext_csum_len) ||
	     !cmd_add_checksum(s, file, at + tbl->ext_csum_offset, at, tbl->ext_csum_len)))
		return false;
	return true;
}

/* Allocations, then pointers, then checksums (they cover the patched pointers), RSDP last. */
static bool write_script(struct script *s, const struct acpi_tables *t, const struct placement *p)
{
	if (!cmd_allocate(s, ACPI_LOADER_RSDP_FILE, 16, LOADER_ZONE_FSEG) ||
	    !cmd_allocate(s, ACPI_LOADER_TABLES_FILE, ACPI_LOADER_TABLES_ALIGN, LOADER_ZONE_HIGH))
		return false;
	if (t->npointers < 0 || t->npointers > MAX_POINTERS || !script_pointers(s, t, p))
		return false;
	for (int i = 1; i < t->ntables; i++)
		if (!script_checksums(s, &t->tables[i], ACPI_LOADER_TABLES_FILE, p->offset[i]))
			return false;
	return script_checksums(s, &t->tables[0], ACPI_LOADER_RSDP_FILE, 0);
}

int acpi_loader_build(const struct acpi_tables *t, struct acpi_loader_blobs *out)
{
	struct placement p;
	struct script s = { 0 };

	memset(out, 0, sizeof(*out));
	if (!place(t, &p) || !write_script(&s, t, &p) || !fill_blobs(t, &p, out)) {
		free(s.cmds);
		acpi_loader_free(out);
		return -1;
	}
	out->loader = s.cmds;
	out->loader_len = s.n * LOADER_CMD_SIZE;
	return 0;
}

void acpi_loader_free(struct acpi_loader_blobs *b)
{
	free(b->rsdp);
	free(b->tables);
	free(b->loader);
	memset(b, 0, sizeof(*b));
}

int acpi_loader_add_fw_cfg(const struct acpi_tables *t)
{
	struct acpi_loader_blobs b;
	int rc;

	if (acpi_loader_build(t, &b) < 0)
		return -1;
	rc = fw_cfg_add_file(ACPI_LOADER_RSDP_FILE, b.rsdp, b.rsdp_len);
	if (rc == 0)
		rc = fw_cfg_add_file(ACPI_LOADER_TABLES_FILE, b.tables, b.tables_len);
	if (rc == 0)
		rc = fw_cfg_add_file(ACPI_LOADER_FILE, b.loader, b.loader_len);
	acpi_loader_free(&b);
	return rc;
}
