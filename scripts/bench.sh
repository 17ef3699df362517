#!/usr/bin/env bash
# make bench: speed of deploy.yml and vmcsinfo_facts on the lab VM, printed as
# numbers and ratios against their targets (issue 4). Not a pass/fail test:
# the exit status is non-zero only when the benchmark itself cannot run
# (BENCH_STRICT=1 also fails on a missed target).
#
#   (a) deploy.yml re-run on a converged host vs a play with the same host
#       running only ping + fact gathering (target: ratio <= 1.3)
#   (b) vmcsinfo_facts vs setup gather_subset=min, per module run
#       (target: ratio <= 1.0)
#
# Environment: BENCH_RUNS (playbook runs per side for (a), default 3),
# BENCH_ROUNDS (module runs per side for (b), default 7), BENCH_INVENTORY
# (default inventories/lab; the lab VM is started when it is that one).
set -euo pipefail

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
top=$(dirname "$here")
cd "$top"
# shellcheck source=ansible-env.sh
. "$here/ansible-env.sh"

runs=${BENCH_RUNS:-3}
rounds=${BENCH_ROUNDS:-7}
inventory=${BENCH_INVENTORY:-inventories/lab}
out=$top/build/bench
mkdir -p "$out"

log() { printf 'bench: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

if [ "$inventory" = inventories/lab ]; then
	scripts/lab-vm.sh up
fi

# Wall time of one ansible-playbook run in seconds (3 decimals); its output
# goes to $out/<name>.log, and a failed run stops the benchmark.
timed() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	if ! ansible-playbook -i "$inventory" "$@" >"$out/$name.log" 2>&1; then
		tail -n 30 "$out/$name.log" >&2
		die "ansible-playbook $* failed (whole output: $out/$name.log)"
	fi
	t1=$(date +%s.%N)
	python3 -c "print(f'{$t1 - $t0:.3f}')"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

log "converging the host first (deploy.yml; a full run when it is not converged yet)"
t=$(timed converge deploy.yml)
log "deploy.yml to converge: $t s"
grep -q 'run unchanged since\|run full' "$out/converge.log" || die "deploy.yml printed no run line (see $out/converge.log)"
# The converge run may itself have been the full one; the next must take the fast path.
deploy=() baseline=()
for ((i = 1; i <= runs; i++)); do
	t=$(timed "deploy-$i" deploy.yml)
	grep -q 'run unchanged since' "$out/deploy-$i.log" ||
		die "deploy.yml re-run $i did not take the fast path: $(grep -o 'run full[^"]*' "$out/deploy-$i.log" | head -n1) (see $out/deploy-$i.log)"
	grep -Eq 'changed=0 .*failed=0' "$out/deploy-$i.log" || die "deploy.yml re-run $i changed something (see $out/deploy-$i.log)"
	deploy+=("$t")
	baseline+=("$(timed "baseline-$i" tests/bench/ping-facts.yml)")
	log "round $i: deploy.yml ${deploy[-1]} s, ping + facts ${baseline[-1]} s"
done
md=$(median "${deploy[@]}")
mb=$(median "${baseline[@]}")

log "timing vmcsinfo_facts and setup gather_subset=min, $rounds runs each"
rm -rf "$out/junit"
JUNIT_OUTPUT_DIR=$out/junit JUNIT_TASK_CLASS=true ANSIBLE_CALLBACKS_ENABLED=ansible.builtin.junit \
	timed facts tests/bench/facts-modules.yml -e "bench_rounds=$rounds" >/dev/null
read -r mf ms nf ns < <(python3 - "$out/junit" <<'EOF'
import glob, statistics, sys
import xml.etree.ElementTree as ET

times = {"vmcsinfo": [], "setup": []}
for f in glob.glob(sys.argv[1] + "/*.xml"):
    for case in ET.parse(f).getroot().iter("testcase"):
        name = case.get("name", "")
        if "Bench vmcsinfo_facts" in name:
            times["vmcsinfo"].append(float(case.get("time")))
        elif "Bench setup min" in name:
            times["setup"].append(float(case.get("time")))
if not times["vmcsinfo"] or not times["setup"]:
    sys.exit("no task times in the junit output")
print(f'{statistics.median(times["vmcsinfo"]):.3f} {statistics.median(times["setup"]):.3f} '
      f'{len(times["vmcsinfo"])} {len(times["setup"])}')
EOF
)

verdict() { python3 -c "import sys; r=$1/$2; print(f'{r:.2f} (target <= $3): ' + ('ok' if r <= $3 else 'MISSED'))"; }
ra=$(verdict "$md" "$mb" 1.3)
rb=$(verdict "$mf" "$ms" 1.0)
accel=$(cat build/lab/accel 2>/dev/null || echo '?')
cat <<EOF | tee "$out/summary.txt"
bench: host $(grep -m1 -o 'ok: \[[^]]*\]' "$out/baseline-1.log" | tr -d '[]' | cut -d' ' -f2) (lab VM, accel $accel), $(date -u +%Y-%m-%dT%H:%MZ)
bench: (a) deploy.yml re-run, converged host: median $md s of $runs (${deploy[*]})
bench: (a) ping + fact gathering:              median $mb s of $runs (${baseline[*]})
bench: (a) ratio $ra
bench: (b) vmcsinfo_facts:                     median $mf s of $nf
bench: (b) setup gather_subset=min:            median $ms s of $ns
bench: (b) ratio $rb
EOF
if [ "${BENCH_STRICT:-0}" = 1 ] && grep -q MISSED "$out/summary.txt"; then
	exit 1
fi
