"""An empty vmcsinfo_build_signing_key (an inventory without its vault
variables) never deletes a host's fleet signing configuration, nor whatever
vmcsinfo_build_signing_dir points to (issue 11 fault 6). The role's own
signing.yml runs for real with ansible-playbook on local paths."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins/modules"))
import ansiblecli

TASKS = Path(__file__).resolve().parents[3] / "roles/vmcsinfo_build/tasks/signing.yml"


def _host(tmp_path: Path) -> tuple[Path, Path]:
    conf = tmp_path / "etc/dkms/framework.conf.d/vmcsinfo-signing.conf"
    sdir = tmp_path / "etc/vmcsinfo/signing"
    conf.parent.mkdir(parents=True)
    sdir.mkdir(parents=True)
    conf.write_text('mok_signing_key="..."\n')
    for name in ("vmcsinfo-signing.key", "vmcsinfo-signing.pem", "vmcsinfo-signing.der"):
        (sdir / name).write_text(name)
    (sdir / "operator-notes.txt").write_text("not ours\n")
    return conf, sdir


def _run(tmp_path: Path, conf: Path, sdir: Path, remove: bool):
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {
                "vmcsinfo_build_signing_key": "",
                "vmcsinfo_build_signing_cert": "",
                "vmcsinfo_build_signing_key_remove": remove,
                "vmcsinfo_build_framework_conf": str(conf),
                "vmcsinfo_build_signing_dir": str(sdir),
                "vmcsinfo_build_dkms_cert": "/var/lib/dkms/mok.pub",
            },
            "tasks": [{"name": "Signing", "ansible.builtin.include_tasks": str(TASKS)}],
        }
    ]
    pb = tmp_path / "play.yml"
    pb.write_text(yaml.safe_dump(play))
    return ansiblecli.run(
        tmp_path,
        "ansible-playbook",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        str(pb),
    )


def test_an_empty_key_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    conf, sdir = _host(tmp_path)
    r = _run(tmp_path, conf, sdir, remove=False)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "vmcsinfo_build_signing_key is empty, but this host signs DKMS modules" in out
    assert conf.exists() and len(list(sdir.iterdir())) == 4


def test_explicit_removal_takes_only_the_fleet_keys_files(tmp_path: Path) -> None:
    conf, sdir = _host(tmp_path)
    r = _run(tmp_path, conf, sdir, remove=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not conf.exists()
    assert [p.name for p in sdir.iterdir()] == ["operator-notes.txt"]


def test_no_fleet_key_leaves_the_directory_alone(tmp_path: Path) -> None:
    conf, sdir = _host(tmp_path)
    conf.unlink()
    r = _run(tmp_path, conf, sdir, remove=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(list(sdir.iterdir())) == 4
