# shellcheck shell=bash
# Sourced by the scripts: messages prefixed with $PROG, root commands, and
# external tools run with their output in a log whose tail is shown when
# they fail (a failure always shows the tool's own words).

say() { printf '%s: %s\n' "${PROG:-vmcsinfo}" "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Show the last lines of LOG, under a heading that names TOOL; before them,
# the first lines above that window that read like an error (a tool's cause
# often scrolls away: mmdebstrap's failing postinst was 40 lines up).
show_tail() {
	local tool=$1 log=$2 n=${3:-${VMCSINFO_TAIL_LINES:-40}} total early
	[ -r "$log" ] || {
		say "$tool: no output ($log is missing)"
		return 0
	}
	total=$(wc -l <"$log")
	if [ "$total" -gt "$n" ]; then
		early=$(head -n $((total - n)) "$log" |
			grep -n -i -E '(^E: |error|failed|fatal|cannot|could not|no such)' | head -n 15 || true)
		if [ -n "$early" ]; then
			say "$tool: lines like errors earlier in its output ($log, line: text):"
			printf '%s\n' "$early" | sed 's/^/    | /' >&2
		fi
	fi
	say "$tool: last $n lines of its output ($log):"
	tail -n "$n" "$log" | sed 's/^/    | /' >&2 || true
}

# run_logged TOOL LOG CMD...: run CMD with its output in LOG (appended to
# when LOG exists); on failure, show LOG's tail and return CMD's status.
run_logged() {
	local tool=$1 log=$2 rc=0
	shift 2
	"$@" </dev/null >>"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		say "$tool failed (exit $rc)"
		show_tail "$tool" "$log"
	fi
	return "$rc"
}
