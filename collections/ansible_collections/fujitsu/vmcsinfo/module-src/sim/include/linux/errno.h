/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Simulator shim of <linux/errno.h>: the kernel's errno numbers are the
 * UAPI ones (EIO, EINVAL, ...) in the system's <linux/errno.h>.  This file
 * shadows that one (-I sim/include), so it forwards with #include_next;
 * <errno.h> would not do: glibc's <bits/errno.h> includes <linux/errno.h>
 * itself and would land back here.
 */
#ifndef VMCSINFO_SIM_LINUX_ERRNO_H
#define VMCSINFO_SIM_LINUX_ERRNO_H

#include_next <linux/errno.h>

#endif /* VMCSINFO_SIM_LINUX_ERRNO_H */
