/*
 * ISA interrupt lines shared by several devices (COM1 and COM3 both use IRQ 4):
 * the line KVM sees is the OR of every source's level.
 */
#ifndef KHYVE_ISA_IRQ_H
#define KHYVE_ISA_IRQ_H

#include <stdbool.h>

struct vmctx;

/* source: a small per-device number (0..31) unique on that line. */
void isa_irq_set(struct vmctx *ctx, int irq, int source, bool level);

#endif
