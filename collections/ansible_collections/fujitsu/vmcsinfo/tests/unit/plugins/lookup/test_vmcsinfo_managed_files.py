# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each role publishes the files it manages (vars/main.yml <role>__managed_files);
deploy.yml hands their union to the fast-path record. Every file a role's tasks
write is covered by that role's own list, so a new file cannot slip past the
fast path unnoticed."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleLookupError

from ansible_collections.fujitsu.vmcsinfo.plugins.lookup import vmcsinfo_managed_files as mf

ROOT = mf.collection_root()
# Module options that name a file the task writes on the host.
WRITE_KEYS = {
    "ansible.builtin.copy": "dest",
    "ansible.builtin.template": "dest",
    "ansible.builtin.lineinfile": "path",
    "ansible.builtin.blockinfile": "path",
}
# Modules that write files of their own names in a directory option. The snapshot's
# sidecar vmcsinfo.origin is deliberately not published: the persist helper rewrites it at
# every boot of a probing host, which would make every deploy after a reboot a full one.
WRITE_DIRS = {"fujitsu.vmcsinfo.vmcsinfo_snapshot": ("dir", ("vmcsinfo",))}
VAR = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}(.*)$")


def _tasks(node):
    if isinstance(node, list):
        for x in node:
            yield from _tasks(x)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always"):
            yield from _tasks(node.get(key))


def _written(role: str) -> list[str]:
    """Absolute paths the role's tasks write, resolving a leading {{ var }} from
    the role's vars and defaults (paths built otherwise are not resolvable here)."""
    values: dict = {}
    for name in ("defaults", "vars"):
        f = ROOT / "roles" / role / name / "main.yml"
        if f.exists():
            values.update(yaml.safe_load(f.read_text()) or {})
    out = []

    def resolve(path: str) -> str:
        m = VAR.match(path)
        if m and isinstance(values.get(m.group(1)), str) and "{{" not in values[m.group(1)]:
            path = values[m.group(1)] + m.group(2)
        return path

    for f in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        for task in _tasks(yaml.safe_load(f.read_text())):
            paths = []
            for module, key in WRITE_KEYS.items():
                args = task.get(module)
                if isinstance(args, dict) and isinstance(args.get(key), str):
                    paths.append(resolve(args[key]))
            for module, (key, names) in WRITE_DIRS.items():
                args = task.get(module)
                if isinstance(args, dict) and args.get("state", "present") == "present":
                    d = resolve(args.get(key, "/var/lib/vmcsinfo"))
                    paths.extend(f"{d}/{n}" for n in names)
            out.extend(p for p in paths if p.startswith("/") and "{{" not in p)
    return out


def test_the_union_is_every_role_in_order_without_repeats() -> None:
    union = mf.managed_files(ROOT)
    assert len(union) == len(set(union))
    per_role = [mf.role_managed_files(ROOT, r) for r in mf.ROLES]
    assert set(union) == set().union(*per_role)
    assert union[: len(per_role[0])] == per_role[0]


@pytest.mark.parametrize("role", mf.ROLES)
def test_every_file_a_role_writes_is_in_its_published_list(role: str) -> None:
    published = mf.role_managed_files(ROOT, role)
    written = _written(role)
    assert written, f"no literal file writes found in {role}: the test would assert nothing"
    for path in written:
        assert any(fnmatch.fnmatch(path, pat) for pat in published), (role, path)


def test_the_load_role_removes_what_it_publishes() -> None:
    """vmcsinfo_load_files (absent's list) is derived from the published list."""
    text = (ROOT / "roles/vmcsinfo_load/vars/main.yml").read_text()
    assert "vmcsinfo_load__managed_files" in yaml.safe_load(text)["vmcsinfo_load_files"]


def test_deploy_yml_passes_the_lookup_to_every_record_and_check() -> None:
    plays = yaml.safe_load((ROOT / "playbooks/deploy.yml").read_text())
    calls = [
        t
        for p in plays
        for k in ("pre_tasks", "tasks", "post_tasks")
        for t in _tasks(p.get(k) or [])
        if "fujitsu.vmcsinfo.vmcsinfo_deploy_state" in t
    ]
    assert len(calls) == 3
    for t in calls:
        assert t["fujitsu.vmcsinfo.vmcsinfo_deploy_state"]["paths"] == "{{ vmcsinfo_deploy_paths }}"
    text = (ROOT / "playbooks/deploy.yml").read_text()
    assert "query('fujitsu.vmcsinfo.vmcsinfo_managed_files')" in text


def test_bad_role_lists_are_refused(tmp_path: Path) -> None:
    (tmp_path / "roles/vmcsinfo_build/vars").mkdir(parents=True)
    f = tmp_path / "roles/vmcsinfo_build/vars/main.yml"
    for text, expect in (
        ("other: 1\n", "has no list vmcsinfo_build__managed_files"),
        ("vmcsinfo_build__managed_files: [relative/path]\n", "absolute glob pattern"),
        ("vmcsinfo_build__managed_files: ['{{ x }}/y']\n", "without templating"),
        ("vmcsinfo_build__managed_files: [\n", "cannot read"),
    ):
        f.write_text(text)
        with pytest.raises(AnsibleLookupError, match=re.escape(expect)):
            mf.managed_files(tmp_path, ["vmcsinfo_build"])
    with pytest.raises(AnsibleLookupError, match="no role 'nope'"):
        mf.managed_files(tmp_path, ["nope"])
