/*
 * Growing a heap buffer by doubling, for the byte builders (AML, SMBIOS,
 * JSON) that append to one and remember a failure instead of checking
 * every call.
 */
#ifndef KHYVE_GROW_H
#define KHYVE_GROW_H

#include <stdlib.h>

/*
 * buf (capacity *cap, possibly NULL and 0) made to hold at least need
 * bytes: capacity doubled, from first when empty, until it does. Returns
 * the buffer, moved or not, with *cap updated; NULL if memory ran out, buf
 * then untouched and still the caller's.
 */
static inline void *grow_buffer(void *buf, size_t *cap, size_t need, size_t first)
{
	size_t c = *cap != 0 ? *cap : first;
	void *p;

	if (need <= *cap)
		return buf;
	while (c < need)
		c *= 2;
	p = realloc(buf, c);
	if (p != NULL)
		*cap = c;
	return p;
}

#endif
