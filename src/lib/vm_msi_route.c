/*
 * MSI routes for irqfds (see vmmapi.h). KVM_SET_GSI_ROUTING replaces the
 * whole table, including the routes KVM_CREATE_IRQCHIP installed for ISA and
 * IOAPIC lines, so every commit sends those again exactly as KVM's default
 * table has them (arch/x86/kvm/irq_comm.c): GSI 0-15 to the IOAPIC pin of
 * that number and to the 8259 pin (master for 0-7, slave for 8-15), GSI
 * 16-23 to the IOAPIC only.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "lib/vmmapi.h"

#define IOAPIC_PINS 24
#define PIC_LINES 16
#define MAX_ROUTES (IOAPIC_PINS + PIC_LINES + VM_MAX_MSI_ROUTES)

static void irqchip_route(struct kvm_irq_routing_entry *e, uint32_t gsi, uint32_t chip,
			  uint32_t pin)
{
	*e = (struct kvm_irq_routing_entry){
		.gsi = gsi,
		.type = KVM_IRQ_ROUTING_IRQCHIP,
		.u.irqchip = { .irqchip = chip, .pin = pin },
	};
}

/* Send the table (route_lock held). */
static int commit_locked(struct vmctx *ctx)
{
	struct kvm_irq_routing *t;
	unsigned n = 0;
	int rc;

	t = calloc(1, sizeof(*t) + MAX_ROUTES * sizeof(t->entries[0]));
	if (t == NULL)
		return -1;
	for (uint32_t gsi = 0; gsi < IOAPIC_PINS; gsi++) {
		irqchip_route(&t->entries[n++], gsi, KVM_IRQCHIP_IOAPIC, gsi);
		if (gsi < PIC_LINES)
			irqchip_route(&t->entries[n++], gsi,
				      gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
				      gsi % 8);
	}
	for (unsigned i = 0; i < VM_MAX_MSI_ROUTES; i++) {
		if (!ctx->msi_route[i].used)
			continue;
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = VM_MSI_GSI_BASE + i,
			.type = KVM_IRQ_ROUTING_MSI,
			.u.msi = {
				.address_lo = (uint32_t)ctx->msi_route[i].addr,
				.address_hi = (uint32_t)(ctx->msi_route[i].addr >> 32),
				.data = ctx->msi_route[i].data,
			},
		};
	}
	t->nr = n;
	rc = ioctl(ctx->vm_fd, KVM_SET_GSI_ROUTING, t);
	free(t);
	return rc < 0 ? -1 : 0;
}

static int set_locked(struct vmctx *ctx, unsigned i, uint64_t addr, uint32_t data)
{
	ctx->msi_route[i].used = true;
	ctx->msi_route[i].addr = addr;
	ctx->msi_route[i].data = data;
	return commit_locked(ctx);
}

int vm_msi_route_add(struct vmctx *ctx, uint64_t addr, uint32_t data)
{
	int gsi = -1;
	unsigned i = 0;

	pthread_mutex_lock(&ctx->route_lock);
	while (i < VM_MAX_MSI_ROUTES && ctx->msi_route[i].used)
		i++;
	if (i == VM_MAX_MSI_ROUTES)
		errno = ENOSPC;
	else if (set_locked(ctx, i, addr, data) == 0)
		gsi = (int)(VM_MSI_GSI_BASE + i);
	else
		ctx->msi_route[i].used = false;
	pthread_mutex_unlock(&ctx->route_lock);
	return gsi;
}

static bool valid_gsi(const struct vmctx *ctx, int gsi)
{
	return gsi >= VM_MSI_GSI_BASE && gsi < VM_MSI_GSI_BASE + VM_MAX_MSI_ROUTES &&
	       ctx->msi_route[gsi - VM_MSI_GSI_BASE].used;
}

int vm_msi_route_set(struct vmctx *ctx, int gsi, uint64_t addr, uint32_t data)
{
	int rc = -1;

	pthread_mutex_lock(&ctx->route_lock);
	if (!valid_gsi(ctx, gsi))
		errno = EINVAL;
	else if (ctx->msi_route[gsi - VM_MSI_GSI_BASE].addr == addr &&
		 ctx->msi_route[gsi - VM_MSI_GSI_BASE].data == data)
		rc = 0;
	else
		rc = set_locked(ctx, (unsigned)(gsi - VM_MSI_GSI_BASE), addr, data);
	pthread_mutex_unlock(&ctx->route_lock);
	return rc;
}

void vm_msi_route_del(struct vmctx *ctx, int gsi)
{
	pthread_mutex_lock(&ctx->route_lock);
	if (valid_gsi(ctx, gsi)) {
		ctx->msi_route[gsi - VM_MSI_GSI_BASE].used = false;
		(void)commit_locked(ctx);
	}
	pthread_mutex_unlock(&ctx->route_lock);
}
