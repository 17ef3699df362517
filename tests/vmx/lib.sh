# shellcheck shell=bash
# Shared code of the Bochs VMX harness (tests/vmx/vmx-*.sh): host packages,
# module build, initramfs pieces, FAT boot disk, the Bochs run and the checks.
# Sourced by the entry points.

VMX_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VMX_DIR/../.." && pwd)
# shellcheck disable=SC2034 # used by the entry points
KERNELS_SH="$REPO_ROOT/scripts/kernels.sh"
MODSRC="$REPO_ROOT/collections/ansible_collections/fujitsu/vmcsinfo/module-src"
CACHE=${VMCSINFO_CACHE:-$HOME/.cache/vmcsinfo}
export VMCSINFO_CACHE="$CACHE"
VMX_CACHE="$CACHE/vmx"

CPU_MODEL=${VMX_CPU_MODEL:-corei7_haswell_4770}
OUT_DIR="$REPO_ROOT/build/vmx/$CPU_MODEL"
LOG_DIR="$REPO_ROOT/build/vmx/logs"
VMX_MEGS=${VMX_MEGS:-512}
# Emulated instructions per emulated second. Bochs runs at very roughly
# 50-100 MIPS here; with clock sync=none a value near that keeps the guest's
# timer interrupt load and sleeps close to real time.
VMX_IPS=${VMX_IPS:-80000000}
VMX_TIMEOUT=${VMX_TIMEOUT:-600}
VMX_CMDLINE=${VMX_CMDLINE:-console=ttyS0,115200 quiet cryptomgr.notests=1 rodata=off nopti}

PROG=$(basename "$0" .sh)

VMX_WORK=
vmx_cleanup() {
    if [ -n "$VMX_WORK" ] && [ -d "$VMX_WORK" ]; then
        if [ -n "${VMX_KEEP:-}" ]; then
            say "kept work dir $VMX_WORK"
        else
            rm -rf "$VMX_WORK"
        fi
    fi
}

vmx_init() {
    mkdir -p "$OUT_DIR" "$LOG_DIR" "$VMX_CACHE"
    VMX_WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmx-$PROG.XXXXXX")
    trap vmx_cleanup EXIT
}

# shellcheck source=../../scripts/debpkgs.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../scripts/debpkgs.sh"

vmx_host_setup() {
    ensure_pkgs bochs bochsbios vgabios busybox-static mtools syslinux syslinux-common \
        cpio xz-utils zstd gzip kmod gcc libc6-dev linux-libc-dev binutils make coreutils
    if command -v bochs-bin >/dev/null; then
        BOCHS=bochs-bin
    else
        BOCHS=bochs
    fi
    BUSYBOX=$(command -v busybox) || die "busybox not found"
    file_is_static "$BUSYBOX" || die "$BUSYBOX is not static (need busybox-static)"
}

file_is_static() {
    # A static binary has no PT_INTERP program header.
    ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

sha_of() { cat "$@" | sha256sum | cut -c1-16; }

# Copy a kernel module, decompressing .xz/.zst/.gz (busybox insmod and
# init_module() want plain ELF).
kmod_copy() {
    local src=$1 dst=$2
    case "$src" in
        *.ko.xz) xz -dc "$src" >"$dst" ;;
        *.ko.zst) zstd -qdc "$src" >"$dst" ;;
        *.ko.gz) gzip -dc "$src" >"$dst" ;;
        *.ko) cp "$src" "$dst" ;;
        *) die "not a kernel module: $src" ;;
    esac
}

# newc cpio of a staging directory, owned by root.
mk_cpio() {
    local dir=$1 out=$2
    (cd "$dir" && find . -mindepth 1 -print0 | LC_ALL=C sort -z \
        | cpio --null --create --format=newc --owner=0:0 --quiet) >"$out"
}

