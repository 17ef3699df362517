"""Hostile host files (issue 11): every reader of host state, each file replaced by a link to
a root-only file, a FIFO, a device, an oversized file, a directory, or text with CR and
non-ASCII bytes. Each reader answers with a clear error or "absent", never follows the
link (none of the secret's bytes reach its result) and never hangs (a timer fails the
test after TIMEOUT seconds)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakehost import BOCHS, BOOT, REL, FakeHost, cpuinfo, make_root, point_snapshot_module_at

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import crash, hoststate
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.facts import gather
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hostfiles import (
    CPUINFO_LIMIT,
    TEXT_LIMIT,
    VMCSINFO_LIMIT,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.snapshot import read_vmx_revision
from ansible_collections.fujitsu.vmcsinfo.plugins.modules import vmcsinfo_snapshot

TIMEOUT = 10
SECRET = "root:$6$secret-hash-of-the-root-password:19000:0:99999:7:::\n"
KINDS = ("link-to-secret", "fifo", "device", "oversized", "directory", "cr-non-ascii")
PROBE_ORIGIN = f"ORIGIN=probe\nKERNEL={REL}\nBOOT_ID={BOOT}\nSAVED_AT=2025-01-31T12:00:00Z\n"


@contextlib.contextmanager
def deadline(seconds: int = TIMEOUT):
    """Fail with TimeoutError when the block runs longer than `seconds` (a blocking open of
    a FIFO, an endless read of a device)."""

    def expired(signum, frame):
        raise TimeoutError(f"a reader hung for {seconds} s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def make_hostile(path: Path, kind: str, limit: int, text: bytes, base: Path) -> None:
    """Put a hostile `kind` of file at `path` (replacing what is there)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    if kind == "link-to-secret":
        secret = base / "shadow"
        secret.write_text(SECRET)
        secret.chmod(0o400)
        path.symlink_to(secret)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        try:  # /dev/zero's numbers; without CAP_MKNOD a link to it
            os.mknod(path, stat.S_IFCHR | 0o444, os.makedev(1, 5))
        except PermissionError:
            path.symlink_to("/dev/zero")
    elif kind == "oversized":
        with open(path, "wb") as f:
            f.write(text)
            f.truncate(limit + 1)  # sparse: quick to make, still limit + 1 bytes to read
    elif kind == "directory":
        path.mkdir()
        (path / "vmcsinfo").write_text(BOCHS)
    else:
        path.write_bytes(text)


@dataclass
class Reader:
    """A reader of one host file: `setup` builds a fake host where the file is fine, `read`
    reads it, `want[kind]` is what `read` must give with a hostile file of that kind (a
    substring of the result's text for an error, or the value itself)."""

    name: str
    path: str  # the host path of the file
    limit: int
    setup: Callable[[Path], FakeHost]
    read: Callable[[FakeHost, Path], object]
    want: dict[str, object]
    text: bytes  # the file's text for "cr-non-ascii" (and the head of "oversized")


def _host(base: Path, **kwargs) -> FakeHost:
    make_root(base, **kwargs)
    return FakeHost(base)


def _facts(host: FakeHost, base: Path) -> dict:
    return gather(str(host.root))


def _install(host: FakeHost, base: Path) -> tuple[str, str, str]:
    """vmcsinfo_snapshot installing BOCHS from 'fleetdb' over the hostile state: what the
    snapshot and its origin are afterwards, and "changed" or the failure's msg."""
    mp = pytest.MonkeyPatch()
    point_snapshot_module_at(host, mp)
    out = io.StringIO()
    try:
        args = {"dir": str(host.dir), "content": BOCHS, "source": "fleetdb"}
        with patch_module_args(args), contextlib.redirect_stdout(out), pytest.raises(SystemExit):
            vmcsinfo_snapshot.main()
    finally:
        mp.undo()
    result = json.loads(out.getvalue())
    outcome = f"failed: {result['msg']}" if result.get("failed") else "changed"
    if not result.get("failed"):
        assert result["changed"] is True and host.snap.read_text() == BOCHS, result
        assert host.origin_kv()["SOURCE"] == "fleetdb"
    return _kind(host.snap), _kind(host.origin), outcome


def _kind(path: Path) -> str:
    if path.is_symlink():
        return "link"
    if path.is_dir():
        return "dir"
    return "file" if path.is_file() else "other"


def _pick(facts: dict, *keys: str) -> tuple:
    """The facts at dotted `keys`."""
    out = []
    for key in keys:
        value = facts
        for part in key.split("."):
            value = value[part]
        out.append(value)
    return tuple(out)


def _reason(facts: dict) -> str:
    """The reason of facts without a layout, else which source was used."""
    return facts["reason"] if facts["source"] == "none" else f"source={facts['source']}"


