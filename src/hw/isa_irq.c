#include "hw/isa_irq.h"

#include <pthread.h>
#include <stdint.h>

#include "lib/vmmapi.h"

#define ISA_IRQS 16

static uint32_t sources[ISA_IRQS];
static pthread_mutex_t irq_lock = PTHREAD_MUTEX_INITIALIZER;

void isa_irq_set(struct vmctx *ctx, int irq, int source, bool level)
{
	uint32_t before, bit = 1u << source;

	if (irq < 0 || irq >= ISA_IRQS || source < 0 || source > 31)
		return;
	pthread_mutex_lock(&irq_lock);
	before = sources[irq];
	sources[irq] = level ? before | bit : before & ~bit;
	if ((before != 0) != (sources[irq] != 0))
		vm_set_irq_line(ctx, (uint32_t)irq, sources[irq] != 0);
	pthread_mutex_unlock(&irq_lock);
}
