#!/usr/bin/env bash
# The execution environment (issue 12): build the collection tarball that
# execution-environment.yml installs (build/ee/), run `ansible-builder create`
# offline (in a network namespace of its own where unshare allows it) into a
# temporary context, and check what the context says:
#   - Containerfile: FROM the base image of the definition, ansible-core and
#     ansible-runner pip-installed at exact pins, the galaxy stage installing
#     requirements.yml;
#   - _build/requirements.txt: jmespath and drgn at exact pins;
#   - _build/requirements.yml: fujitsu.vmcsinfo from a tarball that is in the
#     context and whose MANIFEST.json says fujitsu.vmcsinfo at galaxy.yml's
#     version;
#   - every pin equal to requirements.txt's where requirements.txt has it.
# Exits non-zero with a message naming what is missing or differs.
#   scripts/ee-check.sh            (the `ee` step of make test; make ee)
#   EE_CONTEXT=DIR scripts/ee-check.sh   keeps the context in DIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
venv=$top/.venv/bin
coll=$top/collections/ansible_collections/fujitsu/vmcsinfo
ee=$top/execution-environment.yml

fail() {
	echo "ee-check: FAILED: $*" >&2
	exit 1
}
[ -x "$venv/ansible-builder" ] || fail "no $venv/ansible-builder: run 'make venv' (requirements.txt pins ansible-builder)"
[ -s "$ee" ] || fail "no $ee"

work=$(mktemp -d "${TMPDIR:-/tmp}/vmcsinfo-ee.XXXXXX")
trap 'rm -rf "$work"' EXIT
ctx=${EE_CONTEXT:-$work/context}
rm -rf "$ctx"

version=$(sed -n 's/^version: *//p' "$coll/galaxy.yml")
echo "ee-check: ansible-galaxy collection build (fujitsu.vmcsinfo $version) into build/ee/"
mkdir -p "$top/build/ee"
rm -f "$top"/build/ee/fujitsu-vmcsinfo-*.tar.gz
"$venv/ansible-galaxy" collection build "$coll" --output-path "$top/build/ee" --force >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log"; fail "ansible-galaxy collection build"; }

grep -q "fujitsu-vmcsinfo-$version\.tar\.gz" "$ee" ||
	fail "execution-environment.yml does not name fujitsu-vmcsinfo-$version.tar.gz (galaxy.yml's version)"

# Offline: no network at all where a network namespace can be had (root, or
# unprivileged user namespaces); `ansible-builder create` needs none.
offline=()
if unshare -n true 2>/dev/null; then
	offline=(unshare -n)
elif unshare -rn true 2>/dev/null; then
	offline=(unshare -rn)
fi
echo "ee-check: ${offline[*]:+${offline[*]} }ansible-builder create -f execution-environment.yml -c ${ctx#"$top"/}" \
	"($("$venv/ansible-builder" --version))"
(cd "$top" && "${offline[@]}" "$venv/ansible-builder" create -f "$ee" -c "$ctx" -v 2) >"$work/create.log" 2>&1 ||
	{ cat "$work/create.log"; fail "ansible-builder create"; }
# A missing additional_build_files source is only a warning to ansible-builder.
if grep -iE 'warning|no matches for|does not exist' "$work/create.log"; then
	fail "ansible-builder create warned (above): a file the definition names is missing"
fi

"$venv/python" - "$ee" "$ctx" "$top/requirements.txt" "$version" <<'PY'
import json
import re
import sys
import tarfile
from pathlib import Path

import yaml

ee_file, ctx, reqs_file, version = sys.argv[1:]
ctx = Path(ctx)
errors = []


