/* SPDX-License-Identifier: GPL-2.0-only */
/* Simulator shim of <linux/stdarg.h>: va_list and friends. */
#ifndef VMCSINFO_SIM_LINUX_STDARG_H
#define VMCSINFO_SIM_LINUX_STDARG_H

#include <stdarg.h>

#endif /* VMCSINFO_SIM_LINUX_STDARG_H */
