#!/usr/bin/env bash
# The collection as a user who installs it meets it (issue 11): build the
# tarball with ansible-galaxy, check what it carries (the fleet playbook, the
# two licences, the module source; no build outputs), install it into an empty
# temporary collections path, run ansible-doc on every plugin from there, and
# run the installed playbook (`ansible-playbook fujitsu.vmcsinfo.deploy`) in
# check mode against a fresh podman container of the test image. Nothing of
# the checkout's collections/ is on the collections path while it runs.
#   scripts/collection-test.sh        (the `collection` step of make test)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
coll=$top/collections/ansible_collections/fujitsu/vmcsinfo
t0=$SECONDS

# shellcheck source=podman-env.sh
. "$here/podman-env.sh"
# shellcheck source=ansible-env.sh
. "$here/ansible-env.sh"
third_party=$top/build/collections/ansible-$ANSIBLE_BUNDLE_VERSION

work=$(mktemp -d "${TMPDIR:-/tmp}/vmcsinfo-collection.XXXXXX")
ctr=vmcsinfo-artifact-$$
cleanup() {
	podman rm -f "$ctr" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "collection-test: FAILED: $*" >&2
	exit 1
}

version=$(sed -n 's/^version: *//p' "$coll/galaxy.yml")
echo "collection-test: ansible-galaxy collection build (fujitsu.vmcsinfo $version)"
ansible-galaxy collection build "$coll" --output-path "$work/dist" --force >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; fail "ansible-galaxy collection build"; }
tarball=$work/dist/fujitsu-vmcsinfo-$version.tar.gz
[ -s "$tarball" ] || fail "no $tarball after the build"
echo "collection-test: $(basename "$tarball"): $(du -k "$tarball" | cut -f1) KB, $(tar tzf "$tarball" | wc -l) entries"

tar tzf "$tarball" | sed 's|/$||' | sort >"$work/contents"
for need in MANIFEST.json FILES.json README.md CHANGELOG.md COPYING module-src/COPYING \
	playbooks/deploy.yml playbooks/crash_report.yml module-src/dkms.conf module-src/Kbuild \
	roles/vmcsinfo_build/meta/argument_specs.yml roles/vmcsinfo_load/meta/argument_specs.yml \
	roles/vmcsinfo_kdump/meta/argument_specs.yml meta/runtime.yml; do
	grep -qxF "$need" "$work/contents" || fail "the tarball lacks $need"
done
grep -q 'GNU GENERAL PUBLIC LICENSE' <(tar xzOf "$tarball" COPYING) || fail "COPYING is not the GPL"
grep -q 'Version 3, 29 June 2007' <(tar xzOf "$tarball" COPYING) || fail "COPYING is not GPL-3.0"
grep -q 'Version 2, June 1991' <(tar xzOf "$tarball" module-src/COPYING) || fail "module-src/COPYING is not GPL-2.0"
if grep -E '\.(o|ko|pyc|cmd|mod\.c)$|/__pycache__$|^module-src/sim/(vmcsinfo-sim|test-probe)$|^tests/output' \
	"$work/contents" >"$work/unwanted"; then
	fail "the tarball carries build outputs: $(tr '\n' ' ' <"$work/unwanted")"
fi
echo "collection-test: the tarball carries the playbooks, COPYING (GPL-3.0), module-src/COPYING (GPL-2.0), no build outputs"

# From here on only the installed collection (and the third-party connection
# plugin) is on the path, and no ansible.cfg of the checkout applies.
export ANSIBLE_COLLECTIONS_PATH=$work/ac:$third_party
export ANSIBLE_CONFIG=$work/ansible.cfg
cat >"$ANSIBLE_CONFIG" <<EOF
[defaults]
interpreter_python = auto_silent
retry_files_enabled = false
EOF
cd "$work"
ansible-galaxy collection install --offline -p "$work/ac" "$tarball" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; fail "ansible-galaxy collection install"; }
installed=$work/ac/ansible_collections/fujitsu/vmcsinfo
[ -f "$installed/playbooks/deploy.yml" ] ||
	{ cat "$work/install.log"; fail "the installed collection has no playbooks/deploy.yml"; }


