/* SPDX-License-Identifier: GPL-2.0-only */
/* Simulator shim of <linux/bits.h>. */
#ifndef VMCSINFO_SIM_LINUX_BITS_H
#define VMCSINFO_SIM_LINUX_BITS_H

#define BITS_PER_BYTE	8
#define BITS_PER_LONG	(__SIZEOF_LONG__ * BITS_PER_BYTE)

#define BIT(nr)		(1UL << (nr))
#define BIT_ULL(nr)	(1ULL << (nr))
#define BIT_MASK(nr)	(1UL << ((nr) % BITS_PER_LONG))
#define BIT_WORD(nr)	((nr) / BITS_PER_LONG)

#endif /* VMCSINFO_SIM_LINUX_BITS_H */