# Print the vmcsinfo.ko to test for SERIES on kernel ABI: MODULE_KO_6_1 /
# MODULE_KO_6_12 / MODULE_KO if set, otherwise a fresh build of MODSRC
# (in a copy, so concurrent runs don't share objects) against KDIR.
vmx_module() {
    local series=$1 abi=$2 kdir=$3 var ko vermagic
    var="MODULE_KO_${series//./_}"
    ko=${!var:-${MODULE_KO:-}}
    if [ -n "$ko" ]; then
        [ -f "$ko" ] || die "$var/MODULE_KO: no such file $ko"
        say "module: $ko (from \$$var or \$MODULE_KO)" >&2
    else
        [ -f "$MODSRC/Makefile" ] || die "no $MODSRC/Makefile (set $var=/path/to/vmcsinfo.ko to test another build)"
        local src="$VMX_WORK/module-src" log="$LOG_DIR/module-build-$abi.log"
        rm -rf "$src"
        cp -a "$MODSRC/." "$src"
        # Drop build products of in-tree builds for another kernel.
        find "$src" \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' \
            -o -name '.*.cmd' -o -name Module.symvers -o -name modules.order \) -delete
        say "module: make -C <copy of module-src> KDIR=$kdir modules" >&2
        # Isolated from a calling make (its MAKEFLAGS would leak variables in).
        if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
            make -C "$src" KDIR="$kdir" modules >"$log" 2>&1; then
            tail -n 40 "$log" >&2
            die "module build against $abi failed (log: $log)"
        fi
        if grep -q 'warning:' "$log"; then
            grep 'warning:' "$log" >&2
            say "module build has compiler warnings (log: $log)" >&2
        fi
        ko=$(find "$src" -name vmcsinfo.ko -print -quit)
        [ -n "$ko" ] || die "module build produced no vmcsinfo.ko (log: $log)"
    fi
    vermagic=$(modinfo -F vermagic "$ko" | awk '{ print $1 }')
    [ "$vermagic" = "$abi" ] || die "$ko is built for '$vermagic', not $abi"
    cp "$ko" "$VMX_WORK/vmcsinfo.ko"
    printf '%s\n' "$VMX_WORK/vmcsinfo.ko"
}

# Cached initramfs piece: busybox, /init, the static C helpers.
vmx_base_cpio() {
    local key out stage h cc
    cc=$(gcc -dumpfullversion)
    key=$(printf '%s\n' "$cc" | sha_of - "$BUSYBOX" "$VMX_DIR/guest/init" \
        "$VMX_DIR/notecheck.c" "$VMX_DIR/kvmcheck.c" "$VMX_DIR/kvmguest.c")
    out="$VMX_CACHE/base-$key.cpio"
    if [ ! -f "$out" ]; then
        say "building initramfs base piece" >&2
        stage="$VMX_WORK/base"
        mkdir -p "$stage/bin" "$stage/lib" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp"
        cp "$BUSYBOX" "$stage/bin/busybox"
        install -m 0755 "$VMX_DIR/guest/init" "$stage/init"
        for h in notecheck kvmcheck kvmguest; do
            gcc -static -O2 -Wall -Wextra -Werror -pthread -s -o "$stage/bin/$h" "$VMX_DIR/$h.c"
        done
        mk_cpio "$stage" "$out.tmp.$$"
        mv "$out.tmp.$$" "$out"
    fi
    printf '%s\n' "$out"
}

# Resolve a module and its dependencies (modinfo -F depends), deps first.
# Appends "name path" lines to the global KMOD_ORDER array.
KMOD_ORDER=()
kmod_resolve() {
    local moddir=$1 name=$2 file dep entry
    for entry in "${KMOD_ORDER[@]}"; do
        [ "${entry%% *}" = "$name" ] && return 0
    done
    file=$(find "$moddir" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) -print -quit)
    [ -n "$file" ] || die "module $name not found under $moddir"
    for dep in $(modinfo -F depends "$file" | tr ',' ' '); do
        kmod_resolve "$moddir" "$dep"
    done
    KMOD_ORDER+=("$name $file")
}

