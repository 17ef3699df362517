/* SPDX-License-Identifier: GPL-2.0-only */
/* Simulator shim of <linux/string.h>: memcpy, memset. */
#ifndef VMCSINFO_SIM_LINUX_STRING_H
#define VMCSINFO_SIM_LINUX_STRING_H

#include <string.h>

#endif /* VMCSINFO_SIM_LINUX_STRING_H */
