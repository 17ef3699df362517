# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for vmcsinfo_dkms's parsing and argument checks.

The DKMS state machine itself runs for real in the molecule container
scenario (real dkms, real headers, real failed builds); these cover what real
parts there cannot reach: other DKMS output formats and bad arguments.
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fujitsu.vmcsinfo.plugins.modules import vmcsinfo_dkms


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # DKMS 3.x
        (
            "vmcsinfo/0.1.0, 6.1.0-56-amd64, x86_64: installed",
            ("0.1.0", "6.1.0-56-amd64", "x86_64", "installed"),
        ),
        (
            "vmcsinfo/0.1.1, 6.12.117+deb12-amd64, x86_64: built",
            ("0.1.1", "6.12.117+deb12-amd64", "x86_64", "built"),
        ),
        ("vmcsinfo/0.1.0: added", ("0.1.0", None, None, "added")),
        # DKMS 3.x appends warnings after the state
        (
            "vmcsinfo/0.1.0, 6.1.0-56-amd64, x86_64: installed"
            " (WARNING! Diff between built and installed module!)",
            ("0.1.0", "6.1.0-56-amd64", "x86_64", "installed"),
        ),
        # DKMS 2.x
        (
            "vmcsinfo, 0.1.0, 5.10.0-28-amd64, x86_64: installed",
            ("0.1.0", "5.10.0-28-amd64", "x86_64", "installed"),
        ),
    ],
)
def test_status_lines(line: str, expected: tuple) -> None:
    m = vmcsinfo_dkms._STATUS_RE.match(line)
    assert m is not None
    assert (m["version"], m["kernel"], m["arch"], m["state"]) == expected


@pytest.mark.parametrize(
    "line", ["", "Error! no module", "vmcsinfox/0.1.0: added", "other/1.0: added"]
)
def test_status_ignores_other_lines(line: str) -> None:
    assert vmcsinfo_dkms._STATUS_RE.match(line) is None


def test_entry_has_every_key() -> None:
    entry = vmcsinfo_dkms.new_entry("0.1.0", "installed", "none")
    assert set(entry) == {
        "version",
        "status",
        "action",
        "path",
        "vermagic",
        "signer",
        "modversion",
        "tarball",
    }


def test_tarball_name() -> None:
    assert (
        vmcsinfo_dkms.tarball_name("0.1.0", "6.1.0-56-amd64", "x86_64")
        == "vmcsinfo-0.1.0-kernel-6.1.0-56-amd64-x86_64.dkms.tar.gz"
    )


def run_main(args: dict, capsys: pytest.CaptureFixture[str]) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        vmcsinfo_dkms.main()
    return json.loads(capsys.readouterr().out)


def test_present_needs_kernels(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_main({"version": "0.1.0", "kernels": [], "_ansible_check_mode": True}, capsys)
    assert out["failed"]
    assert "kernels is required" in out["msg"]


def test_present_needs_version(capsys: pytest.CaptureFixture[str]) -> None:
    out = run_main({"kernels": ["6.1.0-56-amd64"], "_ansible_check_mode": True}, capsys)
    assert out["failed"]
    assert "version is required" in out["msg"]
