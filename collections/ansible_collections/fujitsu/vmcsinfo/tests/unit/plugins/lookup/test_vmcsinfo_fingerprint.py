# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the vmcsinfo_fingerprint lookup (controller side of deploy.yml's fast path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.fujitsu.vmcsinfo.plugins.lookup import vmcsinfo_fingerprint as fp


def lookup(terms: list[str], variables: dict) -> str:
    loader = DataLoader()
    plugin = fp.LookupModule(loader=loader, templar=Templar(loader=loader, variables=variables))
    (digest,) = plugin.run(terms, variables=variables)
    return digest


def test_role_variables_are_the_argument_specs() -> None:
    names = fp.role_variable_names(fp.collection_root())
    for expected in (
        "vmcsinfo_build_kernels",
        "vmcsinfo_build_mode",
        "vmcsinfo_load_state",
        "vmcsinfo_kdump_crashkernel",
    ):
        assert expected in names
    # results the roles set are not inputs
    assert not [n for n in names if n.endswith("_status") or "__" in n]


def test_digest_follows_role_variables_only() -> None:
    base = lookup([], {"vmcsinfo_kdump_crashkernel": "256M"})
    assert base == lookup([], {"vmcsinfo_kdump_crashkernel": "256M"})
    assert base != lookup([], {"vmcsinfo_kdump_crashkernel": "384M"})
    assert base != lookup([], {})
    # not a role input: no effect
    assert base == lookup(
        [], {"vmcsinfo_kdump_crashkernel": "256M", "vmcsinfo_build_status": {"x": 1}, "other": 2}
    )


def test_variables_are_templated() -> None:
    direct = lookup([], {"vmcsinfo_kdump_crashkernel": "256M"})
    templated = lookup(
        [], {"size": "256M", "vmcsinfo_kdump_crashkernel": trust_as_template("{{ size }}")}
    )
    assert direct == templated


def test_extra_source_tree(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "vmcsinfo.c").write_text("int x;\n")
    (tmp_path / "src" / "__pycache__").mkdir()
    first = lookup([str(tmp_path / "src")], {})
    (tmp_path / "src" / "__pycache__" / "junk.pyc").write_bytes(b"x")
    assert lookup([str(tmp_path / "src")], {}) == first
    (tmp_path / "src" / "vmcsinfo.c").write_text("int y;\n")
    assert lookup([str(tmp_path / "src")], {}) != first
    (tmp_path / "src" / "vmcsinfo.c").rename(tmp_path / "src" / "other.c")
    assert lookup([str(tmp_path / "src")], {}) != first


def test_missing_extra_source(tmp_path: Path) -> None:
    with pytest.raises(AnsibleLookupError, match=r"cannot read .*nowhere on the controller"):
        lookup([str(tmp_path / "nowhere")], {})


def test_tree_digest_skips_tests(tmp_path: Path) -> None:
    (tmp_path / "roles").mkdir()
    (tmp_path / "roles" / "a.yml").write_text("a\n")
    d1 = fp.tree_digest(tmp_path)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("t\n")
    assert fp.tree_digest(tmp_path) == d1
    (tmp_path / "roles" / "a.yml").write_text("b\n")
    assert fp.tree_digest(tmp_path) != d1


def test_secrets_do_not_count() -> None:
    """The fingerprint is recorded on hosts and printed with -v: it must not
    be an unsalted digest over the MOK password or the private key (issue 11
    fault 15), while a new certificate still makes a full run."""
    base = lookup([], {"vmcsinfo_build_signing_cert": "CERT-A"})
    assert base == lookup(
        [], {"vmcsinfo_build_signing_cert": "CERT-A", "vmcsinfo_build_mok_password": "hunter2"}
    )
    assert base == lookup(
        [], {"vmcsinfo_build_signing_cert": "CERT-A", "vmcsinfo_build_signing_key": "KEY"}
    )
    assert base != lookup([], {"vmcsinfo_build_signing_cert": "CERT-B"})
