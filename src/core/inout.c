/*
 * Port I/O dispatch: a table of 64Ki handler slots, one per port, so an exit
 * is routed with one array index. Registration keeps ranges exclusive.
 */
#include "core/inout.h"

#include <stdio.h>
#include <string.h>

#include "core/config.h"

SET_DECLARE(inout_port_set, struct inout_port);

#define NPORTS 0x10000

struct port_handler {
	inout_func_t handler;
	void *arg;
	int flags;
	const char *name;
};

static struct port_handler ports[NPORTS];
static bool strictio;

int register_inout(const struct inout_port *iop)
{
	unsigned int end = (unsigned int)iop->port + iop->size;

	if (iop->size == 0 || end > NPORTS || iop->handler == NULL)
		return -1;
	for (unsigned int p = iop->port; p < end; p++)
		if (ports[p].handler != NULL)
			return -1;
	for (unsigned int p = iop->port; p < end; p++)
		ports[p] = (struct port_handler){ iop->handler, iop->arg, iop->flags, iop->name };
	return 0;
}

int unregister_inout(uint16_t port, uint16_t size)
{
	unsigned int end = (unsigned int)port + size;

	if (end > NPORTS)
		return -1;
	memset(&ports[port], 0, (end - port) * sizeof(ports[0]));
	return 0;
}

int init_inout(void)
{
	struct inout_port **iopp;

	memset(ports, 0, sizeof(ports));
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
	const struct port_handler *ph = &ports[port];
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
