"""On a Secure Boot host whose module signing key is not enrolled (and the
role may not stage its enrollment) the build role refuses BEFORE it builds,
installs or replaces anything, and tarball hosts check the MOK enrollment of
the certificate that signed the tarballs' modules instead of reporting "not
needed" (issue 11 fault 6).

The role's own task files run for real with ansible-playbook on local paths:
present.yml in the order it has. Faked, because they cannot exist on this
machine: EFI (vmcsinfo_build_efi_dir points at an empty directory; there is no
/sys/firmware/efi here), `mokutil` (a stub on PATH answering --sb-state with
"SecureBoot enabled" and --test-key from a list of enrolled certificates) and
`dkms` (a stub on PATH that only logs how it was called, so the real
vmcsinfo_dkms module runs without touching this machine's DKMS). packages.yml
is replaced by a no-op in the copy of the tasks that runs (it would install
packages on this machine), and the build-mode runs are in check mode (so the
source is not copied to this machine's /usr/src)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins/modules"))
import ansiblecli

ROLE = Path(__file__).resolve().parents[3] / "roles/vmcsinfo_build"
KERNEL = "6.1.0-56-amd64"
ARCH = os.uname().machine


def _cert(path: Path, cn: str) -> str:
    """A self-signed DER certificate at path (as DKMS makes its mok.pub); its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.with_suffix(".key"))
    argv = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*argv, "-subj", f"/CN={cn}", "-keyout", key, "-outform", "DER", "-out", str(path)],
        capture_output=True,
        check=True,
    )
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _host(tmp_path: Path, enrolled: bool) -> dict:
    """Stub mokutil and dkms, a fake EFI directory, DKMS's certificate and the
    copy of the role's tasks that runs; returns the role's variables."""
    tasks = tmp_path / "tasks"
    shutil.copytree(ROLE / "tasks", tasks)
    (tasks / "packages.yml").write_text(
        "---\n- name: Packages are not installed in this test\n"
        "  ansible.builtin.debug:\n    msg: packages.yml\n"
    )
    log, known = tmp_path / "calls.log", tmp_path / "enrolled"
    log.write_text("")
    sums = [_cert(tmp_path / "dkms/mok.pub", "DKMS module signing key")]
    sums.append(_cert(tmp_path / "builder/signing.der", "Fleet module signing key"))
    known.write_text("".join(f"{s}\n" for s in sums) if enrolled else "")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "mokutil").write_text(
        "#!/bin/sh\n"
        f'echo "mokutil $*" >> "{log}"\n'
        'case "$1" in\n'
        "  --help) exit 0 ;;\n"
        '  --sb-state) echo "SecureBoot enabled" ;;\n'
        f'  --test-key) if grep -qxF "$(sha256sum < "$2" | cut -d" " -f1)" "{known}"; then\n'
        '      echo "$2 is already enrolled"; exit 1\n'
        '    else echo "$2 is not enrolled"; fi ;;\n'
        "esac\n"
    )
    (stubs / "dkms").write_text(f'#!/bin/sh\necho "dkms $*" >> "{log}"\n')
    for tool in stubs.iterdir():
        tool.chmod(0o755)
    (tmp_path / "efi").mkdir()
    return {
        "vmcsinfo_build_src": str(ROLE.parents[1] / "module-src"),
        "vmcsinfo_build_version": "0.1.0",
        "vmcsinfo_build_kernels": [KERNEL],
        "vmcsinfo_build_efi_dir": str(tmp_path / "efi"),
        "vmcsinfo_build_dkms_cert": str(tmp_path / "dkms/mok.pub"),
        "vmcsinfo_build_framework_conf": str(tmp_path / "framework.conf.d/vmcsinfo-signing.conf"),
        "vmcsinfo_build_signing_dir": str(tmp_path / "signing"),
        "vmcsinfo_build_host_tarball_dir": str(tmp_path / "host-tarballs"),
        "vmcsinfo_build_tarball_controller_dir": str(tmp_path / "controller"),
    }


