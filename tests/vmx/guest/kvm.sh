# shellcheck shell=dash
# Guest side of tests/vmx/vmx-kvm.sh, run by /init under busybox sh.
# (a) vmcsinfo probes, then kvm + kvm_intel load and KVM works;
# (b) with kvm_intel loaded (6.12 does VMXON at load) vmcsinfo must refuse
#     with EBUSY and KVM must keep working.
# Every result is a "VMXTEST: " line; the host decides pass/fail from them.
KO=/lib/vmcsinfo/vmcsinfo.ko
fail=0

vmcsinfo_lines() { dmesg | grep -c 'vmcsinfo:'; }

if out=$(insmod "$KO" 2>&1); then
    echo "VMXTEST: probe-insmod=ok"
else
    echo "VMXTEST: probe-insmod=fail msg=$out"
    fail=1
fi
if [ -e /sys/kernel/vmcsinfo/vmcsinfo ]; then
    echo "VMXTEST: probe-text-lines=$(wc -l </sys/kernel/vmcsinfo/vmcsinfo)"
fi

while read -r m; do
    if out=$(insmod "/lib/kvm/$m.ko" 2>&1); then
        echo "VMXTEST: kvm-insmod $m=ok"
    else
        echo "VMXTEST: kvm-insmod $m=fail msg=$out"
        fail=1
    fi
done </lib/kvm/order
r=$(kvmcheck 2>&1) || fail=1
echo "VMXTEST: kvmcheck-after-load $r"

cp /sys/kernel/vmcsinfo/note /tmp/note.before 2>/dev/null
if out=$(rmmod vmcsinfo 2>&1); then
    echo "VMXTEST: rmmod=ok"
    # The module clears its note before freeing it: no stale note in free memory.
    echo "VMXTEST: note-gone $(notecheck --gone /tmp/note.before 2>&1)"
else
    echo "VMXTEST: rmmod=fail msg=$out"
    fail=1
fi

before=$(vmcsinfo_lines)
out=$(insmod "$KO" 2>&1)
rc=$?
echo "VMXTEST: busy-insmod rc=$rc msg=$out"
[ "$rc" -ne 0 ] || fail=1
dmesg | grep 'vmcsinfo:' | tail -n +"$((before + 1))" | sed 's/^/VMXTEST: busy-dmesg /'
r=$(kvmcheck 2>&1) || fail=1
echo "VMXTEST: kvmcheck-after-busy $r"

echo "VMXTEST: lsmod $(lsmod | awk 'NR > 1 { printf "%s ", $1 }')"
dmesg | grep -E 'vmcsinfo:|kvm' | sed 's/^/DMESG: /'
exit $fail
