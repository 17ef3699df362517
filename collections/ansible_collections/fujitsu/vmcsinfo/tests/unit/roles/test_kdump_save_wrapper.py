"""The Debian/Ubuntu crash-time wrapper (roles/vmcsinfo_kdump/files/
kdump-save-with-vmcsinfo, the ExecStart of kdump-tools' units) run for real,
unmodified, under busybox sh, dash and bash, in a chroot laid out as the
capture kernel's root file system: /proc/vmcore, /etc/default/kdump-tools, the
persisted VMCSINFO, and a kdump-config whose `savecore` writes the dump as
kdump-tools does (<KDUMP_COREDIR>/<YYYYmmddHHMM>/dump.<stamp> + dmesg.<stamp>).

Each row of LAYOUTS is a layout an operator's host can have: the wrapper must
attach the persisted VMCSINFO to the new dump directory, or log why not, and
in every case go on exactly as the init script does (the fail command after a
failed save, else reboot). `reboot` is a stub in the chroot: busybox's applet
would signal this machine's init.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kdump_sandbox import SHELLS, make_base, run

WRAPPER = (
    Path(__file__).resolve().parents[3] / "roles/vmcsinfo_kdump/files/kdump-save-with-vmcsinfo"
)
TEXT = "VMCSINFO_FORMAT=1\nREVISION_ID=2b\n"
ORIGIN = "ORIGIN=probe\n"
STAMP = "202612010300"

# savecore as kdump-tools does it; MODE (in /etc/stub-mode) says how: new,
# reuse (the directory of this minute exists already), fail (no dump, exit 1),
# full (the dump fills the file system: the copy beside it fails).
KDUMP_CONFIG = f"""#!/bin/sh
. /etc/default/kdump-tools
mode=$(cat /etc/stub-mode)
dir="${{KDUMP_COREDIR:-/var/crash}}/{STAMP}"
[ "$1" = savecore ] || exit 3
[ "$mode" = fail ] && {{ echo "kdump-config: makedumpfile failed"; exit 1; }}
[ -n "$NFS$SSH$FTP" ] && {{ echo "kdump-config: saved remotely"; exit 0; }}
# A second save in the same minute writes into the directory a moment later
# than the wrapper's marker (busybox find compares whole seconds).
[ "$mode" = reuse ] && sleep 1
mkdir -p "$dir"
echo KDUMP > "$dir/dump.{STAMP}"
echo '[0.0] Linux' > "$dir/dmesg.{STAMP}"
[ "$mode" = full ] && ln -s /dev/full "$dir/vmcsinfo.tmp"
echo "kdump-config: saved vmcore in $dir"
exit 0
"""


@dataclass
class Layout:
    defaults: str  # /etc/default/kdump-tools
    coredir: str  # where the dumps go (in the chroot)
    persisted: bool  # /var/lib/vmcsinfo/vmcsinfo is there
    mode: str  # the stub's savecore: new, reuse, fail, full
    attached: bool  # whether the wrapper must put vmcsinfo into the dump directory
    says: str  # a line the wrapper must log
    then: str  # what runs after: reboot or failcmd


FAILCMD = 'KDUMP_FAIL_CMD="echo FAILCMD ran"\n'
LAYOUTS = {
    "default": Layout(
        "USE_KDUMP=1\n", "/var/crash", True, "new", True, "saved VMCSINFO in", "reboot"
    ),
    # KDUMP_COREDIR elsewhere, with a blank in it.
    "own coredir": Layout(
        'USE_KDUMP=1\nKDUMP_COREDIR="/srv/crash dumps"\n',
        "/srv/crash dumps",
        True,
        "new",
        True,
        "saved VMCSINFO in /srv/crash dumps/",
        "reboot",
    ),
    # NFS or ssh target: nothing local to attach to (the note is in the vmcore).
    "remote": Layout(
        "USE_KDUMP=1\nSSH=kdump@dumps.example.org\n",
        "/var/crash",
        True,
        "new",
        False,
        "remote dump target",
        "reboot",
    ),
    # /var on its own file system not mounted, or the module never probed:
    # nothing persisted. The dump is still saved and the host reboots.
    "missing file": Layout(
        "USE_KDUMP=1\n", "/var/crash", False, "new", False, "no persisted VMCSINFO", "reboot"
    ),
    # The dump filled the disk: the copy fails, nothing half-written stays.
    "full disk": Layout(
        "USE_KDUMP=1\n",
        "/var/crash",
        True,
        "full",
        False,
        "attaching VMCSINFO failed; the dump itself is unaffected",
        "reboot",
    ),
    # A second crash in the same minute: savecore reuses the directory.
    "reused directory": Layout(
        "USE_KDUMP=1\n", "/var/crash", True, "reuse", True, "saved VMCSINFO in", "reboot"
    ),
    # The save failed: the fail command runs (as the init script does), no reboot.
    "failed save": Layout(
        "USE_KDUMP=1\n" + FAILCMD,
        "/var/crash",
        True,
        "fail",
        False,
        "no new dump directory",
        "failcmd",
    ),
    # The save failed without a fail command: reboot, as the init script does.
    "failed save, no fail command": Layout(
        "USE_KDUMP=1\n", "/var/crash", True, "fail", False, "no new dump directory", "reboot"
    ),
}


def _sandbox(base: dict, tmp_path: Path, lay: Layout) -> Path:
    import shutil

    root = tmp_path / "root"
    shutil.copytree(base["root"], root, symlinks=True)
    for d in ("proc", "etc/default", "etc/init.d", "usr/sbin", "run", "tmp", "dev"):
        (root / d).mkdir(parents=True, exist_ok=True)
    # Never busybox's reboot (it would signal this machine's init): a stub.
    (root / "bin/reboot").unlink(missing_ok=True)
    (root / "bin/reboot").write_text("#!/bin/sh\necho REBOOT ran >> /tmp/after\n")
    (root / "bin/reboot").chmod(0o755)
    (root / "proc/vmcore").write_bytes(b"\x7fELF" + b"\0" * 60)
    (root / "etc/default/kdump-tools").write_text(lay.defaults)
    (root / "etc/stub-mode").write_text(lay.mode + "\n")
    (root / "etc/init.d/kdump-tools").write_text('#!/bin/sh\necho "INIT $*" >> /tmp/after\n')
    (root / "etc/init.d/kdump-tools").chmod(0o755)
    (root / "usr/sbin/kdump-config").write_text(KDUMP_CONFIG)
    (root / "usr/sbin/kdump-config").chmod(0o755)
    os.mknod(root / "dev/full", 0o20666, os.makedev(1, 7))
    (root / "usr/libexec/vmcsinfo").mkdir(parents=True)
    shutil.copy2(WRAPPER, root / "usr/libexec/vmcsinfo/kdump-save-with-vmcsinfo")
    if lay.persisted:
        p = root / "var/lib/vmcsinfo"
        p.mkdir(parents=True)
        (p / "vmcsinfo").write_text(TEXT)
        (p / "vmcsinfo.origin").write_text(ORIGIN)
    return root


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return make_base(tmp_path_factory)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_wrapper_in_a_capture_kernel_layout(base, tmp_path: Path, name: str, shell: str) -> None:
    lay = LAYOUTS[name]
    root = _sandbox(base, tmp_path, lay)
    core = root / lay.coredir.lstrip("/")
    # The dump of an earlier crash is there too: never touched.
    old = core / "202611010100"
    old.mkdir(parents=True)
    (old / "dump.202611010100").write_bytes(b"old")
    os.utime(old, (1_700_000_000, 1_700_000_000))
    dump = core / STAMP
    if lay.mode == "reuse":
        dump.mkdir()
        os.utime(dump, (1_700_000_000, 1_700_000_000))
    r = run(base, root, shell, "/usr/libexec/vmcsinfo/kdump-save-with-vmcsinfo", "start")
    log = r.stdout + r.stderr
    assert r.returncode == 0, log
    assert lay.says in log, log
    after = (root / "tmp/after").read_text() if (root / "tmp/after").exists() else ""
    if lay.then == "reboot":
        assert after == "REBOOT ran\n", log
        assert "FAILCMD" not in log
    else:
        assert after == "" and "FAILCMD ran" in log, log
    if lay.attached:
        assert (dump / "vmcsinfo").read_text() == TEXT, log
        assert (dump / "vmcsinfo.origin").read_text() == ORIGIN, log
    elif dump.exists():
        assert not (dump / "vmcsinfo").exists(), log
    if dump.exists():
        assert not (dump / "vmcsinfo.tmp").exists(), log  # nothing half-written stays
    assert sorted(p.name for p in old.iterdir()) == ["dump.202611010100"], log
    assert not list((root / "run").iterdir()), "the marker file was left in /run"


@pytest.mark.parametrize("shell", SHELLS)
def test_wrapper_outside_the_capture_kernel_runs_the_init_script(
    base, tmp_path: Path, shell: str
) -> None:
    """A normal boot (no /proc/vmcore) or another action: the init script itself."""
    root = _sandbox(base, tmp_path, LAYOUTS["default"])
    (root / "proc/vmcore").unlink()
    r = run(base, root, shell, "/usr/libexec/vmcsinfo/kdump-save-with-vmcsinfo", "start")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(base, root, shell, "/usr/libexec/vmcsinfo/kdump-save-with-vmcsinfo", "status")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (root / "tmp/after").read_text() == "INIT start\nINIT status\n"
    assert not (root / "var/crash").exists()
