# shellcheck shell=bash
# Sourced helpers: install Debian packages that are missing (as root, or via
# sudo), running `apt-get update` once first when apt has no package lists.
# Messages go to stderr, prefixed with $PROG when the caller sets it.

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_lists_ready=
ensure_apt_lists() {
    [ -n "$apt_lists_ready" ] && return 0
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        printf '%s: apt lists missing: apt-get update\n' "${PROG:-deps}" >&2
        as_root apt-get update -q >&2
    fi
    apt_lists_ready=1
}

ensure_pkgs() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    ensure_apt_lists
    printf '%s: installing %s\n' "${PROG:-deps}" "${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}
