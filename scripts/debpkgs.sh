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

# The first URI this host's apt sources use for SUITE (one-line .list files
# and deb822 .sources files), or nothing.
host_uri() {
	local suite=$1 f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		awk -v s="$suite" '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) == s) { print $i; exit }
		}' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
		{
			types = uris = suites = ""; enabled = "yes"
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^#/ || !match($i, /^[A-Za-z-]+:/)) continue
				k = tolower(substr($i, 1, RLENGTH - 1)); v = substr($i, RLENGTH + 1)
				gsub(/^[ \t]+|[ \t]+$/, "", v)
				if (k == "types") types = v; else if (k == "uris") uris = v
				else if (k == "suites") suites = v; else if (k == "enabled") enabled = tolower(v)
			}
			if (enabled != "no" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " s " ")) {
				split(uris, u, /[ \t]+/); print u[1]; exit
			}
		}' "$f"
	done
}

# Set $mirror and $security to this host's Debian mirrors for SUITE (and
# SUITE-security), falling back to deb.debian.org.
host_mirrors() {
	mirror=$(host_uri "$1" | head -n1)
	security=$(host_uri "$1-security" | head -n1)
	mirror=${mirror:-http://deb.debian.org/debian}
	security=${security:-http://deb.debian.org/debian-security}
}
