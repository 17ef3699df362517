#!/usr/bin/env bash
# make bench-fleet: a real podman fleet through the fleet VMCSINFO database
# role (issue 12, "Scale, measured"): fujitsu.vmcsinfo.fleetdb by default,
# deploy.yml itself with BENCH_PLAYBOOK=deploy (see there for why not by
# default). A benchmark: it prints numbers; the exit status is non-zero only
# when it cannot run (a container does not start, a play fails, the counts are
# not the fleet's, a re-run changes something).
#
# For each N in BENCH_SIZES (default "5 10 20"):
#   - N systemd containers vmcsinfo-bench-1..N (the image of
#     scripts/container-image.sh, as the molecule container scenario), each
#     with its own CPU: a fake /proc/cpuinfo bind-mounted read-only (family 6,
#     three models: Haswell 306c3 microcode 0, Haswell-E 306f2 microcode 3c,
#     Broadwell-E 406f1 microcode b000038) and a tmpfs on /sys/kernel;
#   - 60 % of them (rounded up) "probed": the real Bochs 2.7 corei7_haswell_4770
#     probe text (the seed database's, byte for byte, with its CPU_SIGNATURE and
#     MICROCODE lines set to the host's CPU, as the fleetdb scenario's texts.py
#     does) in /sys/kernel/vmcsinfo/vmcsinfo, where the kernel module puts it
#     (no container can load the module, so the probe is placed there); the rest
#     have none and are served from the database (each asks for a key a prober
#     of its batch contributes);
#   - a fresh copy of the seed database (db/seed; built from the unit tests'
#     Bochs fixture with `vmcsinfo-db add --kind seed` when absent) and an empty
#     fact cache (jsonfile);
#   - run: `ansible-playbook fujitsu.vmcsinfo.fleetdb -f N` (or .deploy), wall
#     time, recap must say failed=0 unreachable=0; served / contributed are the
#     hosts of the constructed groups vmcsinfo_source_database and
#     vmcsinfo_source_probe (the fact cache through ansible-inventory, never the
#     cache files), checked against the fleet's layout and against the hosts
#     the database index records as contributors;
#   - inventory: `ansible-inventory --graph` with the constructed groups of
#     inventories/example/vmcsinfo-groups.yml over the fact cache, wall time;
#   - re-run: the same playbook again, wall time, recap must say changed=0.
# Then a table with the time per host, and the per-host ratio of the largest
# N to the smallest (flat cost per host: close to 1 or below, since the fixed
# costs of a play are spread over more hosts).
#
# With BENCH_PLAYBOOK=deploy, what runs on each host: deploy.yml unmodified,
# with vmcsinfo_build_state and vmcsinfo_kdump_state absent (so that no apt
# download, DKMS build or
# kdump-tools install dominates the per-host cost): its pre-tasks (fingerprint,
# fast-path check), the build role's absent path, the load role (policy files,
# persist unit, decision: the module is not installed in a container), the
# vmcsinfo_db role (one merge + serve per batch on the controller, served texts
# installed), the kdump role's absent path, the post-tasks (facts, state
# record, summary) and the fleet summary play. With the roles absent deploy.yml
# records no fast-path state, so the re-run is a full run as well.
#
# BENCH_SIZES="5 10 20"     the fleet sizes
# BENCH_PLAYBOOK=fleetdb    (the default) fujitsu.vmcsinfo.fleetdb: the vmcsinfo_db
#                           role alone, the same role deploy.yml runs after its load
#                           role; or deploy: fujitsu.vmcsinfo.deploy as above. The
#                           default is fleetdb because deploy.yml costs 30-42 s of
#                           wall time per host on the 2-CPU controller (130 tasks a
#                           host, each several podman execs; N=5 took 159-210 s, N=10
#                           372 s), so N=20 would take over 10 minutes a run
# BENCH_KEEP=1              keep the last fleet's containers and the work directory
# BENCH_WORK=DIR            work directory (default: a new one under /tmp)
# VMCSINFO_SEED_DB=DIR      seed database to start from (default db/seed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
coll=$top/collections/ansible_collections/fujitsu/vmcsinfo

read -r -a sizes <<<"${BENCH_SIZES:-5 10 20}"
playbook=${BENCH_PLAYBOOK:-fleetdb}
case $playbook in
deploy | fleetdb) ;;
*)
	echo "bench-fleet: BENCH_PLAYBOOK must be deploy or fleetdb, not $playbook" >&2
	exit 2
	;;
esac
for n in "${sizes[@]}"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || {
		echo "bench-fleet: BENCH_SIZES: $n is not a host count" >&2
		exit 2
	}
done

