/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Simulator shim of <linux/bitops.h>: the non-atomic single-bit operations
 * (the simulator is single-threaded; the core only uses its own bitmaps).
 */
#ifndef VMCSINFO_SIM_LINUX_BITOPS_H
#define VMCSINFO_SIM_LINUX_BITOPS_H

#include <linux/bits.h>
#include <linux/types.h>

#define BITS_TO_LONGS(nr)	(((nr) + BITS_PER_LONG - 1) / BITS_PER_LONG)

static inline void __set_bit(unsigned long nr, unsigned long *addr)
{
	addr[BIT_WORD(nr)] |= BIT_MASK(nr);
}

static inline void __clear_bit(unsigned long nr, unsigned long *addr)
{
	addr[BIT_WORD(nr)] &= ~BIT_MASK(nr);
}

static inline bool test_bit(unsigned long nr, const unsigned long *addr)
{
	return (addr[BIT_WORD(nr)] >> (nr % BITS_PER_LONG)) & 1;
}

#endif /* VMCSINFO_SIM_LINUX_BITOPS_H */
