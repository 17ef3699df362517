"""The running-guest listing (module_utils/guests.py): on a fake /proc for the
shapes real hosts have, and on this machine's real KVM with a real VM
(tests/vmx/kvmguest.c) when /dev/kvm is there."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.guests import (
    guest_name,
    list_guests,
)

REPO = Path(__file__).resolve().parents[8]


def _proc(root: Path, pid: int, comm: str, argv: list[str], fds: list[str]) -> None:
    d = root / str(pid)
    (d / "fd").mkdir(parents=True)
    (d / "comm").write_text(comm + "\n")
    (d / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
    for i, target in enumerate(fds):
        (d / "fd" / str(i)).symlink_to(target)


def test_fake_proc(tmp_path: Path) -> None:
    libvirt = ["/usr/bin/qemu-system-x86_64", "-name", "guest=web01,debug-threads=on", "-m", "2048"]
    _proc(
        tmp_path,
        300,
        "qemu-system-x86",
        libvirt,
        [
            "/dev/null",
            "/dev/kvm",
            "anon_inode:kvm-vm",
            "anon_inode:kvm-vcpu:0",
            "anon_inode:kvm-vcpu:1",
        ],
    )
    _proc(
        tmp_path,
        20,
        "qemu-system-x86",
        ["qemu-system-x86_64", "-name", "db", "-enable-kvm"],
        ["anon_inode:kvm-vm", "anon_inode:kvm-vcpu:0"],
    )
    # /dev/kvm open but no VM (a capability check), an ordinary process, a link
    # that points at a root-only file: none is a guest.
    _proc(tmp_path, 30, "kvm-ok", ["kvm-ok"], ["/dev/kvm"])
    _proc(tmp_path, 31, "bash", ["bash"], ["/dev/pts/0", "/etc/shadow"])
    (tmp_path / "self").symlink_to("31")
    (tmp_path / "kmsg").write_text("")
    got = list_guests(str(tmp_path))
    assert got == [
        {"pid": 20, "name": "db", "comm": "qemu-system-x86", "vcpus": 1},
        {"pid": 300, "name": "web01", "comm": "qemu-system-x86", "vcpus": 2},
    ]


def test_names() -> None:
    assert guest_name(["qemu", "-name", "guest=a,debug-threads=on"], "qemu", 1) == "a"
    assert guest_name(["qemu", "-name", "plain"], "qemu", 1) == "plain"
    assert guest_name(["qemu", "--name=x,process=y"], "qemu", 1) == "x"
    assert guest_name(["firecracker", "--api-sock", "/s"], "firecracker", 7) == "firecracker[7]"
    assert guest_name(["qemu", "-name"], "qemu", 8) == "qemu[8]"


def test_unreadable_proc_raises(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        list_guests(str(tmp_path / "missing"))


@pytest.mark.skipif(not os.path.exists("/dev/kvm"), reason="this machine has no /dev/kvm")
def test_a_real_kvm_guest(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed"
    exe = tmp_path / "kvmguest"
    subprocess.run(
        [gcc, "-O2", "-pthread", "-o", str(exe), str(REPO / "tests/vmx/kvmguest.c")], check=True
    )
    p = subprocess.Popen([str(exe)], stdout=subprocess.PIPE, text=True)
    try:
        for line in p.stdout:
            if line.startswith(("KVMGUEST: running", "KVMGUEST: FAIL")):
                break
        assert line.startswith("KVMGUEST: running"), line
        time.sleep(0.1)
        mine = [g for g in list_guests() if g["pid"] == p.pid]
        assert mine == [
            {"pid": p.pid, "name": f"kvmguest[{p.pid}]", "comm": "kvmguest", "vcpus": 1}
        ]
    finally:
        p.kill()
        p.wait()
    assert not [g for g in list_guests() if g["pid"] == p.pid]
