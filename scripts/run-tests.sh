#!/usr/bin/env bash
# Run every check CI runs, keep going after a failure, and end with one
# summary line: "summary: N passed, M failed". Called by `make test`.
#
# Steps run in lanes side by side (TEST_JOBS=1: one after the other): Bochs
# and QEMU TCG are single-threaded per vCPU and the container steps mostly
# wait on apt and the network, so three lanes fit two cores. Each step's
# output goes to build/test-logs/STEP.log; when a step ends its result and
# time are printed, with its whole log when it failed (the tail otherwise).
# A short preparation first fills the caches the lanes share (kernels, the
# container and lab images), so no two steps download the same thing.
# Select steps with TEST_STEPS="sim-suite pytest" (default: all).
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 1
modsrc=collections/ansible_collections/fujitsu/vmcsinfo/module-src
venv=$top/.venv/bin
logs=$top/build/test-logs

step_lint_python() { "$venv/ruff" check . && "$venv/ruff" format --check .; }
step_lint_shell() {
	shellcheck -x scripts/*.sh tests/vmx/*.sh tests/vmx/guest/* tests/bare/*.sh tests/bench/*.sh .ci/run
}
step_checkpatch() { scripts/checkpatch.sh; }
step_sim_suite() { make -s -C "$modsrc" sim sim-test; }
step_pytest() { "$venv/pytest" -q; }
step_lint_ansible() { scripts/lint-ansible.sh; }
step_molecule_container() { scripts/molecule.sh container; }
# The fleet database with nine hosts (fake roots in plain containers).
step_molecule_fleetdb() { scripts/molecule.sh fleetdb; }
# The built tarball, installed alone: ansible-doc, and its playbook in check mode.
step_collection() { scripts/collection-test.sh; }
# execution-environment.yml through `ansible-builder create` (offline): the
# context names ansible-core, jmespath, drgn and the collection, pinned.
step_ee() { scripts/ee-check.sh; }
step_kbuild() { scripts/kbuild-test.sh 6.1 6.12; }
step_vmx_probe() { tests/vmx/vmx-probe.sh; }
step_vmx_kvm() { tests/vmx/vmx-kvm.sh; }
step_vmx_crash() { tests/vmx/vmx-crash.sh; }
# After vmx-probe (same lane, for the CPU it leaves idle): the VM is served the
# seed database's Bochs Haswell layout.
step_molecule_vm() { scripts/molecule.sh vm; }
step_bare_machine() { tests/bare/bare-machine.sh; }

# The lanes, each a list of steps in order. The two longest chains have a
# lane each: the Bochs probe, then the vm scenario with its reboot and crash;
# the container scenario. The quick checks, the bare machine (mostly waiting
# on apt and the network) and the other Bochs boots (KVM, the crash proof)
# take the third.
lanes=(
	"vmx-probe molecule-vm"
	"molecule-container"
	"lint-python lint-shell checkpatch sim-suite bare-machine pytest lint-ansible collection ee molecule-fleetdb kbuild vmx-kvm vmx-crash"
)
all=$(printf '%s ' "${lanes[@]}")
steps=" ${TEST_STEPS:-$all} "
for s in $steps; do
	declare -F "step_${s//-/_}" >/dev/null || {
		echo "run-tests: unknown step '$s' (steps: $all)" >&2
		exit 2
	}
done
if [ "${TEST_JOBS:-3}" = 1 ]; then
	lanes=("$steps")
fi

mkdir -p "$logs"
t_run=$SECONDS

# Fill the shared caches once, before the lanes (each is a no-op when warm).
prepare() {
	local s
	case $steps in *" kbuild "* | *" vmx-"* | *" molecule-container "*)
		for s in 6.1 6.12; do
			scripts/kernels.sh headers "$s" >/dev/null && scripts/kernels.sh image "$s" >/dev/null || return 1
		done ;;
	esac
	case $steps in *" molecule-container "* | *" molecule-fleetdb "* | *" bare-machine "* | *" collection "*)
		. scripts/podman-env.sh && scripts/container-image.sh >/dev/null || return 1 ;;
	esac
	case $steps in *" molecule-vm "*) scripts/lab-vm.sh image >/dev/null || return 1 ;; esac
}
echo "===== prepare (kernels, images)"
t0=$SECONDS
if ! prepare >"$logs/prepare.log" 2>&1; then
	cat "$logs/prepare.log"
	echo "run-tests: preparing the caches failed (log above); the steps run anyway"
else
	grep -v '^$' "$logs/prepare.log" | tail -n 20
fi
echo "===== prepare done in $((SECONDS - t0)) s"

# Run one step into its log; print its result block; record "ok|FAIL STEP SECS".
run_step() {
	local s=$1 log=$logs/$1.log t0=$SECONDS rc=0 dt
	printf '>>>>> %s started (%s)\n' "$s" "$(date +%T)"
	"step_${s//-/_}" >"$log" 2>&1 </dev/null || rc=$?
	dt=$((SECONDS - t0))
	{
		if [ "$rc" -eq 0 ]; then
			printf '\n===== %s: ok in %d s (last lines; whole log %s)\n' "$s" "$dt" "${log#"$top"/}"
			tail -n 15 "$log"
			echo "ok $s $dt" >>"$logs/results"
		else
			printf '\n===== %s: FAILED (exit %d) in %d s; its whole log (%s):\n' "$s" "$rc" "$dt" "${log#"$top"/}"
			cat "$log"
			printf '===== end of %s\n' "$s"
			echo "FAIL $s $dt" >>"$logs/results"
		fi
	} | (
		# One block at a time on the console.
		flock 9
		cat
	) 9>>"$logs/.console.lock"
}

# Lanes after the first run at a lower CPU priority: the first lane (the
# Bochs probe, then the QEMU TCG VM with its reboot and crash) is the longest
# chain and CPU-bound, the others have slack and mostly wait on the network.
run_lane() {
	local s
	[ "$2" -eq 0 ] || renice -n 10 -p "$BASHPID" >/dev/null
	for s in $1; do
		case $steps in *" $s "*) run_step "$s" ;; esac
	done
}

: >"$logs/results"
pids=()
for i in "${!lanes[@]}"; do
	run_lane "${lanes[$i]}" "$i" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done

passed=0 failed=0
echo
echo "===== results (wall time $((SECONDS - t_run)) s)"
for s in $steps; do
	line=$(grep -E "^(ok|FAIL) $s " "$logs/results" | tail -n1)
	case $line in
	ok*) passed=$((passed + 1)) && printf '  ok    %s (%s s)\n' "$s" "${line##* }" ;;
	FAIL*) failed=$((failed + 1)) && printf '  FAIL  %s (%s s)\n' "$s" "${line##* }" ;;
	*) failed=$((failed + 1)) && printf '  FAIL  %s (did not run)\n' "$s" ;;
	esac
done
echo "summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
