# shellcheck shell=bash
# Sourced helpers for Debian packages (as root, or via sudo), with apt lists
# that are refreshed when they are stale, and the host's own mirrors.
# Messages go to stderr, prefixed with $PROG when the caller sets it.
#
# When the lists are refreshed (`apt-get update`), at most once per run:
#  - a Packages index that the machine's sources name is missing (a suite or
#    component the lists lack: a fresh machine's lists may hold `bookworm
#    main` only, without -updates and -security), unless a refresh in the
#    last VMCSINFO_APT_RETRY_AGE seconds left it missing (the mirror lacks it);
#  - there is no record of a successful update, or it is older than
#    VMCSINFO_APT_MAX_AGE seconds (default 86400). The record is the stamp
#    apt's own daily job keeps, /var/lib/apt/periodic/update-success-stamp
#    (the lists' file times are the archive's, not the time of the update:
#    a suite that has not changed for months keeps an old time);
#  - and once more before giving up, when a package, a version or a kernel
#    series is not found, unless the lists were refreshed in the last
#    VMCSINFO_APT_RETRY_AGE seconds (default 600: the same run).
# Mirrors come from the sources only (host_mirrors): no host name is built in.

# shellcheck source=common.sh
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/common.sh"

APT_STAMP=${VMCSINFO_APT_STAMP:-/var/lib/apt/periodic/update-success-stamp}
APT_MAX_AGE=${VMCSINFO_APT_MAX_AGE:-86400}
APT_RETRY_AGE=${VMCSINFO_APT_RETRY_AGE:-600}
# Steps of a run go side by side: one of them at a time refreshes or installs.
APT_LOCK=${VMCSINFO_APT_LOCK:-/var/lock/vmcsinfo-apt.lock}

apt_lock() {
	exec 7>>"$APT_LOCK" || die "cannot open $APT_LOCK"
	flock 7
}
apt_unlock() { exec 7>&-; }

# The Packages indexes that the sources name, one per line: "REPO_URI SUITE
# PREFIX", where PREFIX is the lists' file name up to the architecture
# (/var/lib/apt/lists/HOST_PATH_dists_SUITE_COMPONENT_binary-). Taken from
# the sources alone (--no-release-info), whether or not the lists have them.
apt_targets() {
	# shellcheck disable=SC2016 # apt's own $(FIELD) placeholders
	apt-get indextargets --no-release-info --format '$(REPO_URI) $(RELEASE) $(FILENAME)' \
		'Created-By: Packages' 2>/dev/null |
		awk 'NF == 3 && sub(/binary-[^_]*_Packages$/, "binary-", $3) { print }' | sort -u
}

# Suites the sources name, as "suite (repo)" words for messages.
apt_suites() {
	apt_targets | awk '{ print $2 " (" $1 ")" }' | sort -u | paste -sd, - | sed 's/,/, /g'
}

# Seconds since the last successful `apt-get update` (empty when unknown).
apt_age() {
	local t
	t=$(stat -c %Y "$APT_STAMP" 2>/dev/null) || return 0
	echo $(($(date +%s) - t))
}

# Why the lists must be refreshed now, or nothing when they are fresh.
apt_refresh_reason() {
	local targets missing age uri suite prefix comp
	targets=$(apt_targets)
	if [ -z "$targets" ]; then
		echo "apt has no Packages index for any source"
		return 0
	fi
	# A list is kept compressed (.lz4, .zst...) or not: match the stem.
	# Any architecture's list of a suite+component counts (Debian has no
	# separate binary-all lists), kept compressed (.lz4, .zst...) or not.
	missing=$(printf '%s\n' "$targets" | while read -r uri suite prefix; do
		compgen -G "${prefix}*_Packages*" >/dev/null && continue
		comp=${prefix%_binary-}
		echo "$suite/${comp##*_} ($uri)"
	done | sort -u | paste -sd, - | sed 's/,/, /g')
	age=$(apt_age)
	# A suite still missing right after a refresh is the mirror's (said then):
	# refreshing again in every step of the run would not bring it.
	if [ -n "$missing" ] && { [ -z "$age" ] || [ "$age" -ge "$APT_RETRY_AGE" ]; }; then
		echo "the lists lack $missing, which the sources name"
		return 0
	fi
	if [ -z "$age" ]; then
		echo "no record of a successful apt-get update ($APT_STAMP)"
	elif [ "$age" -gt "$APT_MAX_AGE" ]; then
		echo "the lists are $((age / 3600)) h old (refreshed every $((APT_MAX_AGE / 3600)) h)"
	fi
}

