# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files the collection's roles manage on a host, as each role publishes them."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: vmcsinfo_managed_files
short_description: The files the collection's roles manage on a host, as the roles publish them
version_added: 0.1.0
description:
  - Each role of this collection publishes, in its C(vars/main.yml), the list
    C(<role>__managed_files) of glob patterns (C(**) matches any depth) of the files it writes on a
    host and of the files its result depends on (for the kdump role, kdump-tools' init script,
    C(kdump-config), its units and its package version).
  - This lookup returns their union, in role order and without repeats. C(deploy.yml) passes it to
    M(fujitsu.vmcsinfo.vmcsinfo_deploy_state) as its C(paths) option, so the fast-path record
    covers exactly what the roles manage, from one list per role.
  - With terms, only those roles (for example V(vmcsinfo_load)).
  - Runs on the controller only; it reads the collection's role files there.
author:
  - fujitsu.vmcsinfo developers (@fujitsu)
options:
  _terms:
    description:
      - Role names to include (default, every role of the collection).
    type: list
    elements: str
    required: false
"""

EXAMPLES = r"""
- name: Check the host against the fast-path record
  fujitsu.vmcsinfo.vmcsinfo_deploy_state:
    fingerprint: "{{ vmcsinfo_deploy_fingerprint }}"
    paths: "{{ query('fujitsu.vmcsinfo.vmcsinfo_managed_files') }}"
"""

RETURN = r"""
_raw:
  description: Glob patterns of the managed files, one per element.
  type: list
  elements: str
"""

from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

ROLES = ("vmcsinfo_build", "vmcsinfo_load", "vmcsinfo_db", "vmcsinfo_kdump")


def collection_root() -> Path:
    return Path(__file__).resolve().parents[2]


def role_managed_files(root: Path, role: str) -> list[str]:
    """The role's published list: a plain YAML list of absolute glob patterns."""
    path = root / "roles" / role / "vars" / "main.yml"
    key = f"{role}__managed_files"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise AnsibleLookupError(f"vmcsinfo_managed_files: cannot read {path}: {e}") from e
    files = data.get(key) if isinstance(data, dict) else None
    if not isinstance(files, list) or not files:
        raise AnsibleLookupError(f"vmcsinfo_managed_files: {path} has no list {key}")
    for entry in files:
        if not isinstance(entry, str) or not entry.startswith("/") or "{{" in entry:
            raise AnsibleLookupError(
                f"vmcsinfo_managed_files: {key} in {path} holds {entry!r}; each entry must be an "
                "absolute glob pattern without templating"
            )
    return files


def managed_files(root: Path, roles: tuple[str, ...] | list[str] = ROLES) -> list[str]:
    out: list[str] = []
    for role in roles:
        if role not in ROLES:
            raise AnsibleLookupError(
                f"vmcsinfo_managed_files: no role {role!r} in the collection (roles: "
                f"{', '.join(ROLES)})"
            )
        for entry in role_managed_files(root, role):
            if entry not in out:
                out.append(entry)
    return out


class LookupModule(LookupBase):
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[str]:
        self.set_options(var_options=variables, direct=kwargs)
        roles = [str(t) for t in terms] if terms else list(ROLES)
        return managed_files(collection_root(), roles)
