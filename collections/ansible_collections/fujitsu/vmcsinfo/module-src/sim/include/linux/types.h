/* SPDX-License-Identifier: GPL-2.0-only */
/* Simulator shim of <linux/types.h>: the kernel's integer types. */
#ifndef VMCSINFO_SIM_LINUX_TYPES_H
#define VMCSINFO_SIM_LINUX_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* BITS_TO_LONGS() comes from <linux/bitops.h>, as in the kernel. */
#define DECLARE_BITMAP(name, bits)	unsigned long name[BITS_TO_LONGS(bits)]

#endif /* VMCSINFO_SIM_LINUX_TYPES_H */
