/*
 * MMIO dispatch: devices register guest-physical ranges; a vCPU's
 * KVM_EXIT_MMIO is routed to the covering range. Unclaimed reads return all
 * ones, writes are dropped.
 */
#ifndef KHYVE_MEM_H
#define KHYVE_MEM_H

#include <stdbool.h>
#include <stdint.h>

struct vmctx;

typedef int (*mem_func_t)(struct vmctx *ctx, bool write, uint64_t gpa, int size,
			  uint64_t *val, void *arg);

struct mem_range {
	const char *name;
	uint64_t base;
	uint64_t size;
	mem_func_t handler;
	void *arg;
};

int register_mem(const struct mem_range *mr);
int unregister_mem(uint64_t base);
int emulate_mem(struct vmctx *ctx, bool write, uint64_t gpa, int size, uint64_t *val);

#endif
