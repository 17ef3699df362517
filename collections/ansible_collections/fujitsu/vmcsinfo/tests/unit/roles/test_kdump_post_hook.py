"""The RHEL/Fedora crash-time hook (roles/vmcsinfo_kdump/files/kdump-post-vmcsinfo)
run for real, unmodified, under busybox sh, dash and bash, in a chroot laid out
as the kdump initramfs has it: /proc/mounts as kdump mounts things (the root
file system at /sysroot, other dump targets under /kdumproot/<mount point>),
/etc/kdump.conf, the persisted VMCSINFO, and the dump directory kdump writes
between the pre.d hook and kdump_post.

Each row of LAYOUTS is a layout an operator's host can have, with what the
hook must do there: attach the persisted VMCSINFO to the new dump directory,
or log why not and exit 0 (it never changes what kdump does with the dump).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kdump_sandbox import SHELLS, make_base, run

HOOK = Path(__file__).resolve().parents[3] / "roles/vmcsinfo_kdump/files/kdump-post-vmcsinfo"
TEXT = "VMCSINFO_FORMAT=1\nREVISION_ID=2b\n"
ORIGIN = "ORIGIN=probe\n"
STAMP = "127.0.0.1-2026-12-01-03:00:00"

# What /proc/mounts says in a RHEL 9 kdump initramfs (28 mounts): pseudo
# file systems, then the real ones kdump mounted.
PSEUDO = [
    "rootfs / rootfs rw 0 0",
    "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0",
    "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0",
    "devtmpfs /dev devtmpfs rw,nosuid,size=4096k,nr_inodes=16384,mode=755 0 0",
    "securityfs /sys/kernel/security securityfs rw,nosuid,nodev,noexec,relatime 0 0",
    "tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0",
    "devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0",
    "tmpfs /run tmpfs rw,nosuid,nodev,size=60000k,nr_inodes=819200,mode=755 0 0",
    "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate 0 0",
    "pstore /sys/fs/pstore pstore rw,nosuid,nodev,noexec,relatime 0 0",
    "efivarfs /sys/firmware/efi/efivars efivarfs rw,nosuid,nodev,noexec,relatime 0 0",
    "bpf /sys/fs/bpf bpf rw,nosuid,nodev,noexec,relatime,mode=700 0 0",
    "configfs /sys/kernel/config configfs rw,nosuid,nodev,noexec,relatime 0 0",
    "debugfs /sys/kernel/debug debugfs rw,nosuid,nodev,noexec,relatime 0 0",
    "tracefs /sys/kernel/tracing tracefs rw,nosuid,nodev,noexec,relatime 0 0",
    "mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime 0 0",
    "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0",
    "fusectl /sys/fs/fuse/connections fusectl rw,nosuid,nodev,noexec,relatime 0 0",
    "systemd-1 /proc/sys/fs/binfmt_misc autofs rw,relatime,fd=29,pgrp=1,timeout=0 0 0",
    "tmpfs /tmp tmpfs rw,nosuid,nodev,nr_inodes=1048576 0 0",
    "ramfs /run/credentials/systemd-sysctl.service ramfs ro,nosuid,nodev,noexec 0 0",
    "ramfs /run/credentials/systemd-tmpfiles-setup-dev.service ramfs ro,nosuid 0 0",
    "tmpfs /run/user/0 tmpfs rw,nosuid,nodev,relatime,size=30000k,mode=700 0 0",
    "binfmt_misc /proc/sys/fs/binfmt_misc binfmt_misc rw,nosuid,nodev,noexec 0 0",
    "tmpfs /var/lib/nfs tmpfs rw,relatime 0 0",
]
ROOT_FS = "/dev/mapper/rhel-root /sysroot xfs rw,relatime,attr2,inode64,noquota 0 0"
BOOT_FS = "/dev/vda1 /boot xfs ro,relatime,attr2,inode64 0 0"


@dataclass
class Layout:
    mounts: list[str]
    conf: str
    persisted: str | None  # where the persisted VMCSINFO is (in the chroot)
    dump_dir: str | None  # the dump directory kdump writes (None: remote target)
    attached: bool  # whether the hook must put vmcsinfo into it
    says: str  # a line the hook must log
    exists_before: bool = False  # the directory was there before the dump (reuse)
    full: bool = False  # the dump's file system is full
    pre_hook: bool = True  # the pre.d hook ran
    extra: dict[str, str] = field(default_factory=dict)


LAYOUTS = {
    # RHEL's default: root FS at /sysroot, `path /var/crash` on it.
    "rhel-default": Layout(
        [*PSEUDO, ROOT_FS, BOOT_FS],
        "path /var/crash\ncore_collector makedumpfile -l --message-level 7 -d 31\n",
        "/sysroot/var/lib/vmcsinfo",
        f"/sysroot/var/crash/{STAMP}",
        True,
        f"saved VMCSINFO in /sysroot/var/crash/{STAMP}/vmcsinfo",
    ),
    # /var on its own file system: kdump mounts it at /kdumproot/var, the
    # persisted file and the dump are both on it.
    "separate-var": Layout(
        [*PSEUDO, ROOT_FS, "/dev/mapper/rhel-var /kdumproot/var xfs rw,relatime 0 0"],
        "path /var/crash\n",
        "/kdumproot/var/lib/vmcsinfo",
        f"/kdumproot/var/crash/{STAMP}",
        True,
        f"saved VMCSINFO in /kdumproot/var/crash/{STAMP}/vmcsinfo",
    ),
    # A dump target of its own (`xfs /dev/sdb1`, `path /crash` on it): the
    # persisted file on the root FS.
    "dump-target-fs": Layout(
        [*PSEUDO, ROOT_FS, "/dev/sdb1 /kdumproot/mnt/dumps xfs rw,relatime 0 0"],
        "xfs /dev/sdb1\npath /crash\n",
        "/sysroot/var/lib/vmcsinfo",
        f"/kdumproot/mnt/dumps/crash/{STAMP}",
        True,
        f"saved VMCSINFO in /kdumproot/mnt/dumps/crash/{STAMP}/vmcsinfo",
    ),
    # A mount point with a blank in it (/proc/mounts writes it as \040).
    "blank-in-mount-point": Layout(
        [*PSEUDO, ROOT_FS, "/dev/sdb1 /kdumproot/srv/crash\\040dumps xfs rw 0 0"],
        "xfs /dev/sdb1\npath /var/crash\n",
        "/sysroot/var/lib/vmcsinfo",
        f"/kdumproot/srv/crash dumps/var/crash/{STAMP}",
        True,
        f"saved VMCSINFO in /kdumproot/srv/crash dumps/var/crash/{STAMP}/vmcsinfo",
    ),
    # An NFS or ssh target: no new local dump directory.
    "remote-target": Layout(
        [*PSEUDO, ROOT_FS],
        "nfs nfs.example.org:/export/crash\npath /var/crash\n",
        "/sysroot/var/lib/vmcsinfo",
        None,
        False,
        "no new local dump directory",
    ),
    # The module never probed on this host: nothing persisted.
    "missing-file": Layout(
        [*PSEUDO, ROOT_FS],
        "path /var/crash\n",
        None,
        f"/sysroot/var/crash/{STAMP}",
        False,
        "no persisted VMCSINFO",
    ),
    # The dump filled the disk: the copy fails, nothing half-written stays.
    "full-disk": Layout(
        [*PSEUDO, ROOT_FS],
        "path /var/crash\n",
        "/sysroot/var/lib/vmcsinfo",
        f"/sysroot/var/crash/{STAMP}",
        False,
        "failed to copy",
        full=True,
    ),
    # The dump directory existed before the crash (a clock reset reused its
    # name): the vmcore written after the pre.d hook makes it the new one.
    "directory-reuse": Layout(
        [*PSEUDO, ROOT_FS],
        "path /var/crash\n",
        "/sysroot/var/lib/vmcsinfo",
        f"/sysroot/var/crash/{STAMP}",
        True,
        f"saved VMCSINFO in /sysroot/var/crash/{STAMP}/vmcsinfo",
        exists_before=True,
    ),
    # The pre.d hook did not run (a kdump.conf edited by hand): the newest
    # directory with a vmcore is taken.
    "no-pre-hook": Layout(
        [*PSEUDO, ROOT_FS],
        "path /var/crash\n",
        "/sysroot/var/lib/vmcsinfo",
        f"/sysroot/var/crash/{STAMP}",
        True,
        f"saved VMCSINFO in /sysroot/var/crash/{STAMP}/vmcsinfo",
        pre_hook=False,
    ),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return make_base(tmp_path_factory)


def _sandbox(base: dict, tmp_path: Path, lay: Layout) -> Path:
    root = tmp_path / "root"
    shutil.copytree(base["root"], root, symlinks=True)
    for d in ("proc", "etc/kdump/pre.d", "tmp", "dev", "usr/libexec/vmcsinfo"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "proc/mounts").write_text("\n".join(lay.mounts) + "\n")
    (root / "etc/kdump.conf").write_text(lay.conf)
    shutil.copy2(HOOK, root / "usr/libexec/vmcsinfo/kdump-post-vmcsinfo")
    shutil.copy2(HOOK, root / "etc/kdump/pre.d/50-vmcsinfo")
    os.mknod(root / "dev/full", stat.S_IFCHR | 0o666, os.makedev(1, 7))
    for m in lay.mounts:
        mnt = m.split()[1].replace("\\040", " ")
        if m.split()[2] in ("xfs", "ext4"):
            (root / mnt.lstrip("/")).mkdir(parents=True, exist_ok=True)
    if lay.persisted:
        p = root / lay.persisted.lstrip("/")
        p.mkdir(parents=True, exist_ok=True)
        (p / "vmcsinfo").write_text(TEXT)
        (p / "vmcsinfo.origin").write_text(ORIGIN)
    return root


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_hook_in_a_kdump_initramfs_layout(base, tmp_path: Path, name: str, shell: str) -> None:
    lay = LAYOUTS[name]
    root = _sandbox(base, tmp_path, lay)
    dump = root / lay.dump_dir.lstrip("/") if lay.dump_dir else None
    # A dump directory of an earlier crash is on the target too: never touched.
    old = (dump.parent if dump else root / "sysroot/var/crash") / "127.0.0.1-2026-11-01-01:00:00"
    old.mkdir(parents=True)
    (old / "vmcore").write_bytes(b"old")
    os.utime(old / "vmcore", (1_700_000_000, 1_700_000_000))
    os.utime(old, (1_700_000_000, 1_700_000_000))
    if dump and lay.exists_before:
        dump.mkdir(parents=True)
    if lay.pre_hook:
        r = run(base, root, shell, "/etc/kdump/pre.d/50-vmcsinfo")
        assert r.returncode == 0, r.stdout + r.stderr
    # kdump saves the dump (after the pre.d hook: a later mtime).
    if dump:
        dump.mkdir(parents=True, exist_ok=True)
        (dump / "vmcore").write_bytes(b"KDUMP   ")
        (dump / "vmcore-dmesg.txt").write_text("[0.0] Linux\n")
        if lay.full:
            (dump / "vmcsinfo.tmp").symlink_to("/dev/full")
    r = run(base, root, shell, "/usr/libexec/vmcsinfo/kdump-post-vmcsinfo", "0")
    log = r.stdout + r.stderr
    assert r.returncode == 0, log
    assert lay.says in log, log
    if dump:
        if lay.attached:
            assert (dump / "vmcsinfo").read_text() == TEXT, log
            assert (dump / "vmcsinfo.origin").read_text() == ORIGIN, log
        else:
            assert not (dump / "vmcsinfo").exists(), log
        assert not (dump / "vmcsinfo.tmp").exists(), log  # nothing half-written stays
    assert sorted(p.name for p in old.iterdir()) == ["vmcore"], log
