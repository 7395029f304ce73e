/*
 * Port I/O dispatch: a two-level table (256 pages of 256 ports), so an exit
 * is routed with two array indexes, and only the pages that hold devices
 * take memory (a flat 64Ki table would cost 2 MiB of RSS). Registration
 * keeps ranges exclusive; it happens at device init, before vCPUs run.
 */
#include "core/inout.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/config.h"

SET_DECLARE(inout_port_set, struct inout_port);

#define NPORTS 0x10000

struct port_handler {
	inout_func_t handler;
	inout_burst_func_t burst;
	void *arg;
	int flags;
	const char *name;
};

#define PAGE_PORTS 256
#define NPAGES (NPORTS / PAGE_PORTS)

static struct port_handler *pages[NPAGES];
static const struct port_handler unclaimed;
static bool strictio;

static const struct port_handler *lookup(unsigned int port)
{
	const struct port_handler *page = pages[port / PAGE_PORTS];

	return page != NULL ? &page[port % PAGE_PORTS] : &unclaimed;
}

static struct port_handler *slot(unsigned int port)
{
	struct port_handler **page = &pages[port / PAGE_PORTS];

	if (*page == NULL)
		*page = calloc(PAGE_PORTS, sizeof(**page));
	return *page != NULL ? &(*page)[port % PAGE_PORTS] : NULL;
}

int register_inout(const struct inout_port *iop)
{
	unsigned int end = (unsigned int)iop->port + iop->size;

	if (iop->size == 0 || end > NPORTS || iop->handler == NULL)
		return -1;
	for (unsigned int p = iop->port; p < end; p++)
		if (lookup(p)->handler != NULL)
			return -1;
	for (unsigned int p = iop->port; p < end; p++) {
		struct port_handler *ph = slot(p);

		if (ph == NULL)
			return -1;
		*ph = (struct port_handler){ iop->handler, NULL, iop->arg, iop->flags, iop->name };
	}
	return 0;
}

int unregister_inout(uint16_t port, uint16_t size)
{
	unsigned int end = (unsigned int)port + size;

	if (end > NPORTS)
		return -1;
	for (unsigned int p = port; p < end; p++)
		if (pages[p / PAGE_PORTS] != NULL)
			pages[p / PAGE_PORTS][p % PAGE_PORTS] = unclaimed;
	return 0;
}

int inout_set_burst(uint16_t port, inout_burst_func_t burst)
{
	struct port_handler *page = pages[port / PAGE_PORTS];
	struct port_handler *ph = page != NULL ? &page[port % PAGE_PORTS] : NULL;

	if (ph == NULL || ph->handler == NULL || !(ph->flags & IOPORT_F_OUT))
		return -1;
	ph->burst = burst;
	return 0;
}

int init_inout(void)
{
	struct inout_port **iopp;

	for (int i = 0; i < NPAGES; i++) {
		free(pages[i]);
		pages[i] = NULL;
	}
	strictio = get_config_bool_default("x86.strictio", false);
	SET_FOREACH(iopp, inout_port_set) {
		if (register_inout(*iopp) < 0) {
			fprintf(stderr, "khyve: I/O port 0x%x (%s) registered twice\n",
				(*iopp)->port, (*iopp)->name);
			return -1;
		}
	}
	return 0;
}

static uint32_t all_ones(int bytes)
{
	return bytes >= 4 ? 0xffffffffu : (1u << (bytes * 8)) - 1;
}

int emulate_inout(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val)
{
	const struct port_handler *ph = lookup(port);
	int flag = in ? IOPORT_F_IN : IOPORT_F_OUT;

	if (ph->handler != NULL && (ph->flags & flag) &&
	    ph->handler(ctx, in, port, bytes, val, ph->arg) == 0) {
		if (in)
			*val &= all_ones(bytes);
		return 0;
	}
	/* Unassigned: reads float high as on a real ISA bus, writes vanish. */
	if (in)
		*val = all_ones(bytes);
	return strictio ? -1 : 0;
}

void emulate_out_burst(struct vmctx *ctx, uint16_t port, const uint8_t *data, size_t n)
{
	const struct port_handler *ph = lookup(port);

	if (ph->burst != NULL) {
		ph->burst(ctx, port, data, n, ph->arg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t val = data[i];

		(void)emulate_inout(ctx, false, port, 1, &val);
	}
}
