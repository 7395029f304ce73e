/*
 * A small AML (ACPI Machine Language) byte-code emitter, enough to write a
 * DSDT readably from C:
 *
 *	aml_scope_begin(a, "\\_SB");
 *	aml_device_begin(a, "COM1");
 *	aml_name_eisaid(a, "_HID", "PNP0501");
 *	aml_name_resource_template_begin(a, "_CRS");
 *	aml_io(a, true, 0x3f8, 0x3f8, 1, 8);
 *	aml_irq_noflags(a, 4);
 *	aml_resource_template_end(a);
 *	aml_end(a);	// Device
 *	aml_end(a);	// Scope
 *
 * Objects that carry a PkgLength (Scope, Device, Method, Package, Buffer) are
 * opened with *_begin() and closed with aml_end(); the PkgLength (and a
 * Buffer's size, a Package's element count) is only known at the end, so it
 * is inserted then, in its shortest encoding.
 *
 * Errors (out of memory, malformed names, unbalanced begin/end, too many
 * package elements) are sticky: the emitter keeps going as a no-op and
 * aml_finish() reports the failure once, so callers need not check every call.
 *
 * The same growable buffer also serves as a plain little-endian byte sink
 * (aml_put_*), which the ACPI table builder uses for the fixed-layout tables.
 */
#ifndef KHYVE_AML_H
#define KHYVE_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 16

enum aml_block_kind {
	AML_BLOCK_SCOPE,
	AML_BLOCK_DEVICE,
	AML_BLOCK_METHOD,
	AML_BLOCK_PACKAGE,
	AML_BLOCK_BUFFER,
};

struct aml_block {
	enum aml_block_kind kind;
	size_t start;      /* where the PkgLength goes (just after the opcode) */
	unsigned nelems;   /* Package only: elements emitted so far */
};

struct aml {
	uint8_t *buf;
	size_t len, cap;
	bool failed;
	int depth;
	struct aml_block open[AML_MAX_DEPTH];
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* 0 if every call succeeded and every block was closed, else -1. */
int aml_finish(const struct aml *a);
/* Hand the bytes over to the caller (free() them); the emitter is reset. */
uint8_t *aml_take(struct aml *a, size_t *len);

/* Raw little-endian bytes. */
void aml_put_u8(struct aml *a, uint8_t v);
void aml_put_u16(struct aml *a, uint16_t v);
void aml_put_u32(struct aml *a, uint32_t v);
void aml_put_u64(struct aml *a, uint64_t v);
void aml_put_bytes(struct aml *a, const void *p, size_t n);
void aml_patch_u32(struct aml *a, size_t offset, uint32_t v);

/*
 * Data objects. Each counts as one element of the enclosing Package.
 */
/* Integer in its shortest encoding: ZeroOp, OneOp, Byte/Word/DWord/QWord. */
void aml_integer(struct aml *a, uint64_t v);
/* String literal (ASCII, NUL-terminated in AML). */
void aml_string(struct aml *a, const char *s);
/* Compressed EISA id, "PNP0501" -> DWord 0x0105D041. */
void aml_eisaid(struct aml *a, const char *id);
/*
 * NameString reference: "\\_SB.COM1", "^PCI0", "_S5" (segments shorter than
 * four characters are padded with '_'). Upper-case letters, digits, '_' only.
 */
void aml_name_string(struct aml *a, const char *path);

/* Name (name, <object>): the caller emits the object next. */
void aml_name(struct aml *a, const char *name);
/* Shorthands for the common Name forms. */
void aml_name_integer(struct aml *a, const char *name, uint64_t v);
void aml_name_str(struct aml *a, const char *name, const char *s);
void aml_name_eisaid(struct aml *a, const char *name, const char *id);

/* Return (<term>): the caller emits the value next. */
void aml_return(struct aml *a);

/* Blocks, closed by aml_end(). */
void aml_scope_begin(struct aml *a, const char *path);
void aml_device_begin(struct aml *a, const char *name);
void aml_method_begin(struct aml *a, const char *name, unsigned nargs, bool serialized);
void aml_package_begin(struct aml *a); /* element count is filled in by aml_end() */
void aml_buffer_begin(struct aml *a);  /* contents via aml_put_*(); size filled in */
void aml_end(struct aml *a);

/*
 * Resource templates (ACPI 6.4 section 6.4): a Buffer of resource
 * descriptors ended by an EndTag.
 */
void aml_resource_template_begin(struct aml *a);
void aml_resource_template_end(struct aml *a); /* EndTag, then closes the Buffer */
/* Name (name, ResourceTemplate () { ... }) */
void aml_name_resource_template_begin(struct aml *a, const char *name);

/* IO (Decode16 or Decode10, min, max, alignment, length) */
void aml_io(struct aml *a, bool decode16, uint16_t min, uint16_t max, uint8_t align,
	    uint8_t len);
/* IRQNoFlags () {irq}: ISA-style edge, active-high, exclusive. irq < 16. */
void aml_irq_noflags(struct aml *a, unsigned irq);

enum aml_irq_trigger { AML_LEVEL = 0, AML_EDGE = 1 };
enum aml_irq_polarity { AML_ACTIVE_HIGH = 0, AML_ACTIVE_LOW = 1 };
/* Interrupt (ResourceConsumer, trigger, polarity, Exclusive/Shared) {irqs...} */
void aml_interrupt(struct aml *a, enum aml_irq_trigger trigger,
		   enum aml_irq_polarity polarity, bool shared, const uint32_t *irqs,
		   unsigned nirqs);
/* Memory32Fixed (ReadWrite or ReadOnly, base, length) */
void aml_memory32_fixed(struct aml *a, bool writeable, uint32_t base, uint32_t len);

/*
 * A bridge's windows, as ResourceProducer, MinFixed, MaxFixed, PosDecode:
 * WordBusNumber (min..max), WordIO (EntireRange, min..max),
 * DWordMemory / QWordMemory (ReadWrite, Cacheable or NonCacheable, min..max).
 */
void aml_word_bus_number(struct aml *a, uint16_t min, uint16_t max);
void aml_word_io(struct aml *a, uint16_t min, uint16_t max);
void aml_dword_memory(struct aml *a, bool cacheable, uint32_t min, uint32_t max);
void aml_qword_memory(struct aml *a, bool cacheable, uint64_t min, uint64_t max);

#endif