# apt-get update, saying why; a failure shows apt's own last lines.
apt_refresh() {
	local why=$1 log left
	say "refreshing the apt lists: $why"
	log=$(mktemp "${TMPDIR:-/tmp}/apt-update.XXXXXX")
	if ! run_logged "apt-get update" "$log" as_root apt-get update; then
		die "could not refresh the apt lists (suites: $(apt_suites)); fix the sources or the network and run again"
	fi
	# apt warns and goes on when one index fails: such a list is still missing.
	if grep -E '^(W|E): ' "$log" >&2; then
		say "apt-get update warned (above)"
	fi
	rm -f "$log"
	as_root mkdir -p "$(dirname "$APT_STAMP")"
	as_root touch "$APT_STAMP"
	apt_lists_ready=1
	left=$(apt_refresh_reason)
	case $left in
	"the lists lack"*) say "after the refresh, $left" ;;
	*) say "apt lists refreshed: $(apt_suites)" ;;
	esac
}

apt_lists_ready=
# Refresh the lists when they are missing, old, or lack a suite (once).
ensure_apt_lists() {
	local why
	[ -n "$apt_lists_ready" ] && return 0
	why=$(apt_refresh_reason)
	if [ -n "$why" ]; then
		apt_lock
		# Another step may have refreshed them while this one waited.
		why=$(apt_refresh_reason)
		[ -z "$why" ] || apt_refresh "$why"
		apt_unlock
	fi
	apt_lists_ready=1
}

# WHAT was not found: refresh once more (return 0: try again) unless the
# lists are from this run anyway (return 1: give up).
apt_retry_refresh() {
	local what=$1 age
	apt_lock
	age=$(apt_age)
	if [ -n "$age" ] && [ "$age" -lt "$APT_RETRY_AGE" ]; then
		apt_unlock
		return 1
	fi
	apt_refresh "$what not found"
	apt_unlock
}

ensure_pkgs() {
	local missing=() p log t0=$SECONDS
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	ensure_apt_lists
	case " ${missing[*]} " in
	*" kexec-tools "*)
		# The tests copy kexec into their Bochs guest; on this machine it
		# must not take over reboots (its debconf question, sysvinit only).
		echo 'kexec-tools kexec-tools/load_kexec boolean false' | as_root debconf-set-selections
		;;
	esac
	say "installing ${missing[*]}"
	log=$(mktemp "${TMPDIR:-/tmp}/apt-install.XXXXXX")
	apt_lock
	if ! run_logged "apt-get install" "$log" apt_install "${missing[@]}"; then
		apt_unlock
		apt_retry_refresh "a package to install" ||
			die "apt-get install ${missing[*]} failed (suites searched: $(apt_suites))"
		apt_lock
		run_logged "apt-get install" "$log" apt_install "${missing[@]}" ||
			die "apt-get install ${missing[*]} failed after refreshing the lists (suites searched: $(apt_suites))"
	fi
	apt_unlock
	rm -f "$log"
	say "installed ${#missing[@]} packages in $((SECONDS - t0)) s"
}

apt_install() {
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# The first repository URI the sources use for SUITE (its name or codename).
host_uri() {
	local uri
	uri=$(apt_targets | awk -v s="$1" '$2 == s { print $1; exit }')
	# Sources may say "oldstable" where the Release file says "bookworm".
	# shellcheck disable=SC2016
	[ -n "$uri" ] || uri=$(apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 2>/dev/null |
		awk -v s="$1" '$2 == s { print $1; exit }')
	printf '%s\n' "${uri%/}"
}

# Set $mirror and $security to this host's Debian mirrors for SUITE and
# SUITE-security, as its apt sources name them ($security may be empty: a
# host without a security source builds images without one, and says so).
host_mirrors() {
	mirror=$(host_uri "$1")
	security=$(host_uri "$1-security")
	[ -n "$mirror" ] || die "the apt sources name no '$1' suite (they name: $(apt_suites)); add a source for your Debian mirror's $1"
	[ -n "$security" ] || say "warning: the apt sources name no '$1-security' suite: images get no security updates"
}

# The sources lines for an image of SUITE on this host's mirrors, one per
# line (main, -updates, and -security when the host has it).
mirror_sources() {
	host_mirrors "$1"
	printf 'deb %s %s main\n' "$mirror" "$1" "$mirror" "$1-updates"
	[ -z "$security" ] || printf 'deb %s %s-security main\n' "$security" "$1"
}
