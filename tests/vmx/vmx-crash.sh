#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The crash proof (issue 10): a real crash of a KVM host running a real
# guest, read back with vmcsinfo-crash. One Bochs run on the VMX CPU
# (corei7_haswell_4770), Debian's 6.12 kernel booted with crashkernel=128M:
#  - vmcsinfo probes, kvm + kvm_intel load, Debian's kexec-tools loads the
#    crash kernel (kexec -p), kvmguest runs a VM with known state in a
#    thread, and sysrq c crashes the host while the guest runs;
#  - the crash kernel saves /proc/vmcore with Debian's makedumpfile
#    (-d 31, -l and -c, flattened) onto a second disk;
#  - after Bochs exits, the host cuts both dumps out of that disk, rebuilds
#    them with makedumpfile -R and checks (tests/vmx/crash-check.py) that
#    vmcsinfo-crash finds the VMCSINFO note equal byte for byte to the
#    crashed kernel's sysfs text, exactly one VMCS, and in it the state
#    kvmguest set (GUEST_RIP inside its loop); that the kernel log read from
#    each dump (dmesg.py) equals makedumpfile --dump-dmesg's and names the
#    probed CPU; and that vmcsinfo-crash --db, on a copy of the dump without
#    note and sidecar, serves the layout from a database seeded with the
#    sysfs text and decodes the same fields (issue 12).
# Writes build/vmx/corei7_haswell_4770/serial-6.12-crash.log and crash/ beside
# it (the dumps, their reports). Exit 0 only if every expectation held.
# Needs the project venv (make venv). Env: as vmx-kvm.sh; VMX_TIMEOUT
# defaults to 1200 here.
set -euo pipefail
VMX_TIMEOUT=${VMX_TIMEOUT:-1200}
# shellcheck source=lib.sh disable=SC1091
. "$(dirname "$(readlink -f "$0")")/lib.sh"

SERIES=6.12
VENV=${VMCSINFO_VENV:-$REPO_ROOT/.venv}
[ -x "$VENV/bin/vmcsinfo-crash" ] || die "no $VENV/bin/vmcsinfo-crash: run make venv first"
vmx_prepare "$SERIES"
# Debian's kexec-tools (into the first kernel) and makedumpfile (into the
# crash kernel, and -R on this side).
ensure_pkgs kexec-tools makedumpfile
KEXEC=$(command -v kexec) || die "kexec not found after installing kexec-tools"
command -v makedumpfile >/dev/null || die "makedumpfile not found"

CRASH_OUT="$OUT_DIR/crash"
rm -rf "$CRASH_OUT"
mkdir -p "$CRASH_OUT"

# The dump disk: 520 x 16 x 63 sectors (256 MiB), regions at 1 and 128 MiB.
VMX_DUMP_CYLINDERS=520
VMX_DUMP_DISK="$VMX_WORK/dump-disk.img"
truncate -s $((VMX_DUMP_CYLINDERS * 516096)) "$VMX_DUMP_DISK"
export VMX_DUMP_DISK VMX_DUMP_CYLINDERS
sectors=$((VMX_DUMP_CYLINDERS * 16 * 63))

# The crash kernel's initramfs: busybox and /init, the ATA modules for the
# dump disk, makedumpfile, and crash-save.sh as its test.
ATA=$(vmx_kmod_cpio "$ABI" "$IMAGE" ata ata_piix sd_mod)
MKDUMP=$(vmx_bin_cpio makedumpfile makedumpfile)
stage="$VMX_WORK/crash-run"
mkdir -p "$stage"
install -m 0644 "$VMX_DIR/guest/crash-save.sh" "$stage/test.sh"
mk_cpio "$stage" "$VMX_WORK/crash-run.cpio"
cat "$BASE" "$ATA" "$MKDUMP" "$VMX_WORK/crash-run.cpio" >"$VMX_WORK/crash.img"