# shellcheck source=../../scripts/podman-env.sh
. "$top/scripts/podman-env.sh"
# shellcheck source=../../scripts/ansible-env.sh
. "$top/scripts/ansible-env.sh"

say() { echo "bench-fleet: $*" >&2; }
die() {
	say "$*"
	exit 1
}
now() { date +%s.%N; }
# elapsed T0 [T1]: seconds from T0 to T1 (default now), 1 decimal
elapsed() { awk -v a="$1" -v b="${2:-$(now)}" 'BEGIN { printf "%.1f", b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# The fleet's image: scripts/container-image.sh's, with what the build role's
# absent path runs baked in (dkms, kmod: `dkms status`, modinfo), installed once
# with the host's apt cache and kept as localhost/vmcsinfo-bench-deb12:KEY (KEY
# hashes the base image and this recipe).
bench_image() {
	local base key tag cache=${XDG_CACHE_HOME:-$HOME/.cache}/vmcsinfo/apt-archives
	local recipe="apt-get update && apt-get install -y --no-install-recommends dkms kmod && rm -rf /var/lib/apt/lists/*"
	base=$("$top/scripts/container-image.sh")
	key=$(printf '%s\n%s\n' "$base" "$recipe" | sha256sum | cut -c1-12)
	tag=localhost/vmcsinfo-bench-deb12:$key
	if ! podman image exists "$tag"; then
		say "building $tag ($base + dkms, kmod)"
		mkdir -p "$cache/vmcsinfo-bench/partial"
		# What the molecule container scenario's builder downloaded already.
		cp -nl "$cache"/vmcsinfo-builder/*.deb "$cache/vmcsinfo-bench/" 2>/dev/null || true
		podman rm --force --ignore --time=0 vmcsinfo-bench-image >/dev/null
		podman run --name=vmcsinfo-bench-image --volume="$cache/vmcsinfo-bench:/var/cache/apt/archives" \
			"$base" /bin/sh -c "$recipe" >"$work/image.log" 2>&1 ||
			die "could not build $tag: $(tail -n 20 "$work/image.log")"
		podman commit --quiet --change 'CMD ["/sbin/init"]' vmcsinfo-bench-image "$tag" >/dev/null
		podman rm --force --ignore --time=0 vmcsinfo-bench-image >/dev/null
	fi
	echo "$tag"
}

work=${BENCH_WORK:-$(mktemp -d /tmp/vmcsinfo-bench-fleet.XXXXXX)}
mkdir -p "$work"
names=()
cleanup() {
	local rc=$?
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "kept: containers ${names[*]:-none}, work directory $work"
	else
		podman rm --force --ignore --time=0 vmcsinfo-bench-image "${names[@]}" >/dev/null 2>&1 || true
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of an earlier run (any size).
mapfile -t old < <(podman ps -a --format '{{.Names}}' | grep -E '^vmcsinfo-bench-[0-9]+$' || true)
if [ ${#old[@]} -gt 0 ]; then
	say "removing ${#old[@]} leftover containers"
	podman rm --force --ignore --time=0 "${old[@]}" >/dev/null
fi

if [ "$playbook" = deploy ]; then
	image=$(bench_image)
else
	image=$("$top/scripts/container-image.sh")
fi

seed=${VMCSINFO_SEED_DB:-$top/db/seed}
if [ ! -f "$seed/index.json" ]; then
	fixture=$coll/tests/unit/fixtures/bochs-2.7-corei7_haswell_4770.vmcsinfo
	say "no seed database at $seed: building one from $fixture"
	seed=$work/seed
	"$top/.venv/bin/vmcsinfo-db" --db "$seed" add --kind seed "$fixture" >&2
fi

# The seed's real Bochs Haswell probe (306c3, microcode 0), byte for byte.
probe=$work/probe.vmcsinfo
"$top/.venv/bin/vmcsinfo-db" --db "$seed" lookup --vendor GenuineIntel --signature 306c3 \
	--microcode 0 --strict >"$probe" ||
	die "the seed database $seed has no Haswell 306c3 microcode 0 entry"

# The fleet's CPUs: signature, cpuinfo model (decimal), stepping, microcode (hex).
cpus=("306c3 60 3 0" "306f2 63 2 3c" "406f1 79 1 b000038")
for cpu in "${cpus[@]}"; do
	read -r sig _ _ mc <<<"$cpu"
	sed -e "s/^CPU_SIGNATURE=.*/CPU_SIGNATURE=$sig/" -e "s/^MICROCODE=.*/MICROCODE=$mc/" \
		"$probe" >"$work/probe-$sig.vmcsinfo"
done

# start_host I PROBED CPU: one container of the fleet, booted.
start_host() {
	local i=$1 probed=$2 cpu=$3 name=vmcsinfo-bench-$1 sig model stepping mc
	read -r sig model stepping mc <<<"$cpu"
	printf '%s\n' "processor	: 0" "vendor_id	: GenuineIntel" "cpu family	: 6" \
		"model		: $model" "model name	: fake host of make bench-fleet" \
		"stepping	: $stepping" "microcode	: 0x$mc" \
		"flags		: fpu vme de pse tsc msr pae vmx sse sse2" "" >"$dir/cpuinfo-$i"
	podman run --detach --replace --name="$name" --hostname="$name" --systemd=always \
		--volume="$dir/cpuinfo-$i:/proc/cpuinfo:ro" --tmpfs=/sys/kernel:rw,notmpcopyup \
		"$image" /sbin/init >/dev/null
	if [ "$probed" = 1 ]; then
		podman exec -i "$name" sh -c 'mkdir -p /sys/kernel/vmcsinfo &&
			cat >/sys/kernel/vmcsinfo/vmcsinfo && chmod 0400 /sys/kernel/vmcsinfo/vmcsinfo' \
			<"$work/probe-$sig.vmcsinfo"
	fi
}

# wait_booted NAME: systemd is up (running or degraded).
wait_booted() {
	local state t=0
	while :; do
		state=$(podman exec "$1" systemctl is-system-running --wait 2>/dev/null || true)
		case $state in running | degraded) return 0 ;; esac
		[ "$t" -lt 120 ] || die "$1 did not boot (systemd says '$state')"
		sleep 0.5
		t=$((t + 1))
	done
}

# recap LOG FIELD: the sum of FIELD=... over the PLAY RECAP lines.
recap() {
	awk -v f="$2" '/^PLAY RECAP/ { r = 1; next }
		r && / : ok=/ { for (i = 1; i <= NF; i++) if (split($i, kv, "=") == 2 && kv[1] == f) s += kv[2] }
		END { print s + 0 }' "$1"
}

# play LOG: the playbook on the fleet, output in LOG; prints the wall seconds.
play() {
	local t0 rc=0
	t0=$(now)
	(cd "$top" && nice ansible-playbook -i "$dir/hosts.yml" -f "$n" "fujitsu.vmcsinfo.$playbook") \
		>"$1" 2>&1 || rc=$?
	elapsed "$t0"
	if [ "$rc" -ne 0 ] || [ "$(recap "$1" failed)" -ne 0 ] || [ "$(recap "$1" unreachable)" -ne 0 ]; then
		say "the $playbook playbook failed on the fleet of $n (rc $rc); the end of $1:"
		tail -n 40 "$1" >&2
		exit 1
	fi
}

rows=()
per_host=()
for n in "${sizes[@]}"; do
	dir=$work/n$n
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -a "$seed" "$dir/db"
	probers=$(((n * 6 + 9) / 10))

	# Containers of the previous size that this one does not reuse by name go.
	if [ ${#names[@]} -gt "$n" ]; then
		podman rm --force --ignore --time=0 "${names[@]:n}" >/dev/null
	fi
	names=()
	t0=$(now)
	{
		echo "all:"
		echo "  vars:"
		echo "    ansible_connection: containers.podman.podman"
		echo "    ansible_python_interpreter: /usr/bin/python3"
		echo "    ansible_become_method: ansible.builtin.su"
		echo "    ansible_facts_parallel: false"
		echo "    vmcsinfo_db_dir: $dir/db"
		echo "    vmcsinfo_db_source: make bench-fleet"
		echo "    vmcsinfo_build_state: absent"
		echo "    vmcsinfo_kdump_state: absent"
		echo "  hosts:"
	} >"$dir/hosts.yml"
	for ((i = 1; i <= n; i++)); do
		if [ "$i" -le "$probers" ]; then
			start_host "$i" 1 "${cpus[$(((i - 1) % ${#cpus[@]}))]}"
		else
			start_host "$i" 0 "${cpus[$(((i - probers - 1) % ${#cpus[@]}))]}"
		fi
		names+=("vmcsinfo-bench-$i")
		echo "    vmcsinfo-bench-$i: {}" >>"$dir/hosts.yml"
	done
	for name in "${names[@]}"; do wait_booted "$name"; done
	boot_s=$(elapsed "$t0")
	load=$(cut -d' ' -f1 /proc/loadavg)
	say "N=$n: $n containers up in $boot_s s ($probers with a probe), load average $load; running $playbook"

	export ANSIBLE_CACHE_PLUGIN=ansible.builtin.jsonfile
	export ANSIBLE_CACHE_PLUGIN_CONNECTION=$dir/facts
	run_s=$(play "$dir/run1.log")
	cp "$top/inventories/example/vmcsinfo-groups.yml" "$dir/zz-vmcsinfo-groups.yml"
	t0=$(now)
	(cd "$top" && nice ansible-inventory -i "$dir/hosts.yml" -i "$dir/zz-vmcsinfo-groups.yml" --graph) \
		>"$dir/graph.txt" 2>"$dir/graph.err" || die "ansible-inventory --graph failed: $(cat "$dir/graph.err")"
	inv_s=$(elapsed "$t0")
	(cd "$top" && ansible-inventory -i "$dir/hosts.yml" -i "$dir/zz-vmcsinfo-groups.yml" --list) \
		>"$dir/inventory.json" 2>/dev/null
	# served / contributed: the hosts of the constructed groups by source (from
	# the fact cache, through ansible-inventory), and the hosts the database
	# index records as contributors.
	read -r served contributed unserved groups db_contrib < <(
		python3 - "$dir/inventory.json" "$dir/db/index.json" <<-'PY'
			import json, sys
			inv = json.load(open(sys.argv[1]))
			def hosts(group):
			    return len(inv.get(group, {}).get("hosts", []))
			groups = [g for g in inv if g.startswith("vmcsinfo_")]
			index = json.load(open(sys.argv[2]))
			recorded = {p["host"] for k in index["keys"].values() for d in k["digests"].values()
			            for p in d["provenance"] if p.get("host")}
			print(hosts("vmcsinfo_source_database"), hosts("vmcsinfo_source_probe"),
			      hosts("vmcsinfo_db_unserved"), len(groups), len(recorded))
		PY
	)
	if [ "$served" -ne $((n - probers)) ] || [ "$contributed" -ne "$probers" ] ||
		[ "$db_contrib" -ne "$probers" ]; then
		die "N=$n: served $served (want $((n - probers))), contributed $contributed and $db_contrib in the index (want $probers), unserved $unserved"
	fi

	rerun_s=$(play "$dir/run2.log")
	changed=$(recap "$dir/run2.log" changed)
	[ "$changed" -eq 0 ] || {
		grep -E '^changed:' "$dir/run2.log" >&2 || true
		die "N=$n: the re-run changed $changed (want 0)"
	}
	say "N=$n: run $run_s s, re-run $rerun_s s, inventory $inv_s s, $groups vmcsinfo groups"
	if [ "$n" = "${sizes[-1]}" ]; then
		graph=$(cat "$dir/graph.txt")
	fi
	rows+=("$(printf '%4s | %6s | %10s | %8s | %8s | %11s | %6s | %11s | %6s | %5s' "$n" "$run_s" \
		"$(div "$run_s" "$n")" "$rerun_s" "$(div "$rerun_s" "$n")" "$inv_s" "$served" \
		"$contributed" "$boot_s" "$load")")
	per_host+=("$(div "$run_s" "$n") $(div "$rerun_s" "$n")")
done

echo "make bench-fleet: fujitsu.vmcsinfo.$playbook on a podman fleet ($(nproc) CPUs, forks = N)"
if [ "$playbook" = deploy ]; then
	echo "deploy.yml with vmcsinfo_build_state=absent and vmcsinfo_kdump_state=absent (dkms and kmod baked"
	echo "into the image: no apt, no DKMS build);"
	echo "load role, fleet database role (one merge + serve per batch) and summary run in full on every host"
else
	echo "FALLBACK: fleetdb.yml, the vmcsinfo_db role alone (the same role deploy.yml runs after its"
	echo "load role), not deploy.yml: deploy.yml (130 tasks a host) took 159-210 s for N=5 and 372 s for"
	echo "N=10 here, over 10 minutes a run at N=20 (BENCH_PLAYBOOK=deploy runs it)"
fi
echo "60 % of the hosts probed (3 CPU models), the rest served; times are wall seconds;"
echo "boot s: the containers' start (not in the run); load: the 1-minute load average before the run"
echo
printf '%4s | %6s | %10s | %8s | %8s | %11s | %6s | %11s | %6s | %5s\n' N "run s" "per host s" "re-run s" \
	"per host" "inventory s" served contributed "boot s" load
echo "-----+--------+------------+----------+----------+-------------+--------+-------------+--------+------"
printf '%s\n' "${rows[@]}"
if [ ${#sizes[@]} -gt 1 ]; then
	read -r first_run first_rerun <<<"${per_host[0]}"
	read -r last_run last_rerun <<<"${per_host[-1]}"
	echo
	echo "per-host time, N=${sizes[-1]} vs N=${sizes[0]}: run $(div "$last_run" "$first_run"), re-run $(div "$last_rerun" "$first_rerun")"
fi
echo
echo "ansible-inventory --graph (N=${sizes[-1]}, constructed groups of inventories/example/vmcsinfo-groups.yml):"
echo "${graph:-}"