@dataclass(frozen=True)
class Error:
    """A clear error: the reader's text (or the last item of its tuple) has one of `texts`."""

    texts: tuple[str, ...]

    def __call__(self, got: object) -> bool:
        text = got[-1] if isinstance(got, tuple) else got
        return isinstance(text, str) and any(t in text for t in self.texts)


def error(*texts: str) -> Error:
    return Error(texts)


def one_of(*values: object) -> Callable[[object], bool]:
    return lambda got: got in values


NOT_REGULAR = "is not a regular file"
LINK = "is a symbolic link (not followed)"
# A device node (mknod) is no regular file; without CAP_MKNOD it is a link to /dev/zero.
UNAVAILABLE_SNAPSHOT = {
    "link-to-secret": error(LINK),
    "fifo": error(NOT_REGULAR),
    "device": error(NOT_REGULAR, LINK),
    "oversized": error(f"is larger than {VMCSINFO_LIMIT} bytes"),
    "directory": error(NOT_REGULAR),
    "cr-non-ascii": error("is malformed: not ASCII text"),
}
ALL_ABSENT = dict.fromkeys(KINDS[:-1], None)


# A directory where a state file goes: refused before anything is touched.
def REFUSED_DIR(got: tuple[str, str, str]) -> bool:
    return (
        "other" not in got[:2]
        and got[2].startswith("failed: cannot install the VMCSINFO in ")
        and "a directory is in the way" in got[2]
        and got[2].endswith("; nothing was changed")
    )


CR_BOCHS = BOCHS.replace("CPU_VENDOR=GenuineIntel", "CPU_VENDOR=Genuine\r\nIntel\u00e9").encode()

