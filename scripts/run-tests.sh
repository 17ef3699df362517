#!/usr/bin/env bash
# Run every check CI runs, in order, keep going after a failure, and end with
# one summary line: "summary: N passed, M failed". Called by `make test`.
# Select steps with TEST_STEPS="sim-suite pytest" (default: all).
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 1
modsrc=collections/ansible_collections/fujitsu/vmcsinfo/module-src
venv=$top/.venv/bin

step_lint_python() { "$venv/ruff" check . && "$venv/ruff" format --check .; }
step_lint_shell() {
	shellcheck -x scripts/*.sh tests/vmx/*.sh tests/vmx/guest/* .ci/run
}
step_checkpatch() { scripts/checkpatch.sh; }
step_sim_suite() { make -s -C "$modsrc" sim sim-test; }
step_pytest() { "$venv/pytest" -q; }
step_lint_ansible() { scripts/lint-ansible.sh; }
step_molecule_container() { scripts/molecule.sh container; }
step_kbuild() { scripts/kbuild-test.sh 6.1 6.12; }
step_vmx_probe() { tests/vmx/vmx-probe.sh; }
step_vmx_kvm() { tests/vmx/vmx-kvm.sh; }
# After vmx-probe: the VM gets the Bochs probe's VMCSINFO as its supplied one.
step_molecule_vm() { scripts/molecule.sh vm; }

all="lint-python lint-shell checkpatch sim-suite pytest lint-ansible molecule-container kbuild vmx-probe vmx-kvm molecule-vm"
steps=${TEST_STEPS:-$all}
passed=0 failed=0 report=()
for s in $steps; do
	fn=step_${s//-/_}
	if ! declare -F "$fn" >/dev/null; then
		echo "run-tests: unknown step '$s' (steps: $all)" >&2
		exit 2
	fi
	echo
	echo "===== $s"
	t0=$SECONDS
	if "$fn"; then
		passed=$((passed + 1)) && report+=("  ok    $s ($((SECONDS - t0)) s)")
	else
		failed=$((failed + 1)) && report+=("  FAIL  $s ($((SECONDS - t0)) s)")
	fi
done
echo
echo "===== results"
printf '%s\n' "${report[@]}"
echo "summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
