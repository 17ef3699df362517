#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Boot Debian's 6.12 kernel under Bochs on a VMX CPU (corei7_haswell_4770) and
# check vmcsinfo against KVM in one boot:
#  (a) insmod vmcsinfo succeeds (probe, VMX left off); then kvm + kvm_intel
#      from the image load and KVM works (kvmcheck: /dev/kvm, API version,
#      KVM_CREATE_VM, KVM_CREATE_VCPU);
#  (b) rmmod vmcsinfo (its note is gone from memory); with kvm_intel loaded (6.12 does VMXON at load) insmod
#      vmcsinfo must fail with EBUSY and a "vmcsinfo:" log line, and KVM must
#      still work.
# Writes build/vmx/corei7_haswell_4770/serial-6.12-kvm.log. Exit 0 only if every
# expectation held.
# Env: MODULE_KO_6_12 (or MODULE_KO) tests a prebuilt module instead of building
# module-src; VMCSINFO_CACHE, VMX_TIMEOUT, VMX_IPS, VMX_MEGS, VMX_KEEP=1.
set -euo pipefail
# shellcheck source=lib.sh disable=SC1091
. "$(dirname "$(readlink -f "$0")")/lib.sh"

SERIES=6.12
vmx_prepare "$SERIES"

KVM=$(vmx_kvm_cpio "$ABI" "$IMAGE")
RUN=$(vmx_run_cpio "$VMX_DIR/guest/kvm.sh" "$KO")
cat "$BASE" "$KVM" "$RUN" >"$VMX_WORK/initrd.img"

vmx_boot_checked "$SERIES-kvm"

# (a)
v=$(serial_get "$SERIAL" "probe-insmod=")
check_if "(a) insmod vmcsinfo before KVM: probe succeeds" "${v:-no result}" test "$v" = ok
mods=$(serial_text "$SERIAL" | sed -n 's/^VMXTEST: kvm-insmod //p')
bad=$(printf '%s\n' "$mods" | grep -v '=ok$' || true)
ok=0
[ -n "$mods" ] && [ -z "$bad" ] && ok=1
check "(a) insmod kvm modules" "$ok" "$(printf '%s' "${mods:-none}" | tr '\n' ' ')"
v=$(serial_get "$SERIAL" "kvmcheck-after-load ")
check_if "(a) KVM usable (kvmcheck)" "${v:-no result}" test "${v#KVMCHECK: PASS}" != "$v"

# (b)
v=$(serial_get "$SERIAL" "rmmod=")
check_if "(b) rmmod vmcsinfo" "${v:-no result}" test "$v" = ok
v=$(serial_get "$SERIAL" "note-gone ")
check_if "(b) the freed note pages hold no VMCSINFO note (cleared before free)" "${v:-no result}" \
    test "${v#NOTECHECK: PASS}" != "$v"
v=$(serial_get "$SERIAL" "busy-insmod ")
busy=0
case "$v" in
    "rc=0 "*) ;;
    *"Device or resource busy"*) busy=1 ;;
esac
check "(b) insmod vmcsinfo with kvm_intel loaded fails with EBUSY" "$busy" "${v:-no result}"
v=$(serial_get "$SERIAL" "busy-dmesg ")
check_if "(b) refusal logged as a vmcsinfo: kernel line" "${v:-none}" test -n "$v"
v=$(serial_get "$SERIAL" "kvmcheck-after-busy ")
check_if "(b) KVM still usable after the refused load (kvmcheck)" "${v:-no result}" \
    test "${v#KVMCHECK: PASS}" != "$v"

vmx_finish "$ABI + kvm_intel"