READERS = [
    Reader(
        "snapshot (facts)",
        "var/lib/vmcsinfo/vmcsinfo",
        VMCSINFO_LIMIT,
        lambda b: _host(b, snapshot=BOCHS, origin=PROBE_ORIGIN),
        lambda h, b: _reason(_facts(h, b)),
        UNAVAILABLE_SNAPSHOT,
        CR_BOCHS,
    ),
    Reader(
        "sysfs vmcsinfo (facts)",
        hoststate.SYSFS_VMCSINFO,
        VMCSINFO_LIMIT,
        lambda b: _host(b, loaded=True, sysfs=BOCHS),
        lambda h, b: _reason(_facts(h, b)),
        UNAVAILABLE_SNAPSHOT,
        CR_BOCHS,
    ),
    Reader(
        "vmcsinfo.origin (Origin.read)",
        "var/lib/vmcsinfo/vmcsinfo.origin",
        TEXT_LIMIT,
        lambda b: _host(b, snapshot=BOCHS, origin=PROBE_ORIGIN),
        lambda h, b: hoststate.Origin.read(str(h.origin)),
        {
            **ALL_ABSENT,
            "cr-non-ascii": hoststate.Origin(origin="probe", source="caf\u00e9", kernel=REL),
        },
        f"ORIGIN=probe\r\nSOURCE=caf\u00e9\r\nKERNEL={REL}\r".encode(),
    ),
    Reader(
        "vmcsinfo.origin (facts)",
        "var/lib/vmcsinfo/vmcsinfo.origin",
        TEXT_LIMIT,
        lambda b: _host(b, snapshot=BOCHS, origin=PROBE_ORIGIN),
        lambda h, b: _pick(_facts(h, b), "source", "snapshot.origin"),
        {**dict.fromkeys(KINDS[:-1], ("snapshot", None)), "cr-non-ascii": ("snapshot", "probe")},
        b"ORIGIN=probe\r\nSOURCE=\xff\xfe\r\n",
    ),
    Reader(
        "load-result (facts)",
        "var/lib/vmcsinfo/load-result",
        TEXT_LIMIT,
        lambda b: _host(b, load_result=f"RESULT=refused\nKERNEL={REL}\n"),
        lambda h, b: (_facts(h, b)["module"]["load_result"] or {}).get("result"),
        {**ALL_ABSENT, "cr-non-ascii": "refused"},
        "RESULT=refused\r\nREASON=VMX d\u00e9sactiv\u00e9\rKERNEL=x\r\n".encode(),
    ),
    Reader(
        "load-result (read_load_result)",
        "var/lib/vmcsinfo/load-result",
        TEXT_LIMIT,
        lambda b: _host(b, load_result=f"RESULT=refused\nKERNEL={REL}\n"),
        lambda h, b: hoststate.read_load_result(str(h.load_result)),
        {
            **ALL_ABSENT,
            "cr-non-ascii": {"result": "refused", "reason": "\ufffd", "kernel": None, "time": None},
        },
        b"RESULT=refused\r\nREASON=\xff\r\n",
    ),
    Reader(
        "cpuinfo (facts)",
        hoststate.CPUINFO,
        CPUINFO_LIMIT,
        _host,
        lambda h, b: _pick(_facts(h, b), "cpu.vendor", "cpu.vmx"),
        {**dict.fromkeys(KINDS[:-1], (None, False)), "cr-non-ascii": ("GenuineIntel", True)},
        cpuinfo().replace("Some CPU", "Caf\u00e9 CPU\u2122").replace("\n", "\r\n").encode(),
    ),
    Reader(
        "osrelease (facts)",
        hoststate.OSRELEASE,
        TEXT_LIMIT,
        _host,
        lambda h, b: _facts(h, b)["kernel"],
        {**ALL_ABSENT, "cr-non-ascii": REL},
        f"{REL}\r\n".encode(),
    ),
    Reader(
        "module version (facts)",
        "sys/module/vmcsinfo/version",
        TEXT_LIMIT,
        lambda b: _host(b, loaded=True),
        lambda h, b: _facts(h, b)["module"]["loaded_version"],
        {**ALL_ABSENT, "cr-non-ascii": "0.1.0\u00e9"},
        "0.1.0\u00e9\r\n".encode(),
    ),
    Reader(
        "kexec_crash_size (facts)",
        "sys/kernel/kexec_crash_size",
        TEXT_LIMIT,
        _host,
        lambda h, b: _facts(h, b)["kdump"]["crashkernel_reserved"],
        {**dict.fromkeys(KINDS, False), "cr-non-ascii": True},
        b"268435456\r\n",
    ),
    Reader(
        "msr (read_vmx_revision)",
        hoststate.MSR_DEVICE,
        0x488,
        _host,
        lambda h, b: read_vmx_revision(str(h.root)),
        # A device is what the msr is: read like one, 8 bytes at 0x480 (/dev/zero reads 0;
        # a large regular file too). Never more, so never endless.
        {
            **ALL_ABSENT,
            "device": one_of(0, None),
            "oversized": 0,
            "cr-non-ascii": None,
        },
        b"\xff\r\n",
    ),
    Reader(
        "snapshot (vmcsinfo_snapshot)",
        "var/lib/vmcsinfo/vmcsinfo",
        VMCSINFO_LIMIT,
        lambda b: _host(b, cpu=cpuinfo(flags="fpu"), snapshot=BOCHS, origin=PROBE_ORIGIN),
        _install,
        # replaced (a link by a file, never written through), except a directory: refused
        {
            **dict.fromkeys(KINDS, ("file", "file", "changed")),
            "directory": REFUSED_DIR,
        },
        CR_BOCHS,
    ),
    Reader(
        "vmcsinfo.origin (vmcsinfo_snapshot)",
        "var/lib/vmcsinfo/vmcsinfo.origin",
        TEXT_LIMIT,
        lambda b: _host(b, cpu=cpuinfo(flags="fpu"), snapshot=BOCHS, origin=PROBE_ORIGIN),
        _install,
        {
            **dict.fromkeys(KINDS, ("file", "file", "changed")),
            "directory": REFUSED_DIR,
        },
        b"ORIGIN=supplied\r\nSOURCE=fleetdb\xff\r\n",
    ),
    Reader(
        "boot_id (vmcsinfo_snapshot)",
        hoststate.BOOT_ID,
        TEXT_LIMIT,
        lambda b: _host(b, cpu=cpuinfo(flags="fpu")),
        lambda h, b: (_install(h, b)[2], h.origin_kv()["BOOT_ID"]),
        {**dict.fromkeys(KINDS[:-1], ("changed", "")), "cr-non-ascii": ("changed", "\u00e9")},
        "\u00e9\r\n".encode(),
    ),
    Reader(
        "sidecar beside a dump (vmcsinfo-crash)",
        "var/crash/202501311200/vmcsinfo",
        VMCSINFO_LIMIT,
        _host,
        lambda h, b: _crash_read(h.path("var/crash/202501311200/vmcsinfo")),
        {**UNAVAILABLE_SNAPSHOT, "cr-non-ascii": error("is not ASCII text")},
        CR_BOCHS,
    ),
]


def _crash_read(path: Path) -> str:
    try:
        return crash.read_small(str(path), "VMCSINFO file")
    except crash.CrashError as e:
        return f"CrashError: {e}"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.name)
def test_hostile_host_file(tmp_path: Path, reader: Reader, kind: str) -> None:
    host = reader.setup(tmp_path)
    make_hostile(host.path(reader.path), kind, reader.limit, reader.text, tmp_path)
    with deadline():
        got = reader.read(host, tmp_path)
    assert "secret-hash" not in json.dumps(got, default=repr), got  # never read through a link
    want = reader.want[kind]
    assert want(got) if callable(want) else got == want, got
    if kind == "link-to-secret":
        assert (tmp_path / "shadow").read_text() == SECRET  # never written through a link


def test_the_table_covers_every_reader_and_kind() -> None:
    for reader in READERS:
        assert set(reader.want) == set(KINDS), reader.name