def _run(tmp_path: Path, overrides: dict, files: list[str], check: bool):
    """The role's defaults and vars, the overrides as extra vars, then the
    task files in order; the Secure Boot outcome goes to result.json."""
    (tmp_path / "overrides.yml").write_text(yaml.safe_dump(overrides))
    record = {
        "name": "Record the Secure Boot outcome",
        "ansible.builtin.copy": {
            "content": "{{ {'sb': vmcsinfo_build_sb_state, 'mok': vmcsinfo_build_mok} | to_json }}",
            "dest": str(tmp_path / "result.json"),
            "mode": "0644",
        },
        "check_mode": False,
    }
    play = [
        {
            "hosts": "localhost",
            "gather_facts": True,
            "gather_subset": ["min"],
            "environment": {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"},
            "vars_files": [str(ROLE / "defaults/main.yml"), str(ROLE / "vars/main.yml")],
            "tasks": [
                *(
                    {
                        "name": f"Run {name}",
                        "ansible.builtin.include_tasks": str(tmp_path / "tasks" / name),
                    }
                    for name in files
                ),
                record,
            ],
        }
    ]
    pb = tmp_path / "play.yml"
    pb.write_text(yaml.safe_dump(play))
    args = ["-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}"]
    args += ["-e", f"@{tmp_path / 'overrides.yml'}", *(["--check"] if check else []), str(pb)]
    return ansiblecli.run(tmp_path, "ansible-playbook", *args)


def _calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def _tarballs(tmp_path: Path, overrides: dict) -> Path:
    """A builder's output on the controller: the tarball and the certificate
    that signed its modules (vmcsinfo_build_mode=publish fetches both)."""
    ctl = Path(overrides["vmcsinfo_build_tarball_controller_dir"])
    ctl.mkdir()
    stem = f"vmcsinfo-0.1.0-kernel-{KERNEL}-{ARCH}"
    (ctl / f"{stem}.dkms.tar.gz").write_bytes(b"not a real tarball")
    shutil.copy(tmp_path / "builder/signing.der", ctl / f"{stem}.signing.der")
    return Path(overrides["vmcsinfo_build_host_tarball_dir"]) / f"{stem}.signing.der"


def test_an_unenrolled_key_is_refused_before_the_module_is_touched(tmp_path: Path) -> None:
    overrides = _host(tmp_path, enrolled=False)
    r = _run(tmp_path, overrides, ["present.yml"], check=True)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "Secure Boot is on and the module signing certificate" in out, out
    assert "is not enrolled" in out and "vmcsinfo_build_mok_password" in out, out
    assert "Nothing was built, installed or replaced" in out, out
    # The check ran first: neither the vmcsinfo_dkms module nor DKMS was reached.
    assert "Build, sign and install with DKMS" not in out, out
    assert not [c for c in _calls(tmp_path) if c.startswith("dkms")], _calls(tmp_path)
    assert f"mokutil --test-key {overrides['vmcsinfo_build_dkms_cert']}" in _calls(tmp_path)


def test_an_enrolled_key_goes_on_to_the_module(tmp_path: Path) -> None:
    overrides = _host(tmp_path, enrolled=True)
    r = _run(tmp_path, overrides, ["present.yml"], check=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dkms status -m vmcsinfo" in _calls(tmp_path)
    assert json.loads((tmp_path / "result.json").read_text()) == {
        "sb": "enabled",
        "mok": "enrolled",
    }


def test_a_tarball_host_checks_the_tarballs_certificate(tmp_path: Path) -> None:
    overrides = {**_host(tmp_path, enrolled=True), "vmcsinfo_build_mode": "tarball"}
    cert = _tarballs(tmp_path, overrides)
    r = _run(tmp_path, overrides, ["kernels.yml", "tarball_in.yml", "secureboot.yml"], check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"mokutil --test-key {cert}" in _calls(tmp_path)
    assert json.loads((tmp_path / "result.json").read_text()) == {
        "sb": "enabled",
        "mok": "enrolled",
    }


def test_a_tarball_host_with_an_unenrolled_signer_is_refused_before_loading(
    tmp_path: Path,
) -> None:
    overrides = {**_host(tmp_path, enrolled=False), "vmcsinfo_build_mode": "tarball"}
    cert = _tarballs(tmp_path, overrides)
    r = _run(tmp_path, overrides, ["present.yml"], check=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert f"the module signing certificate {cert} is not enrolled" in out, out
    assert not [c for c in _calls(tmp_path) if c.startswith("dkms")], _calls(tmp_path)
