#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Bochs starts and runs a machine: boot the disk the VMX tests boot (Debian's
# 6.1 kernel, the busybox initramfs) until its first serial output, the
# syslinux greeting on COM1, then stop. A Bochs that cannot start on this
# machine (Debian's 2.7 aborted in its sound code where ALSA found no card)
# fails here in seconds, with its own last words. The bare-machine step runs
# it; it needs no VMX of the host.
# Env: VMCSINFO_CACHE, VMX_TIMEOUT (default here 180), VMX_KEEP=1.
set -euo pipefail
# shellcheck source=lib.sh disable=SC1091
. "$(dirname "$(readlink -f "$0")")/lib.sh"

vmx_init
vmx_host_setup
ABI=$("$KERNELS_SH" version 6.1)
IMAGE=$("$KERNELS_SH" image 6.1)
BASE=$(vmx_base_cpio)
cp "$BASE" "$VMX_WORK/initrd.img"
SERIAL="$OUT_DIR/serial-start.log"
VMX_UNTIL=SYSLINUX VMX_TIMEOUT=${VMX_TIMEOUT_START:-180} \
    vmx_boot start "$IMAGE/boot/vmlinuz-$ABI" "$VMX_WORK/initrd.img" "$SERIAL"
first=$(serial_text "$SERIAL" | grep -m1 -o 'SYSLINUX[^\r]*' || true)
check_if "Bochs starts and the machine writes to its serial port" "${first:-no serial output}" \
    test -n "$first"
[ -n "$first" ] || vmx_show_failure start "$SERIAL"
vmx_finish "Bochs start"