n=0
for kind in module filter lookup; do
	case $kind in
	module) dir=modules ext=py ;;
	lookup) dir=lookup ext=py ;;
	filter) dir=filter ext=yml ;;
	esac
	names=$(find "$installed/plugins/$dir" -maxdepth 1 -name "*.$ext" ! -name '__init__.py' -printf '%f\n' |
		sed "s|\.$ext\$||" | sort)
	for name in $names; do
		ansible-doc -t "$kind" --json "fujitsu.vmcsinfo.$name" >"$work/doc.json" 2>"$work/doc.err" ||
			{ cat "$work/doc.err"; fail "ansible-doc -t $kind fujitsu.vmcsinfo.$name"; }
		python3 - "$work/doc.json" "fujitsu.vmcsinfo.$name" "$installed" <<-'PY' || fail "ansible-doc -t $kind fujitsu.vmcsinfo.$name"
			import json, sys
			doc = json.load(open(sys.argv[1]))[sys.argv[2]]
			assert doc["doc"].get("short_description"), "no short_description"
			where = doc["doc"].get("filename", "")
			assert where.startswith(sys.argv[3]), f"documented from {where}, not the installed collection"
		PY
		n=$((n + 1))
	done
done
echo "collection-test: ansible-doc documents all $n plugins (modules, filters, lookup) from the installed collection"

# The installed playbook in check mode on a fresh container (as the molecule
# container scenario's check step, but from the tarball).
kernel=$("$here/kernels.sh" version 6.1)
image=$("$here/container-image.sh")
podman run --detach --replace --name="$ctr" --hostname="$ctr" --systemd=always "$image" /sbin/init >/dev/null
# systemd in the container answers only once its bus is up (under load, a
# few seconds after the start): ask again until it says it booted.
state=
for _ in $(seq 60); do
	state=$(podman exec "$ctr" systemctl is-system-running --wait 2>/dev/null || true)
	case $state in running | degraded) break ;; esac
	sleep 1
done
case $state in running | degraded) ;; *) fail "the container did not boot in 60 s (systemd: ${state:-no answer})" ;; esac
cat >"$work/hosts.yml" <<EOF
all:
  hosts:
    $ctr:
      ansible_connection: containers.podman.podman
      ansible_python_interpreter: /usr/bin/python3
      # podman exec is root already; the image has no sudo
      ansible_become_method: ansible.builtin.su
  vars:
    vmcsinfo_build_kernels: ["$kernel"]
EOF
echo "collection-test: ansible-playbook fujitsu.vmcsinfo.deploy --check on a fresh container ($image, kernel $kernel)"
rc=0
ansible-playbook fujitsu.vmcsinfo.deploy -i "$work/hosts.yml" --check >"$work/check.log" 2>&1 || rc=$?
if [ "$rc" -ne 0 ] || ! grep -Eq "^$ctr +: ok=[1-9][0-9]* .*failed=0" "$work/check.log"; then
	cat "$work/check.log"
	fail "the installed playbook's check run (rc $rc)"
fi
grep -F 'PLAY [Give every KVM host its VMCSINFO]' "$work/check.log" >/dev/null ||
	fail "the check run did not reach the deploy play"
# The fleet summary line (a filter of the installed collection) for the host.
line=$(grep -A3 'TASK \[One line per host\]' "$work/check.log" | grep -o '"msg": ".*"\|msg: .*' | head -n1)
echo "collection-test: fleet summary: $line"
[[ $line == *"module "*"; VMCSINFO "*"; kdump "*"; run full: "* ]] ||
	fail "the fleet summary line is not what deploy.yml prints (see above)"
grep -A2 'PLAY RECAP' "$work/check.log"
echo "collection-test: ok in $((SECONDS - t0)) s"
