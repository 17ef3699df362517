# shellcheck shell=dash
# Guest side of tests/vmx/vmx-probe.sh, run by /init under busybox sh.
# Every result is a "VMXTEST: " line; the host decides pass/fail from them.
D=/sys/kernel/vmcsinfo
fail=0

if out=$(insmod /lib/vmcsinfo/vmcsinfo.ko 2>&1); then
    echo "VMXTEST: insmod=ok"
else
    echo "VMXTEST: insmod=fail msg=$out"
    fail=1
fi

for f in note vmcsinfo; do
    if [ -e "$D/$f" ]; then
        echo "VMXTEST: mode $f=$(stat -c %a "$D/$f")"
    else
        echo "VMXTEST: mode $f=missing"
        fail=1
    fi
done

if [ -e "$D/note" ]; then
    echo "VMXTEST: note=$(cat "$D/note")"
    notecheck "$D/note" "$D/vmcsinfo" || fail=1
fi

if [ -e "$D/vmcsinfo" ]; then
    echo "VMXTEST: vmcsinfo bytes=$(wc -c <"$D/vmcsinfo") sha256=$(sha256sum <"$D/vmcsinfo" | cut -d' ' -f1)"
    echo "-----BEGIN VMCSINFO-----"
    cat "$D/vmcsinfo"
    # Keep the end marker on its own line (the host checks the sha256).
    [ -z "$(tail -c1 "$D/vmcsinfo")" ] || echo
    echo "-----END VMCSINFO-----"
fi

dmesg | grep 'vmcsinfo:' | sed 's/^/DMESG: /'
exit $fail
