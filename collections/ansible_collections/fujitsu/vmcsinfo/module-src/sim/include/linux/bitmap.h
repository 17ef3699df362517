/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Simulator shim of <linux/bitmap.h>, with the part of <linux/find.h> that
 * the kernel's bitmap.h brings along (find_*_bit, for_each_set_bit).
 */
#ifndef VMCSINFO_SIM_LINUX_BITMAP_H
#define VMCSINFO_SIM_LINUX_BITMAP_H

#include <linux/bitops.h>
#include <linux/string.h>
#include <linux/types.h>

static inline void bitmap_zero(unsigned long *dst, unsigned int nbits)
{
	memset(dst, 0, BITS_TO_LONGS(nbits) * sizeof(unsigned long));
}

/* First set bit at or after @offset, or @size if there is none. */
static inline unsigned long find_next_bit(const unsigned long *addr,
					  unsigned long size,
					  unsigned long offset)
{
	unsigned long w;

	if (offset >= size)
		return size;
	w = addr[BIT_WORD(offset)] & (~0UL << (offset % BITS_PER_LONG));
	offset -= offset % BITS_PER_LONG;
	while (!w) {
		offset += BITS_PER_LONG;
		if (offset >= size)
			return size;
		w = addr[BIT_WORD(offset)];
	}
	offset += __builtin_ctzl(w);
	return offset < size ? offset : size;
}

static inline unsigned long find_first_bit(const unsigned long *addr,
					   unsigned long size)
{
	return find_next_bit(addr, size, 0);
}

#define for_each_set_bit(bit, addr, size)				\
	for ((bit) = find_first_bit((addr), (size));			\
	     (bit) < (size);						\
	     (bit) = find_next_bit((addr), (size), (bit) + 1))

#endif /* VMCSINFO_SIM_LINUX_BITMAP_H */
