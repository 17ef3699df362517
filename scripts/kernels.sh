#!/usr/bin/env bash
# Cache Debian bookworm kernels (headers for out-of-tree builds, images for
# emulated boots) under ${VMCSINFO_CACHE:-$HOME/.cache/vmcsinfo}.
#
#   scripts/kernels.sh version SERIES   newest ABI (e.g. 6.1.0-56-amd64) with image+headers in apt
#   scripts/kernels.sh headers SERIES   unpack headers; print the kbuild dir (make -C DIR M=...)
#   scripts/kernels.sh image SERIES     unpack linux-image; print root (boot/, lib/modules/ABI/)
#
# SERIES is 6.1 or 6.12. KVER_6_1 / KVER_6_12 override the ABI. Progress goes to
# stderr, the answer alone to stdout.
set -euo pipefail

CACHE=${VMCSINFO_CACHE:-$HOME/.cache/vmcsinfo}
PROG=kernels.sh

usage() {
    cat >&2 <<'EOF'
usage: kernels.sh version|headers|image SERIES     (SERIES: 6.1 or 6.12)
EOF
    exit 2
}

# shellcheck source=debpkgs.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/debpkgs.sh"
log() { say "$@"; }

# Candidate version of a package, empty when apt has none.
candidate() {
    local v
    v=$(apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2; exit }')
    [ "$v" = "(none)" ] && v=
    printf '%s' "$v"
}

check_series() {
    case "$1" in
        6.1|6.12) ;;
        *) die "unknown series '$1' (want 6.1 or 6.12)" ;;
    esac
}

# Image package names for an ABI, preferred first.
image_pkgs() {
    printf '%s\n' "linux-image-$1" "linux-image-$1-unsigned"
}

# First image package of an ABI that apt can deliver.
image_pkg() {
    local p
    for p in $(image_pkgs "$1"); do
        if [ -n "$(candidate "$p")" ]; then
            printf '%s' "$p"
            return 0
        fi
    done
    return 1
}

kver() {
    local series=$1 override re prefix abi
    check_series "$series"
    if [ "$series" = 6.1 ]; then
        override=${KVER_6_1:-}
        prefix=linux-headers-6.1.0-
        re='^linux-headers-(6\.1\.0-[0-9]+-amd64)$'
    else
        override=${KVER_6_12:-}
        prefix=linux-headers-6.12.
        re='^linux-headers-(6\.12\.[0-9]+\+deb12-amd64)$'
    fi
    if [ -n "$override" ]; then
        printf '%s\n' "$override"
        return 0
    fi
    ensure_apt_lists
    abi=$(newest_abi "$prefix" "$re")
    if [ -z "$abi" ] && apt_retry_refresh "a kernel of series $series"; then
        abi=$(newest_abi "$prefix" "$re")
    fi
    [ -n "$abi" ] || die "no linux-image + linux-headers pair for series $series in apt (suites searched: $(apt_suites))"
    printf '%s\n' "$abi"
}

# The newest ABI whose headers and image apt can deliver: newest_abi PREFIX RE.
newest_abi() {
    local prefix=$1 re=$2 abi name
    while read -r abi; do
        [ -n "$(candidate "linux-headers-$abi")" ] || continue
        image_pkg "$abi" >/dev/null || continue
        printf '%s\n' "$abi"
        return 0
    done < <(apt-cache pkgnames "$prefix" | while read -r name; do
                 [[ $name =~ $re ]] && printf '%s\n' "${BASH_REMATCH[1]}"
             done | sort -V -r -u)
}

