#!/usr/bin/env bash
# Runs inside the bare-machine container (tests/bare/bare-machine.sh) as
# root, in /src (the project's tree). Each phase logs to build/bare/NAME.log
# and is timed; a failed phase shows the tail of its log. Exit 0 only if
# every phase and check passed.
set -uo pipefail
cd /src || exit 1
out=build/bare
mkdir -p "$out"
PROG=bare

say() { printf '%s: %s\n' "$PROG" "$*"; }
# One line per phase and check, appended (phases run side by side too).
results=$out/results
: >"$results"
result() { printf '%s\n' "$*" >>"$results"; }
failures() { grep -c '^  FAIL' "$results"; }

# phase NAME CMD...: run CMD with its output in NAME.log; record its time.
phase() {
	local name=$1 t0=$SECONDS rc=0
	shift
	"$@" >"$out/$name.log" 2>&1 </dev/null || rc=$?
	if [ "$rc" -eq 0 ]; then
		result "  ok    $name ($((SECONDS - t0)) s)"
	else
		result "  FAIL  $name ($((SECONDS - t0)) s, exit $rc)"
		say "FAIL: $name (exit $rc); last lines of $out/$name.log:"
		tail -n 100 "$out/$name.log" | sed 's/^/    | /'
	fi
	return "$rc"
}

# check NAME FILE ERE: FILE has a line matching ERE.
check() {
	if grep -Eq "$3" "$2"; then
		result "  ok    check: $1"
	else
		result "  FAIL  check: $1 (no /$3/ in $2)"
	fi
}

# 1. The apt lists of a fresh machine of this kind: only `bookworm main`,
#    months old, and no record of an update.
stale_lists() {
	local src=/etc/apt/sources.list list
	rm -rf /var/lib/apt/lists/* /var/lib/apt/periodic/update-success-stamp
	[ "${BARE_APT:-stale}" = none ] && return 0
	list=$(mktemp)
	awk '$1 == "deb" && $3 == "bookworm" { print; exit }' "$src" >"$list"
	[ -s "$list" ] || { echo "no 'deb ... bookworm' line in $src"; return 1; }
	apt-get -q -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=/nonexistent update
	find /var/lib/apt/lists -type f -exec touch -d '120 days ago' {} +
	rm -f "$list" /var/lib/apt/periodic/update-success-stamp
	ls -l /var/lib/apt/lists
}

t_all=$SECONDS
# The machine's own CAs (bare-machine.sh mounts them), as its admin set them.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
	update-ca-certificates >/dev/null 2>&1 || say "warning: update-ca-certificates failed"
fi
phase apt-stale stale_lists
# 2. make deps, then make venv.
phase install-deps scripts/install-deps.sh
check "install-deps refreshed the stale lists and said why" "$out/install-deps.log" \
	'refreshing the apt lists: (the lists lack|no record|the lists are)'
[ "$(failures)" -eq 0 ] && phase venv make venv
if [ "$(failures)" -eq 0 ]; then
	# 3. Side by side; each its own log.
	kernels() {
		local s k
		for s in 6.1 6.12; do
			for k in version headers image; do
				scripts/kernels.sh "$k" "$s" || return 1
			done
		done
	}
	phase kernels kernels &
	k_pid=$!
	phase lab-image scripts/lab-vm.sh image &
	l_pid=$!
	# Bochs boots the 6.1 image, which the kernels phase fetches.
	wait "$k_pid"
	phase bochs-start tests/vmx/vmx-start.sh
	wait "$l_pid"
	check "both kernel series found" "$out/kernels.log" 'headers ready: .*6\.12\.'
	check "the VM ran its first instructions under Bochs" "$out/bochs-start.log" 'PASS: Bochs starts'
	# 4. Fresh lists now: no refresh.
	phase install-deps-again scripts/install-deps.sh
	if grep -q 'refreshing the apt lists' "$out/install-deps-again.log"; then
		result "  FAIL  check: fresh lists are not refreshed again (install-deps-again.log)"
	else
		result "  ok    check: fresh lists are not refreshed again"
	fi
fi
echo "bare: phases and checks (whole run $((SECONDS - t_all)) s):"
cat "$results"
[ "$(failures)" -eq 0 ]
