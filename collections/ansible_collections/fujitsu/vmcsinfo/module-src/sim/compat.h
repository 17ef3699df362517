/* SPDX-License-Identifier: GPL-2.0-only */
/* Userspace stand-ins for the kernel types the probe core uses. */
#ifndef VMCSINFO_SIM_COMPAT_H
#define VMCSINFO_SIM_COMPAT_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

#define BIT_ULL(n) (1ULL << (n))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define __printf(a, b) __attribute__((format(printf, a, b)))

#endif /* VMCSINFO_SIM_COMPAT_H */