# Download PKG (its candidate version) into the deb cache; print the .deb path.
fetch_deb() {
    local pkg=$1 ver enc f dir="$CACHE/debs"
    ver=$(candidate "$pkg")
    [ -n "$ver" ] || die "apt has no candidate for $pkg (suites searched: $(apt_suites))"
    enc=${ver//:/%3a}
    mkdir -p "$dir"
    f=$(compgen -G "$dir/${pkg}_${enc}_*.deb" | head -n1 || true)
    if [ -z "$f" ]; then
        if ! f=$(download_deb "$pkg" "$ver"); then
            # The archive moved on under old lists (the version is gone): the
            # newest lists name the version to get.
            apt_retry_refresh "$pkg $ver in the archive" || die "apt-get download $pkg=$ver failed"
            ver=$(candidate "$pkg")
            [ -n "$ver" ] || die "apt has no candidate for $pkg after refreshing the lists"
            f=$(download_deb "$pkg" "$ver") || die "apt-get download $pkg=$ver failed after refreshing the lists"
        fi
    fi
    printf '%s\n' "$f"
}

# apt-get download PKG=VER into the deb cache (keyed by the exact version in
# the file name); print the .deb path.
download_deb() {
    local pkg=$1 ver=$2 dir="$CACHE/debs" tmp opts=() f
    log "downloading $pkg $ver"
    tmp=$(mktemp -d "$dir/.dl.XXXXXX")
    # apt's _apt sandbox user can't write into root's $HOME.
    [ "$(id -u)" -eq 0 ] && opts=(-o APT::Sandbox::User=root)
    if ! (cd "$tmp" && run_logged "apt-get download" "$tmp/log" apt-get "${opts[@]}" -q download "$pkg=$ver"); then
        rm -rf "$tmp"
        return 1
    fi
    f=$(compgen -G "$tmp/${pkg}_*.deb" | head -n1 || true)
    [ -n "$f" ] || { rm -rf "$tmp"; die "download of $pkg left no .deb"; }
    mv "$f" "$dir/"
    rm -rf "$tmp"
    printf '%s\n' "$dir/$(basename "$f")"
}

# Dependencies of PKG whose names match the ERE (first alternative only).
deps_matching() {
    apt-cache depends "$1" 2>/dev/null \
        | awk '$1 == "Depends:" { print $2 }' \
        | grep -E "$2" || true
}

# Rewrite absolute symlinks inside ROOT so that they resolve inside ROOT.
fix_abs_symlinks() {
    local root=$1 link target dir rel
    while IFS= read -r -d '' link; do
        target=$(readlink "$link")
        case "$target" in /*) ;; *) continue ;; esac
        dir=$(dirname "$link")
        rel=$(realpath -m --relative-to="$dir" "$root$target")
        ln -sfn "$rel" "$link"
    done < <(find "$root" -type l -print0)
}

cmd_headers() {
    local series=$1 abi root stamp kdir want
    abi=$(kver "$series")
    root="$CACHE/kernels/$abi/headers"
    stamp="$CACHE/kernels/$abi/headers.stamp"
    kdir="$root/usr/src/linux-headers-$abi"
    # Keyed by the exact package version: a rebuilt package unpacks anew.
    want="v2 $root linux-headers-$abi=$(candidate "linux-headers-$abi")"
    # pahole: BTF for 6.12 modules; kbuild's host tools need libelf/libssl.
    ensure_pkgs make gcc-12 libc6-dev libelf1 libssl3 zlib1g dwarves
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$kdir/Makefile" ]; then
        printf '%s\n' "$kdir"
        return 0
    fi
    ensure_apt_lists
    local pkgs=("linux-headers-$abi") debs=() p
    while read -r p; do pkgs+=("$p"); done < <(
        deps_matching "linux-headers-$abi" '^linux-(headers-.*-common|kbuild-.*)$')
    [ ${#pkgs[@]} -ge 3 ] || die "could not find -common and linux-kbuild deps of linux-headers-$abi"
    for p in "${pkgs[@]}"; do debs+=("$(fetch_deb "$p")"); done
    log "unpacking headers for $abi"
    rm -rf "$root" "$stamp"
    mkdir -p "$root"
    for p in "${debs[@]}"; do dpkg-deb -x "$p" "$root"; done
    fix_abs_symlinks "$root"
    # The flavour Makefile includes the -common one by absolute path.
    local mk
    for mk in "$root"/usr/src/linux-headers-*/Makefile; do
        sed -i "s#^include /usr/src/#include $root/usr/src/#" "$mk"
    done
    [ -f "$kdir/Makefile" ] || die "no $kdir/Makefile after unpacking"
    [ -d "$kdir/scripts/" ] || die "kbuild scripts do not resolve in $kdir"
    printf '%s\n' "$want" >"$stamp"
    log "headers ready: $kdir"
    printf '%s\n' "$kdir"
}

cmd_image() {
    local series=$1 abi root stamp pkg deb want
    abi=$(kver "$series")
    root="$CACHE/kernels/$abi/image"
    stamp="$CACHE/kernels/$abi/image.stamp"
    pkg=$(image_pkg "$abi") || die "no linux-image package for $abi in apt (suites searched: $(apt_suites))"
    want="v2 $root $pkg=$(candidate "$pkg")"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$root/boot/vmlinuz-$abi" ]; then
        printf '%s\n' "$root"
        return 0
    fi
    deb=$(fetch_deb "$pkg")
    log "unpacking $pkg"
    rm -rf "$root" "$stamp"
    mkdir -p "$root"
    dpkg-deb -x "$deb" "$root"
    fix_abs_symlinks "$root"
    [ -f "$root/boot/vmlinuz-$abi" ] || die "$deb has no boot/vmlinuz-$abi"
    [ -d "$root/lib/modules/$abi" ] || die "$deb has no lib/modules/$abi"
    printf '%s\n' "$want" >"$stamp"
    log "image ready: $root"
    printf '%s\n' "$root"
}

[ $# -eq 2 ] || usage
check_series "$2"
case "$1" in
    version) kver "$2" ;;
    headers) cmd_headers "$2" ;;
    image) cmd_image "$2" ;;
    *) usage ;;
esac