# Cached initramfs piece: the kernel modules MODULE... and their dependencies
# from the image, decompressed, under /lib/DIR with /lib/DIR/order (load order).
vmx_kmod_cpio() {
    local abi=$1 image=$2 dir=$3 out stage entry name file m
    shift 3
    out="$VMX_CACHE/$dir-$abi-$(printf '%s\n' "$@" | sha_of -).cpio"
    if [ ! -f "$out" ]; then
        say "building initramfs $dir piece for $abi ($*)" >&2
        stage="$VMX_WORK/$dir"
        mkdir -p "$stage/lib/$dir"
        KMOD_ORDER=()
        for m in "$@"; do
            kmod_resolve "$image/lib/modules/$abi" "$m"
        done
        : >"$stage/lib/$dir/order"
        for entry in "${KMOD_ORDER[@]}"; do
            name=${entry%% *}
            file=${entry#* }
            kmod_copy "$file" "$stage/lib/$dir/$name.ko"
            printf '%s\n' "$name" >>"$stage/lib/$dir/order"
        done
        mk_cpio "$stage" "$out.tmp.$$"
        mv "$out.tmp.$$" "$out"
    fi
    printf '%s\n' "$out"
}

# kvm_intel and its dependencies under /lib/kvm.
vmx_kvm_cpio() { vmx_kmod_cpio "$1" "$2" kvm kvm_intel; }

# Cached initramfs piece: the host's programs PROG... (Debian's kexec and
# makedumpfile are dynamically linked: kexec pulls in libxenctrl and seven
# more Xen libraries) under /bin, with every shared library ldd lists and
# the ELF interpreter at their own paths. Keyed by the programs' packages.
vmx_bin_cpio() {
    local name=$1 out stage prog path lib key
    shift
    key=$(for prog in "$@"; do
        path=$(command -v "$prog") || die "$prog not found"
        printf '%s %s\n' "$prog" "$(dpkg-query -W -f='${Package}=${Version}' \
            "$(dpkg-query -S "$(readlink -f "$path")" 2>/dev/null | cut -d: -f1 | head -n1)" 2>/dev/null)"
        sha256sum "$(readlink -f "$path")"
    done | sha_of -)
    out="$VMX_CACHE/$name-$key.cpio"
    if [ ! -f "$out" ]; then
        say "building initramfs $name piece ($*)" >&2
        stage="$VMX_WORK/$name"
        mkdir -p "$stage/bin"
        for prog in "$@"; do
            path=$(command -v "$prog")
            cp -L "$path" "$stage/bin/$prog"
            # ldd lines: "libx.so => /path (0x...)" and "/lib64/ld-linux... (0x...)".
            for lib in $(LC_ALL=C ldd "$path" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
                [ -e "$stage$lib" ] && continue
                mkdir -p "$stage$(dirname "$lib")"
                cp -L "$lib" "$stage$lib"
            done
            if LC_ALL=C ldd "$path" | grep -q 'not found'; then
                die "$path needs a library that is not installed: $(LC_ALL=C ldd "$path" | grep 'not found' | tr '\n' ' ')"
            fi
        done
        mk_cpio "$stage" "$out.tmp.$$"
        mv "$out.tmp.$$" "$out"
    fi
    printf '%s\n' "$out"
}

# Per-run initramfs piece: the test script and the module under test.
vmx_run_cpio() {
    local test_sh=$1 ko=$2 out="$VMX_WORK/run.cpio" stage="$VMX_WORK/run"
    mkdir -p "$stage/lib/vmcsinfo"
    install -m 0644 "$test_sh" "$stage/test.sh"
    cp "$ko" "$stage/lib/vmcsinfo/vmcsinfo.ko"
    mk_cpio "$stage" "$out"
    printf '%s\n' "$out"
}

# Bootable FAT disk (no partition table) with syslinux, made without loop
# mounts: mformat, syslinux --install (mtools based), mcopy.
VMX_CYLINDERS=0
vmx_disk() {
    local kernel=$1 initrd=$2 img=$3 mib cyl
    # 16 heads x 63 sectors = 516096 bytes per cylinder; leave headroom.
    mib=$(( ($(stat -c %s "$kernel") + $(stat -c %s "$initrd")) / 1048576 + 16 ))
    cyl=$(( mib * 1048576 / 516096 + 1 ))
    rm -f "$img"
    truncate -s $((cyl * 516096)) "$img"
    mformat -i "$img" -t "$cyl" -h 16 -s 63 -v VMXTEST :: >/dev/null
    syslinux --install "$img"
    # SERIAL: syslinux greets on COM1 too, the first serial output of a boot.
    cat >"$VMX_WORK/syslinux.cfg" <<EOF
SERIAL 0 115200
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /VMLINUZ
  INITRD /INITRD.IMG
  APPEND $VMX_CMDLINE
EOF
    mcopy -i "$img" "$VMX_WORK/syslinux.cfg" ::SYSLINUX.CFG
    mcopy -i "$img" "$kernel" ::VMLINUZ
    mcopy -i "$img" "$initrd" ::INITRD.IMG
    VMX_CYLINDERS=$cyl
}

# LD_PRELOAD shim that keeps Bochs' rfb listener on 127.0.0.1 (cached), for
# a host where Bochs cannot have a network namespace of its own (not root).
vmx_shim() {
    local key out
    key=$(gcc -dumpfullversion | sha_of - "$VMX_DIR/bind-loopback.c")
    out="$VMX_CACHE/bind-loopback-$key.so"
    if [ ! -f "$out" ]; then
        gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$out.tmp.$$" "$VMX_DIR/bind-loopback.c" -ldl
        mv "$out.tmp.$$" "$out"
    fi
    printf '%s\n' "$out"
}

# How Bochs is started: in a network namespace of its own where possible
# (its rfb display then listens where nothing can reach it, and Bochs runs
# side by side with others without competing for ports 5900-5949);
# otherwise with the shim, on loopback. Sets VMX_LAUNCH (a command prefix).
VMX_LAUNCH=()
vmx_launcher() {
    [ ${#VMX_LAUNCH[@]} -gt 0 ] && return 0
    if unshare --net true 2>/dev/null; then
        VMX_LAUNCH=(unshare --net)
    else
        VMX_LAUNCH=(env "LD_PRELOAD=$(vmx_shim)")
    fi
}

# Show what a failed Bochs run left: its own output and log, and the serial
# log (the tail of each).
vmx_show_failure() {
    local tag=$1 f
    for f in "$LOG_DIR/bochs-$tag.out" "$LOG_DIR/bochs-$tag.log" "${2:-}"; do
        if [ -n "$f" ] && [ -s "$f" ]; then show_tail "bochs ($tag)" "$f" 25; fi
    done
    return 0
}

# Boot KERNEL+INITRD under Bochs; serial output goes to SERIAL. Bochs exits 1
# on the guest's power-off, so the caller judges the run by serial markers.
# With VMX_UNTIL=TEXT the run ends as soon as SERIAL holds TEXT (a start-up
# check); VMX_TIMEOUT bounds every run.
vmx_boot() {
    local tag=$1 kernel=$2 initrd=$3 serial=$4
    local img="$VMX_WORK/disk.img" rc_file="$VMX_WORK/bochs.rc" cfg="$VMX_WORK/bochsrc"
    local blog="$LOG_DIR/bochs-$tag.log" out="$LOG_DIR/bochs-$tag.out" t0 t1 rc=0 attempt pid
    vmx_disk "$kernel" "$initrd" "$img"
    rm -f "$serial" "$blog"
    sed -e "s#@MEGS@#$VMX_MEGS#" -e "s#@CPU_MODEL@#$CPU_MODEL#" -e "s#@IPS@#$VMX_IPS#" \
        -e "s#@DISK@#$img#" -e "s#@CYLINDERS@#$VMX_CYLINDERS#" \
        -e "s#@SERIAL@#$serial#" -e "s#@LOG@#$blog#" "$VMX_DIR/bochsrc.in" >"$cfg"
    if [ -n "${VMX_DUMP_DISK:-}" ]; then
        # A second, blank disk on the second ATA channel (the crash proof's
        # dump target), as a flat image of VMX_DUMP_CYLINDERS x 16 x 63.
        printf '%s\n' "ata1: enabled=1, ioaddr1=0x170, ioaddr2=0x370, irq=15" \
            "ata1-master: type=disk, path=\"$VMX_DUMP_DISK\", mode=flat, cylinders=$VMX_DUMP_CYLINDERS, heads=16, spt=63" >>"$cfg"
    fi
    printf 'c\nquit\n' >"$rc_file"
    vmx_launcher
    say "booting $tag under Bochs ($CPU_MODEL, ${VMX_MEGS}M, timeout ${VMX_TIMEOUT}s${VMX_UNTIL:+, until the serial log shows "$VMX_UNTIL"})"
    t0=$(date +%s)
    for attempt in 1 2 3; do
        rc=0
        (cd "$VMX_WORK" && exec "${VMX_LAUNCH[@]}" timeout --kill-after=10 "$VMX_TIMEOUT" \
            "$BOCHS" -q -f "$cfg" -rc "$rc_file" </dev/null >"$out" 2>&1) &
        pid=$!
        if [ -n "${VMX_UNTIL:-}" ]; then
            while kill -0 "$pid" 2>/dev/null && ! grep -qF "$VMX_UNTIL" "$serial" 2>/dev/null; do
                sleep 0.5
            done
            # $pid is timeout(1) (unshare and env exec it): it passes the
            # signal on to Bochs.
            kill -TERM "$pid" 2>/dev/null || true
        fi
        wait "$pid" || rc=$?
        # Only the shim's way: the rfb display needs a free port in 5900-5949.
        grep -q 'RFB could not bind' "$blog" 2>/dev/null || break
        say "bochs found no free rfb port (attempt $attempt), retrying"
        rm -f "$serial" "$blog"
        sleep $((attempt * 5))
    done
    t1=$(date +%s)
    VMX_BOOT_SECONDS=$((t1 - t0))
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        say "TIMING: boot $tag: ${VMX_BOOT_SECONDS}s (TIMED OUT after ${VMX_TIMEOUT}s)"
    else
        say "TIMING: boot $tag: ${VMX_BOOT_SECONDS}s (bochs exit $rc)"
    fi
    touch "$serial"
}

# Serial log without carriage returns.
serial_text() { tr -d '\r' <"$1"; }

# Values of "VMXTEST: KEY..." lines: serial_get FILE PREFIX prints the rest of
# the first line that starts with "VMXTEST: PREFIX".
serial_get() {
    # Reads to the end (no early exit: that would be SIGPIPE under pipefail).
    serial_text "$1" | awk -v p="VMXTEST: $2" '
        !done && index($0, p) == 1 { print substr($0, length(p) + 1); done = 1 }'
}

CHECKS_PASSED=0
CHECKS_FAILED=0
check() {
    local name=$1 ok=$2 detail=${3:-}
    if [ "$ok" = 1 ]; then
        CHECKS_PASSED=$((CHECKS_PASSED + 1))
        say "PASS: $name${detail:+ ($detail)}"
    else
        CHECKS_FAILED=$((CHECKS_FAILED + 1))
        say "FAIL: $name${detail:+ ($detail)}"
    fi
}

# check NAME when a shell test (given as arguments) succeeds.
check_if() {
    local name=$1 detail=$2
    shift 2
    if "$@"; then check "$name" 1 "$detail"; else check "$name" 0 "$detail"; fi
}

# Everything a boot needs for SERIES: sets ABI, IMAGE, KO (the module built
# against that kernel's headers) and BASE (the busybox initramfs part).
# shellcheck disable=SC2034 # globals for the calling script
vmx_prepare() {
    local kdir
    vmx_init
    vmx_host_setup
    ABI=$("$KERNELS_SH" version "$1")
    kdir=$("$KERNELS_SH" headers "$1")
    IMAGE=$("$KERNELS_SH" image "$1")
    say "kernel $ABI"
    KO=$(vmx_module "$1" "$ABI" "$kdir")
    BASE=$(vmx_base_cpio)
}

# Print the run's summary line (LABEL names what ran) and exit 0 only if every
# check passed. SERIAL is the caller's serial log.
# shellcheck disable=SC2153
vmx_finish() {
    say "serial log: ${SERIAL#"$REPO_ROOT"/}"
    if [ "$CHECKS_FAILED" -eq 0 ]; then
        say "SUMMARY: PASS $1 on $CPU_MODEL: $CHECKS_PASSED checks passed, boot ${VMX_BOOT_SECONDS}s"
        exit 0
    fi
    say "SUMMARY: FAIL $1 on $CPU_MODEL: $CHECKS_FAILED of $((CHECKS_PASSED + CHECKS_FAILED)) checks failed, boot ${VMX_BOOT_SECONDS}s"
    exit 1
}

# Boot $IMAGE's kernel with $VMX_WORK/initrd.img, the serial log going to
# $OUT_DIR/serial-NAME.log (sets SERIAL); echo the guest's dmesg lines and
# check what every run needs: the guest finished and its CPU has vmx.
# shellcheck disable=SC2034 # SERIAL is for the calling script
vmx_boot_checked() {
    local end vmx
    SERIAL="$OUT_DIR/serial-$1.log"
    vmx_boot "$1" "$IMAGE/boot/vmlinuz-$ABI" "$VMX_WORK/initrd.img" "$SERIAL"
    serial_text "$SERIAL" | grep '^DMESG: ' | sed 's/^DMESG: /dmesg: /' || true
    end=$(serial_get "$SERIAL" "END ")
    check_if "guest ran to completion" "${end:-no END marker}" test -n "$end"
    [ -n "$end" ] || vmx_show_failure "$1" "$SERIAL"
    vmx=$(serial_get "$SERIAL" "cpu-flag vmx=")
    check_if "guest CPU has vmx" "vmx=${vmx:-?}" test "$vmx" = yes
}
