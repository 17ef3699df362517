"""A chroot laid out as a kdump environment, with busybox (every applet),
dash and bash, for running the collection's crash-time hooks for real
(test_kdump_post_hook.py, test_kdump_save_wrapper.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SHELLS = ["busybox", "dash", "bash"]


def _copy_with_libs(prog: str, root: Path) -> str:
    """Copy a host program and the libraries ldd lists into the chroot."""
    path = shutil.which(prog)
    assert path, f"{prog} is needed for this test (apt-get install {prog})"
    real = os.path.realpath(path)
    dest = root / real.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(real, dest)
    out = subprocess.run(["ldd", real], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        parts = line.split()
        lib = parts[2] if len(parts) > 2 and parts[1] == "=>" else parts[0] if parts else ""
        if lib.startswith("/"):
            d = root / lib.lstrip("/")
            d.parent.mkdir(parents=True, exist_ok=True)
            if not d.exists():
                shutil.copy2(os.path.realpath(lib), d)
    return real


def make_base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    if os.geteuid() != 0:
        pytest.fail("the hook sandbox needs root (chroot, a /dev/full node); CI runs as root")
    root = tmp_path_factory.mktemp("kdump-initramfs")
    bb = shutil.which("busybox")
    assert bb, "busybox is needed (busybox-static)"
    (root / "bin").mkdir()
    shutil.copy2(bb, root / "bin/busybox")
    applets = subprocess.run(
        [bb, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for a in applets:
        if not (root / "bin" / a).exists():
            (root / "bin" / a).symlink_to("busybox")
    shells = {"busybox": "/bin/busybox sh"}
    for sh in ("dash", "bash"):
        shells[sh] = _copy_with_libs(sh, root)
    return {"root": root, "shells": shells}


def run(base: dict, root: Path, shell: str, script: str, *args: str) -> subprocess.CompletedProcess:
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    cmd = [chroot, str(root), *base["shells"][shell].split(), script, *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={"PATH": "/bin:/usr/bin"}, check=False
    )
