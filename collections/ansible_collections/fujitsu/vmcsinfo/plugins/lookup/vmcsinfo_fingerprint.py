# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fingerprint of what a vmcsinfo deployment puts on a host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: vmcsinfo_fingerprint
short_description: Fingerprint of what deploy.yml would deploy to a host
version_added: 0.1.0
description:
  - Returns one SHA-256 hex digest over the content of this collection (roles, plugins and the
    vmcsinfo module source it ships; not its tests), the content of any extra directories or files
    given as terms (for example a C(vmcsinfo_build_src) outside the collection), and the values the
    host has for the collection's role variables (every option in the roles'
    C(meta/argument_specs.yml), such as C(vmcsinfo_build_kernels) or C(vmcsinfo_kdump_crashkernel)).
    Values are templated first, so vaulted and templated values count by what they are.
    Secrets (options with C(no_log), the signing key and the MOK password) do not count, since a
    digest over them would let guesses be tested offline; a new signing key comes with a new
    certificate, which counts.
  - C(deploy.yml) compares it with the one recorded on the host by
    M(fujitsu.vmcsinfo.vmcsinfo_deploy_state) to skip the roles on hosts where nothing would change.
  - Runs on the controller only; it reads files there and never contacts the host.
author:
  - fujitsu.vmcsinfo developers (@fujitsu)
options:
  _terms:
    description:
      - Extra files or directories (on the controller) whose content is part of the fingerprint.
    type: list
    elements: path
    required: false
notes:
  - Any change of the collection (a new release, an edited role), of the module source or of a
    matching variable changes the fingerprint, which makes the next C(deploy.yml) run a full one on
    every host it applies to. That is the safe direction; an unchanged fingerprint never hides a
    change on the host, which M(fujitsu.vmcsinfo.vmcsinfo_deploy_state) checks separately.
  - Role variables left unset count as unset; their defaults are part of the collection's content.
"""

EXAMPLES = r"""
- name: Fingerprint what this run deploys
  ansible.builtin.set_fact:
    vmcsinfo_deploy_fingerprint: "{{ lookup('fujitsu.vmcsinfo.vmcsinfo_fingerprint') }}"

- name: Include a module source tree kept outside the collection
  ansible.builtin.set_fact:
    vmcsinfo_deploy_fingerprint: >-
      {{ lookup('fujitsu.vmcsinfo.vmcsinfo_fingerprint', '/srv/vmcsinfo/module-src') }}
"""

RETURN = r"""
_raw:
  description: One SHA-256 hex digest.
  type: list
  elements: str
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

# Parts of the collection that never reach a host.
SKIP_DIRS = {"tests", "extensions", "changelogs", "docs", "__pycache__", ".git", "sim"}
SKIP_SUFFIXES = (".pyc", ".o", ".ko", ".cmd", ".mod", ".mod.c", ".order", ".symvers")


def collection_root() -> Path:
    # plugins/lookup/<this file> -> the collection's top directory
    return Path(__file__).resolve().parents[2]


def tree_digest(path: Path, skip_dirs: set[str] | None = None) -> str:
    """SHA-256 over the relative names and contents of the regular files under path."""
    skip = SKIP_DIRS if skip_dirs is None else skip_dirs
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
        return h.hexdigest()
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a file nor a directory")
    for top, dirs, files in os.walk(path, followlinks=True):
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.startswith("."))
        for name in sorted(files):
            if name.endswith(SKIP_SUFFIXES):
                continue
            p = Path(top, name)
            rel = p.relative_to(path).as_posix()
            h.update(rel.encode() + b"\0")
            h.update(p.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def role_variables(root: Path) -> dict[str, bool]:
    """Every option of every entry point in the collection's roles'
    meta/argument_specs.yml, and whether it is a secret (no_log: true)."""
    out: dict[str, bool] = {}
    for spec in sorted(root.glob("roles/*/meta/argument_specs.yml")):
        data = yaml.safe_load(spec.read_text(encoding="utf-8")) or {}
        for entry in (data.get("argument_specs") or {}).values():
            for name, opt in ((entry or {}).get("options") or {}).items():
                out[name] = out.get(name, False) or bool((opt or {}).get("no_log"))
    return dict(sorted(out.items()))


def role_variable_names(root: Path) -> list[str]:
    """The role variables that count in the fingerprint: every option but
    the secrets (no_log: the signing key, the MOK password). An unsalted
    digest over a secret would let anyone who sees the fingerprint (the
    host's deploy record, -v output) test guesses of it offline. The
    signing certificate counts, and a new key comes with a new certificate."""
    return [n for n, secret in role_variables(root).items() if not secret]


def variables_digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


class LookupModule(LookupBase):
    def run(
        self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> list[str]:
        self.set_options(var_options=variables, direct=kwargs)
        root = collection_root()
        try:
            names = role_variable_names(root)
            parts = [("collection", tree_digest(root))]
        except (OSError, yaml.YAMLError) as e:
            raise AnsibleLookupError(
                f"vmcsinfo_fingerprint: cannot read the collection at {root}: {e}"
            ) from e
        for term in terms or []:
            p = Path(str(term)).expanduser()
            try:
                parts.append((str(p), tree_digest(p, skip_dirs={"__pycache__", ".git"})))
            except OSError as e:
                raise AnsibleLookupError(
                    f"vmcsinfo_fingerprint: cannot read {p} on the controller: {e}"
                ) from e

        values: dict[str, Any] = {}
        for name in names:
            if name in (variables or {}):
                values[name] = self._templar.template(variables[name])
        parts.append(("variables", variables_digest(values)))

        h = hashlib.sha256()
        for label, digest in parts:
            h.update(f"{label}={digest}\n".encode())
        return [h.hexdigest()]
