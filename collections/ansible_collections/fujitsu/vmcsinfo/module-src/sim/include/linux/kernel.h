/* SPDX-License-Identifier: GPL-2.0-only */
/* Simulator shim of <linux/kernel.h>: ARRAY_SIZE, snprintf, vsnprintf. */
#ifndef VMCSINFO_SIM_LINUX_KERNEL_H
#define VMCSINFO_SIM_LINUX_KERNEL_H

#include <stdio.h>
#include <linux/bits.h>
#include <linux/types.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#endif /* VMCSINFO_SIM_LINUX_KERNEL_H */
