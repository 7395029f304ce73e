/*
 * Port I/O dispatch. Devices register handlers for port ranges, either
 * statically with INOUT_PORT() (a linker set walked at start-up) or at init
 * time with register_inout() (ports chosen by configuration, e.g. COM1).
 * A vCPU's KVM_EXIT_IO is routed here; there is no switch over ports.
 */
#ifndef KHYVE_INOUT_H
#define KHYVE_INOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "linker_set.h"

struct vmctx;

#define IOPORT_F_IN 0x1
#define IOPORT_F_OUT 0x2
#define IOPORT_F_INOUT (IOPORT_F_IN | IOPORT_F_OUT)

/*
 * in: true for IN (handler stores *val, only the low "bytes" bytes count),
 * false for OUT (*val holds the value). Return 0 when handled, -1 to treat as
 * unhandled (reads see all ones, writes are dropped).
 */
typedef int (*inout_func_t)(struct vmctx *ctx, bool in, uint16_t port, int bytes,
			    uint32_t *val, void *arg);

struct inout_port {
	const char *name;
	uint16_t port;
	uint16_t size;
	int flags;
	inout_func_t handler;
	void *arg;
};

#define INOUT_PORT(name, port, flags, handler)                                  \
	static struct inout_port KH_CONCAT(__inout_port, __LINE__) = {          \
		#name, (port), 1, (flags), (handler), 0                         \
	};                                                                      \
	DATA_SET(inout_port_set, KH_CONCAT(__inout_port, __LINE__))

/*
 * n one-byte writes to port, in the order the guest made them: what KVM
 * queued while the port's writes were coalesced (core/coalesce.h). A device
 * gives one when it can take them together (a UART hands its backend one
 * write instead of n).
 */
typedef void (*inout_burst_func_t)(struct vmctx *ctx, uint16_t port, const uint8_t *data,
				   size_t n, void *arg);

/* Returns -1 if the range overlaps an existing registration. */
int register_inout(const struct inout_port *iop);
int unregister_inout(uint16_t port, uint16_t size);
/* Add a burst handler to a registered port (-1 if nothing handles its writes). */
int inout_set_burst(uint16_t port, inout_burst_func_t burst);
/* Registers every INOUT_PORT() in the linker set. */
int init_inout(void);

/*
 * Handle one access. Unclaimed ports: reads return all ones, writes are
 * ignored (or counted as an error when x86.strictio is set: returns -1).
 */
int emulate_inout(struct vmctx *ctx, bool in, uint16_t port, int bytes, uint32_t *val);
/* n one-byte writes to port: its burst handler if it has one, else one by one. */
void emulate_out_burst(struct vmctx *ctx, uint16_t port, const uint8_t *data, size_t n);

#endif
