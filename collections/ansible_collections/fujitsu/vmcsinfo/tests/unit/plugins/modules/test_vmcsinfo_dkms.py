# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for vmcsinfo_dkms's parsing and argument checks.

The DKMS state machine itself runs for real in the molecule container
scenario (real dkms, real headers, real failed builds), and a same-version
rebuild that fails in test_vmcsinfo_dkms_real.py (real dkms on a private
tree); these cover what real parts there cannot reach: other DKMS output
formats and bad arguments.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import dkms
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
    m = dkms._STATUS_RE.match(line)
    assert m is not None
    assert (m["version"], m["kernel"], m["arch"], m["state"]) == expected


@pytest.mark.parametrize(
    "line", ["", "Error! no module", "vmcsinfox/0.1.0: added", "other/1.0: added"]
)
def test_status_ignores_other_lines(line: str) -> None:
    assert dkms._STATUS_RE.match(line) is None


def test_entry_has_every_key() -> None:
    entry = dkms.new_entry("0.1.0", "installed", "none")
    assert set(entry) == {
        "version",
        "status",
        "action",
        "path",
        "vermagic",
        "signer",
        "sig_key",
        "modversion",
        "tarball",
    }


def test_tarball_name() -> None:
    assert (
        dkms.tarball_name("0.1.0", "6.1.0-56-amd64", "x86_64")
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


# --- who signed a module (issue 11 fault 5) -------------------------------------------------------


class _Module:
    """What cert_identity needs of AnsibleModule: openssl, and fail_json."""

    def get_bin_path(self, name: str) -> str | None:
        return shutil.which(name)

    def run_command(self, argv: list[str]):
        p = subprocess.run(argv, capture_output=True, text=True, check=False)
        return p.returncode, p.stdout, p.stderr

    def fail_json(self, **kw):
        raise AssertionError(kw)


def _ca_issued(tmp_path: Path, leaf_cn: str = "fleet signing 2026") -> Path:
    """A fleet certificate as a company CA issues it (subject CN != issuer CN), DER."""

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    ossl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "3",
        "-subj",
        "/CN=Fleet CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    )
    ossl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        f"/CN={leaf_cn}",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    )
    ossl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "0x7d803f10603bcaf97dd6851128db0606cb2a2125",
        "-days",
        "3",
        "-out",
        "leaf.pem",
    )
    ossl("x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der")
    return tmp_path / "leaf.der"


# What modinfo printed for a module that sign-file signed with that leaf key
# and certificate (measured with Debian 12's kmod 30 and the 6.12 sign-file):
# kmod's signer is the issuer's CN, sig_key the certificate's serial.
SIGNED = {
    "signer": "Fleet CA",
    "sig_key": "7D:80:3F:10:60:3B:CA:F9:7D:D6:85:11:28:DB:06:06:CB:2A:21:25",
}


def test_a_ca_issued_certificate_matches_the_module_it_signed(tmp_path: Path) -> None:
    want = dkms.cert_identity(_Module(), str(_ca_issued(tmp_path)))
    assert want == SIGNED
    assert dkms.signed_by(SIGNED, want)


def test_a_key_rotated_under_the_same_name_is_noticed(tmp_path: Path) -> None:
    want = dkms.cert_identity(_Module(), str(_ca_issued(tmp_path)))
    rotated = {**SIGNED, "sig_key": "01:02:03"}
    assert not dkms.signed_by(rotated, want)
    assert not dkms.signed_by({"signer": None, "sig_key": None}, want)
    assert dkms.signed_by({"signer": None, "sig_key": None}, None)


def test_sig_key_form() -> None:
    assert dkms.sig_key_form("7D803F") == "7D:80:3F"
    assert dkms.sig_key_form("abc") == "0A:BC"
    assert dkms.sig_key_form("0a:bc") == "0A:BC"


def test_absent_on_a_host_that_never_had_dkms(tmp_path, monkeypatch, capsys) -> None:
    """state=absent where DKMS is not installed: nothing is registered, so nothing to do;
    a leftover /usr/src/vmcsinfo-* goes (it failed with "Failed to find required executable
    dkms" before: the podman fleet benchmark found it)."""
    import json

    from ansible.module_utils.basic import AnsibleModule
    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.fujitsu.vmcsinfo.plugins.modules import vmcsinfo_dkms

    real = AnsibleModule.get_bin_path

    def without_dkms(self, arg, required=False, opt_dirs=None):
        if arg == "dkms":
            if required:
                self.fail_json(msg=f'Failed to find required executable "{arg}"')
            return None
        return real(self, arg, required, opt_dirs)

    monkeypatch.setattr(AnsibleModule, "get_bin_path", without_dkms)
    root = tmp_path / "root"
    (root / "usr/src/vmcsinfo-0.0.9").mkdir(parents=True)
    for state, changed in (("absent", True), ("absent", False)):
        with patch_module_args({"state": state, "root": str(root)}), pytest.raises(SystemExit):
            vmcsinfo_dkms.main()
        result = json.loads(capsys.readouterr().out)
        assert not result.get("failed"), result["msg"]
        assert result["changed"] is changed
    assert not (root / "usr/src/vmcsinfo-0.0.9").exists()
