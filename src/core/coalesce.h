/*
 * Coalesced port writes. Every port write a guest makes costs an exit to
 * khyve (~70 us in the nested testbed), and a serial console makes two per
 * byte: a read of LSR, then the THR write. Writes whose effect the guest does
 * not wait for before it next exits anyway (a UART's THR, the CMOS index,
 * POST codes) KVM can queue in a ring instead; khyve replays them, in order,
 * before it handles any exit, so every register the guest reads back already
 * saw them. A timer catches the writes no exit follows (the last byte of a
 * message): 10 ms while the guest is writing, 1 s otherwise.
 *
 * Config: x86.coalesced_io (default true) turns it off.
 */
#ifndef KHYVE_COALESCE_H
#define KHYVE_COALESCE_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "core/inout.h"

struct vmctx;

/*
 * Queue the guest's one-byte writes to port (already registered with
 * register_inout) instead of exiting; burst (may be NULL) takes runs of
 * them. Returns 0, or -1 when KVM or the configuration says no: the writes
 * then exit one by one as before.
 */
int coalesce_port_writes(struct vmctx *ctx, uint16_t port, inout_burst_func_t burst);

/*
 * Start the timer that drains the ring when no exit comes (on the event
 * loop; coalesce_port_writes does it). 0, or -1 (errno).
 */
int coalesce_start_timer(struct vmctx *ctx);
/* Stop it (with the event loop stopped, as mevent_delete requires). */
void coalesce_stop_timer(void);

/* Replay what KVM queued; every vCPU exit calls it before handling the exit. */
void coalesce_drain(struct vmctx *ctx);

/*
 * Replay the entries of ring (max entries) and hand them back to KVM;
 * returns how many. Thread-safe. For coalesce_drain and the unit tests.
 */
size_t coalesce_drain_ring(struct vmctx *ctx, struct kvm_coalesced_mmio_ring *ring,
			   uint32_t max);

#endif