def pins(lines):
    """name (lower case, - for _) -> version of each `name==version` line."""
    out = {}
    for line in lines:
        m = re.match(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;#]+)", line.split("#", 1)[0])
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def need(path):
    if not path.is_file():
        errors.append(f"the context has no {path.relative_to(ctx)}")
        return ""
    return path.read_text()


repo_pins = pins(Path(reqs_file).read_text().splitlines())
definition = yaml.safe_load(Path(ee_file).read_text())
containerfile = need(ctx / "Containerfile")
pip_reqs = need(ctx / "_build" / "requirements.txt")
galaxy_reqs = need(ctx / "_build" / "requirements.yml")

# ansible-core and ansible-runner: the Containerfile's ANSIBLE_INSTALL_REFS.
m = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.M)
install_refs = pins(m.group(1).split()) if m else {}
if containerfile and not m:
    errors.append("the Containerfile has no ARG ANSIBLE_INSTALL_REFS (ansible-core, ansible-runner)")
if containerfile and "$PYCMD -m pip install --no-cache-dir $ANSIBLE_INSTALL_REFS" not in containerfile:
    errors.append("the Containerfile does not pip-install $ANSIBLE_INSTALL_REFS")
base = definition.get("images", {}).get("base_image", {}).get("name", "")
if containerfile and f'ARG EE_BASE_IMAGE="{base}"' not in containerfile:
    errors.append(f"the Containerfile does not start FROM the definition's base image {base!r}")

found = {}
for name, where, have in (
    ("ansible-core", "Containerfile ANSIBLE_INSTALL_REFS", install_refs),
    ("ansible-runner", "Containerfile ANSIBLE_INSTALL_REFS", install_refs),
    ("jmespath", "_build/requirements.txt", pins(pip_reqs.splitlines())),
    ("drgn", "_build/requirements.txt", pins(pip_reqs.splitlines())),
):
    if name not in have:
        errors.append(f"{where} does not name {name} with an exact pin (name==version)")
        continue
    found[name] = have[name]
    if name in repo_pins and repo_pins[name] != have[name]:
        errors.append(
            f"{where} pins {name}=={have[name]}, requirements.txt pins {name}=={repo_pins[name]}"
        )

# The collection: requirements.yml names a tarball in the context (the galaxy
# stage copies _build/ to /build and installs from there).
coll_ok = False
try:
    collections = (yaml.safe_load(galaxy_reqs) or {}).get("collections", []) if galaxy_reqs else []
except yaml.YAMLError as e:
    errors.append(f"_build/requirements.yml is not YAML: {e}")
    collections = []
if galaxy_reqs and not re.search(
    r"^RUN .*ansible-galaxy collection install .*-r requirements\.yml", containerfile, re.M
):
    errors.append("the Containerfile's galaxy stage does not install requirements.yml")
for entry in collections:
    name = entry.get("name", "") if isinstance(entry, dict) else str(entry)
    if not (isinstance(entry, dict) and entry.get("type") == "file"):
        continue
    tarball = ctx / "_build" / name
    if not tarball.is_file():
        errors.append(f"_build/requirements.yml installs {name}, which is not in the context")
        continue
    with tarfile.open(tarball) as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
    ident = f"{info['namespace']}.{info['name']}"
    if ident == "fujitsu.vmcsinfo":
        if info["version"] != version:
            errors.append(f"{name} is fujitsu.vmcsinfo {info['version']}, galaxy.yml says {version}")
        else:
            coll_ok = True
            found["fujitsu.vmcsinfo"] = f"{version} ({name})"
if not coll_ok and not any("fujitsu.vmcsinfo" in e for e in errors):
    errors.append("_build/requirements.yml does not install fujitsu.vmcsinfo from a tarball in the context")

if errors:
    for e in errors:
        print(f"ee-check: FAILED: {e}", file=sys.stderr)
    sys.exit(1)
for name, pin in found.items():
    src = " = requirements.txt" if name in repo_pins else ""
    print(f"ee-check: {name} {pin}{src}")
print(f"ee-check: base image {base}")
PY
echo "ee-check: ok: the context names ansible-core, jmespath, drgn and fujitsu.vmcsinfo $version" \
	"($(find "$ctx" -type f | wc -l) files)"
