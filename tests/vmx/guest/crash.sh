# shellcheck shell=dash
# First kernel of tests/vmx/vmx-crash.sh, run by /init under busybox sh: a
# KVM host that crashes while its guest runs.
#  1. insmod vmcsinfo (the probe), then kvm + kvm_intel;
#  2. load the crash kernel with Debian's kexec-tools (kexec -p; -i skips
#     purgatory's sha256 checks, ~47 s of Bochs time otherwise);
#  3. start kvmguest (a VM with known state spinning in a loop) and wait
#     until its guest has run;
#  4. print the sysfs VMCSINFO text (base64, byte exact) and crash with sysrq c.
# The crash kernel (guest/crash-save.sh) saves the dump. Every result is a
# "VMXTEST: " line; the host decides pass/fail from them.
D=/sys/kernel/vmcsinfo
KO=/lib/vmcsinfo/vmcsinfo.ko

if out=$(insmod "$KO" 2>&1); then
    echo "VMXTEST: probe-insmod=ok"
else
    echo "VMXTEST: probe-insmod=fail msg=$out"
    exit 1
fi
echo "VMXTEST: note=$(cat "$D/note")"
echo "VMXTEST: sysfs-sha256=$(sha256sum <"$D/vmcsinfo" | cut -d' ' -f1)"
echo "-----BEGIN SYSFS VMCSINFO-----"
base64 <"$D/vmcsinfo"
echo "-----END SYSFS VMCSINFO-----"

while read -r m; do
    if out=$(insmod "/lib/kvm/$m.ko" 2>&1); then
        echo "VMXTEST: kvm-insmod $m=ok"
    else
        echo "VMXTEST: kvm-insmod $m=fail msg=$out"
        exit 1
    fi
done </lib/kvm/order

append=$(cat /boot/crash-cmdline)
t0=$(cut -d' ' -f1 /proc/uptime)
if out=$(kexec -p -i /boot/vmlinuz --initrd=/boot/crash.img --append="$append" 2>&1); then
    echo "VMXTEST: kexec-load=ok crash_loaded=$(cat /sys/kernel/kexec_crash_loaded) from=$t0 to=$(cut -d' ' -f1 /proc/uptime)"
else
    echo "VMXTEST: kexec-load=fail msg=$out"
    exit 1
fi

kvmguest >/tmp/kvmguest.out 2>&1 &
pid=$!
i=0
while [ $i -lt 120 ] && ! grep -q '^KVMGUEST: \(running\|FAIL\)' /tmp/kvmguest.out; do
    sleep 0.5
    i=$((i + 1))
done
sed 's/^/VMXTEST: /' /tmp/kvmguest.out
if ! grep -q '^KVMGUEST: running' /tmp/kvmguest.out || ! kill -0 "$pid" 2>/dev/null; then
    echo "VMXTEST: guest-running=no"
    exit 1
fi
echo "VMXTEST: guest-running=yes pid=$pid"
# Let the vCPU go in and out of the guest a while longer, then crash.
sleep 2
echo "VMXTEST: crashing uptime=$(cut -d' ' -f1 /proc/uptime)"
echo c >/proc/sysrq-trigger
echo "VMXTEST: still-alive-after-sysrq"
exit 1
