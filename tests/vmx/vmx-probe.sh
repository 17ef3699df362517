#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Boot Debian's 6.1 kernel under Bochs on a VMX CPU (corei7_haswell_4770), load
# vmcsinfo.ko and check CONTRACT 1: insmod works, /sys/kernel/vmcsinfo/{note,vmcsinfo}
# are mode 0400, and the note in physical memory (read via /proc/kcore) carries
# exactly the vmcsinfo text.
#
# Writes build/vmx/corei7_haswell_4770/vmcsinfo (the probed text) and
# serial-6.1.log. Exit 0 only if every check passed.
# Env: MODULE_KO_6_1 (or MODULE_KO) tests a prebuilt module instead of building
# module-src; VMCSINFO_CACHE, VMX_TIMEOUT, VMX_IPS, VMX_MEGS, VMX_KEEP=1.
set -euo pipefail
# shellcheck source=lib.sh disable=SC1091
. "$(dirname "$(readlink -f "$0")")/lib.sh"

SERIES=6.1
vmx_prepare "$SERIES"

RUN=$(vmx_run_cpio "$VMX_DIR/guest/probe.sh" "$KO")
cat "$BASE" "$RUN" >"$VMX_WORK/initrd.img"

TEXT_OUT="$OUT_DIR/vmcsinfo"
rm -f "$TEXT_OUT"
vmx_boot_checked "$SERIES"
ins=$(serial_get "$SERIAL" "insmod=")
check_if "insmod vmcsinfo.ko" "${ins:-no result}" test "$ins" = ok
for f in note vmcsinfo; do
    mode=$(serial_get "$SERIAL" "mode $f=")
    check_if "/sys/kernel/vmcsinfo/$f mode 0400" "${mode:-no result}" test "$mode" = 400
done
nc=$(serial_text "$SERIAL" | grep '^NOTECHECK: ' | head -n1 || true)
check_if "ELF note in physical memory matches vmcsinfo (notecheck via /proc/kcore)" \
    "${nc:-no NOTECHECK line}" test "${nc#NOTECHECK: }" != "${nc#NOTECHECK: PASS}"

# The text between the markers, byte-exact (checked against the guest's sha256).
want=$(serial_get "$SERIAL" "vmcsinfo bytes=")
want_sha=${want##*sha256=}
serial_text "$SERIAL" | awk '
    $0 == "-----END VMCSINFO-----" { on = 0 }
    on { print }
    $0 == "-----BEGIN VMCSINFO-----" { on = 1 }' >"$VMX_WORK/text"
got_sha=$(sha256sum <"$VMX_WORK/text" | cut -d' ' -f1)
if [ -n "$want" ] && [ "$got_sha" != "$want_sha" ]; then
    # The guest added a newline after a text that lacks one.
    head -c -1 "$VMX_WORK/text" >"$VMX_WORK/text2"
    mv "$VMX_WORK/text2" "$VMX_WORK/text"
    got_sha=$(sha256sum <"$VMX_WORK/text" | cut -d' ' -f1)
fi
if [ -n "$want" ] && [ "$got_sha" = "$want_sha" ] && [ -s "$VMX_WORK/text" ]; then
    cp "$VMX_WORK/text" "$TEXT_OUT"
    check "vmcsinfo text extracted" 1 "$(wc -l <"$TEXT_OUT") lines -> ${TEXT_OUT#"$REPO_ROOT"/}"
else
    check "vmcsinfo text extracted" 0 "guest: ${want:-none}, host sha256 $got_sha"
fi

vmx_finish "$ABI"
