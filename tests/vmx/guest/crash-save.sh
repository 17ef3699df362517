# shellcheck shell=dash
# Crash kernel of tests/vmx/vmx-crash.sh, run by /init under busybox sh: save
# /proc/vmcore with Debian's makedumpfile onto the dump disk (the second ATA
# channel), twice: lzo (-l, RHEL's default) and zlib (-c, Debian's), both
# -d 31 and flattened (-F: the disk is a raw device, not a file system).
# The host cuts each region out of the disk image and runs makedumpfile -R.
# The dump disk is the block device of vmcsinfo_dumpdisk_sectors= sectors
# (from the kernel command line). Results are "VMXTEST: " lines.
REGION=$((120 * 1024 * 1024))

if [ ! -e /proc/vmcore ]; then
    echo "VMXTEST: vmcore=missing"
    exit 1
fi
echo "VMXTEST: vmcore=present bytes=$(stat -c %s /proc/vmcore)"

while read -r m; do
    out=$(insmod "/lib/ata/$m.ko" 2>&1) || echo "VMXTEST: ata-insmod $m=fail msg=$out"
done </lib/ata/order

want=$(sed -n 's/.*vmcsinfo_dumpdisk_sectors=\([0-9]*\).*/\1/p' /proc/cmdline)
disk=
i=0
while [ -z "$disk" ] && [ $i -lt 60 ]; do
    for b in /sys/block/sd*; do
        [ -e "$b/size" ] || continue
        [ "$(cat "$b/size")" = "$want" ] && disk=/dev/${b##*/}
    done
    [ -n "$disk" ] || sleep 0.5
    i=$((i + 1))
done
if [ -z "$disk" ]; then
    echo "VMXTEST: dump-disk=missing want=$want sectors have=$(cat /sys/block/*/size 2>/dev/null | tr '\n' ' ')"
    exit 1
fi
echo "VMXTEST: dump-disk=$disk"

fail=0
save() { # NAME FLAG OFFSET_MIB
    t0=$(cut -d' ' -f1 /proc/uptime)
    # busybox dd does not say how many bytes it wrote: wc counts them.
    rm -f /tmp/count
    mkfifo /tmp/count
    wc -c </tmp/count >/tmp/bytes &
    {
        makedumpfile -F "$2" -d 31 /proc/vmcore 2>/tmp/md.err
        echo $? >/tmp/md.rc
    } | tee /tmp/count | dd of="$disk" bs=1048576 seek="$3" 2>/tmp/dd.err
    wait
    bytes=$(tr -dc 0-9 </tmp/bytes)
    t1=$(cut -d' ' -f1 /proc/uptime)
    if [ "$(cat /tmp/md.rc)" = 0 ] && [ -n "$bytes" ] && [ "$bytes" -le $REGION ]; then
        echo "VMXTEST: saved $1 offset=$(($3 * 1048576)) bytes=$bytes from=$t0 to=$t1"
    else
        echo "VMXTEST: save $1=fail rc=$(cat /tmp/md.rc) bytes=${bytes:-?}"
        fail=1
    fi
    # Its messages, without the progress lines (carriage returns).
    tr '\r' '\n' </tmp/md.err | grep -v '^ *$' | grep -v 'Copying data\|Excluding\|Checking for memory' |
        tail -n 6 | sed "s/^/VMXTEST: makedumpfile $1: /"
}
save lzo -l 1
save zlib -c 128
sync
exit $fail
