/*
 * MMIO ranges in a sorted array with binary search. Ranges change only at
 * device init and on guest BAR programming, both rare, so a read-mostly
 * rwlock protects the table against vCPU threads looking it up.
 */
#include "core/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGES 256

static struct mem_range ranges[MAX_RANGES];
static int nranges;
static pthread_rwlock_t ranges_lock = PTHREAD_RWLOCK_INITIALIZER;

static bool overlaps(const struct mem_range *a, const struct mem_range *b)
{
	return a->base < b->base + b->size && b->base < a->base + a->size;
}

int register_mem(const struct mem_range *mr)
{
	int i, rc = -1;

	if (mr->size == 0 || mr->base + mr->size < mr->base || mr->handler == NULL)
		return -1;
	pthread_rwlock_wrlock(&ranges_lock);
	if (nranges == MAX_RANGES)
		goto out;
	for (i = 0; i < nranges; i++)
		if (overlaps(&ranges[i], mr))
			goto out;
	for (i = nranges; i > 0 && ranges[i - 1].base > mr->base; i--)
		ranges[i] = ranges[i - 1];
	ranges[i] = *mr;
	nranges++;
	rc = 0;
out:
	pthread_rwlock_unlock(&ranges_lock);
	return rc;
}

int unregister_mem(uint64_t base)
{
	int rc = -1;

	pthread_rwlock_wrlock(&ranges_lock);
	for (int i = 0; i < nranges; i++) {
		if (ranges[i].base != base)
			continue;
		memmove(&ranges[i], &ranges[i + 1], (size_t)(nranges - i - 1) * sizeof(ranges[0]));
		nranges--;
		rc = 0;
		break;
	}
	pthread_rwlock_unlock(&ranges_lock);
	return rc;
}

static const struct mem_range *find_range(uint64_t gpa)
{
	int lo = 0, hi = nranges - 1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		const struct mem_range *r = &ranges[mid];

		if (gpa < r->base)
			hi = mid - 1;
		else if (gpa - r->base >= r->size)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int emulate_mem(struct vmctx *ctx, bool write, uint64_t gpa, int size, uint64_t *val)
{
	struct mem_range r;
	const struct mem_range *found;

	pthread_rwlock_rdlock(&ranges_lock);
	found = find_range(gpa);
	if (found != NULL)
		r = *found;
	pthread_rwlock_unlock(&ranges_lock);
	if (found != NULL && r.handler(ctx, write, gpa, size, val, r.arg) == 0)
		return 0;
	if (!write)
		*val = ~0ull;
	return 0;
}
