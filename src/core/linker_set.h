/*
 * Linker sets, as bhyve uses them (sys/linker_set.h): each registration drops a
 * pointer into an ELF section named "set_<name>"; GNU ld provides
 * __start_set_<name> / __stop_set_<name> so the set can be walked at run time.
 * Adding a device is adding one file: no central table to edit.
 */
#ifndef KHYVE_LINKER_SET_H
#define KHYVE_LINKER_SET_H

#define KH_CONCAT2(a, b) a##b
#define KH_CONCAT(a, b) KH_CONCAT2(a, b)

#define DATA_SET(set, sym)                                                     \
	static const void *KH_CONCAT(__set_##set##_ptr_, __LINE__)             \
	    __attribute__((section("set_" #set), used, aligned(sizeof(void *)))) = &(sym)

#define SET_DECLARE(set, ptype)                                                \
	extern ptype *__start_set_##set[] __attribute__((weak));               \
	extern ptype *__stop_set_##set[] __attribute__((weak))

#define SET_BEGIN(set) (__start_set_##set)
#define SET_LIMIT(set) (__stop_set_##set)

/* Iterate: pvar has type "ptype **". Empty (weak, undefined) sets iterate 0 times. */
#define SET_FOREACH(pvar, set)                                                 \
	for (pvar = SET_BEGIN(set); pvar < SET_LIMIT(set); pvar++)

#endif