# The first kernel's: KVM, kexec, and the kernel, crash initramfs and crash
# command line for kexec -p (machine-notes: what the crash kernel needs).
KVM=$(vmx_kvm_cpio "$ABI" "$IMAGE")
KEXEC_CPIO=$(vmx_bin_cpio kexec "$(basename "$KEXEC")")
RUN=$(vmx_run_cpio "$VMX_DIR/guest/crash.sh" "$KO")
stage="$VMX_WORK/boot"
mkdir -p "$stage/boot"
cp "$IMAGE/boot/vmlinuz-$ABI" "$stage/boot/vmlinuz"
cp "$VMX_WORK/crash.img" "$stage/boot/crash.img"
printf '%s\n' "console=ttyS0,115200 maxcpus=1 nr_cpus=1 reset_devices irqpoll cryptomgr.notests=1 rodata=off nopti quiet vmcsinfo_dumpdisk_sectors=$sectors" \
    >"$stage/boot/crash-cmdline"
mk_cpio "$stage" "$VMX_WORK/boot.cpio"
cat "$BASE" "$KVM" "$KEXEC_CPIO" "$RUN" "$VMX_WORK/boot.cpio" >"$VMX_WORK/initrd.img"

VMX_CMDLINE="$VMX_CMDLINE crashkernel=128M"
vmx_boot_checked "$SERIES-crash"

for key in probe-insmod= kexec-load= guest-running= vmcore= dump-disk=; do
    v=$(serial_get "$SERIAL" "$key")
    case "$key" in
        probe-insmod=) ok="ok" ;;
        kexec-load=) ok="ok crash_loaded=1 *" ;;
        guest-running=) ok="yes *" ;;
        vmcore=) ok="present *" ;;
        dump-disk=) ok="/dev/sd*" ;;
    esac
    # shellcheck disable=SC2254 # $ok is a pattern
    case "$v" in
        $ok) check "${key%=}" 1 "$v" ;;
        *) check "${key%=}" 0 "${v:-no result}" ;;
    esac
done
serial_text "$SERIAL" | grep '^VMXTEST: makedumpfile ' | sed 's/^VMXTEST: /crash kernel: /' >&2 || true

# The sysfs text as the first kernel printed it (base64, byte exact).
serial_text "$SERIAL" | sed -n '/^-----BEGIN SYSFS VMCSINFO-----$/,/^-----END SYSFS VMCSINFO-----$/p' |
    sed '1d;$d' | base64 -d >"$CRASH_OUT/sysfs-vmcsinfo" 2>/dev/null || true

for kind in lzo zlib; do
    v=$(serial_get "$SERIAL" "saved $kind ")
    off=$(printf '%s' "$v" | sed -n 's/.*offset=\([0-9]*\).*/\1/p')
    bytes=$(printf '%s' "$v" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')
    if [ -z "$off" ] || [ -z "$bytes" ]; then
        check "crash kernel saved the $kind dump" 0 "$(serial_get "$SERIAL" "save $kind=" || true)"
        continue
    fi
    check "crash kernel saved the $kind dump" 1 "$bytes bytes, uptime ${v#*from=}"
    dd if="$VMX_DUMP_DISK" of="$CRASH_OUT/dump-$kind.flat" iflag=skip_bytes,count_bytes \
        skip="$off" count="$bytes" status=none
    if makedumpfile -R "$CRASH_OUT/dump.$kind" <"$CRASH_OUT/dump-$kind.flat" >"$CRASH_OUT/makedumpfile-R-$kind.log" 2>&1; then
        check "makedumpfile -R rebuilds the $kind dump" 1 "$(stat -c %s "$CRASH_OUT/dump.$kind") bytes"
    else
        check "makedumpfile -R rebuilds the $kind dump" 0 "$(tail -n 3 "$CRASH_OUT/makedumpfile-R-$kind.log" | tr '\n' ' ')"
    fi
done

# vmcsinfo-crash on every dump, checked against what the guest side printed.
while IFS=$'\t' read -r ok name detail; do
    check "$name" "$ok" "$detail"
done < <("$VENV/bin/python" "$VMX_DIR/crash-check.py" "$SERIAL" "$CRASH_OUT" "$VENV/bin/vmcsinfo-crash" ||
    printf '0\tcrash-check.py ran to its end\texit status %s\n' "$?")

say "dumps and reports: ${CRASH_OUT#"$REPO_ROOT"/}/"
vmx_finish "kdump crash of a KVM host ($ABI, kvm_intel, a running guest)"
