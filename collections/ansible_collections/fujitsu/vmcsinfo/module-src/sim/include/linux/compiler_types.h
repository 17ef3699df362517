/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Simulator shim of <linux/compiler_types.h>.  Kbuild force-includes the
 * real one into every file (-include); the simulator build does the same
 * with this one, so the core gets its attributes the same way.
 */
#ifndef VMCSINFO_SIM_LINUX_COMPILER_TYPES_H
#define VMCSINFO_SIM_LINUX_COMPILER_TYPES_H

#define __printf(a, b)	__attribute__((format(printf, a, b)))

#endif /* VMCSINFO_SIM_LINUX_COMPILER_TYPES_H */
