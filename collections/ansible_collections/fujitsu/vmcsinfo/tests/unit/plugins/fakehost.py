"""Test helper: one fake host for the tests of the host-state readers and writers.

A FakeHost is a directory laid out like a host's root: /proc/cpuinfo, the kernel release,
the boot id, /lib/modules/<release>, /sys/module/vmcsinfo, the module's sysfs files,
/dev/cpu/0/msr and the state directory /var/lib/vmcsinfo (file names from hoststate).
The facts collectors read it through their `root` argument; the snapshot module through
its ROOT (see point_snapshot_module_at).
"""

from __future__ import annotations

import os
from pathlib import Path

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils import hoststate

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BOCHS = (FIXTURES / "bochs-2.7-corei7_haswell_4770.vmcsinfo").read_text()
REL = "6.1.0-56-amd64"
BOOT = "0f4b3c1e-5a2d-4c8e-9b7a-1d2e3f4a5b6c"


def write(path: Path, text: str) -> Path:
    """`text` in `path`, with its parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cpuinfo(
    vendor: str = "GenuineIntel",
    family: int = 6,
    model: int = 60,
    stepping: int = 3,
    microcode: str | None = "0x0",
    flags: str = "fpu vme de pse tsc msr pae vmx sse sse2",
) -> str:
    """One processor's block of /proc/cpuinfo (default: the i7-4770 of the Bochs probe)."""
    block = (
        f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
        f"model name\t: Some CPU\nstepping\t: {stepping}\n"
    )
    if microcode is not None:
        block += f"microcode\t: {microcode}\n"
    return block + f"flags\t\t: {flags}\n\n"


class FakeHost:
    """A fake host's root under `base`/host. Nothing but the root is created; the
    methods add the files."""

    def __init__(self, base: Path) -> None:
        self.root = base / "host"
        self.root.mkdir(parents=True, exist_ok=True)
        self.dir = self.path(hoststate.STATE_DIR)
        self.snap = self.dir / hoststate.SNAPSHOT
        self.origin = self.dir / hoststate.ORIGIN
        self.load_result = self.dir / hoststate.LOAD_RESULT
        self.sysfs = self.path(hoststate.SYSFS_VMCSINFO)
        self.note = self.path(hoststate.SYSFS_NOTE)
        self.cpuinfo = self.path(hoststate.CPUINFO)
        self.osrelease = self.path(hoststate.OSRELEASE)
        self.boot_id = self.path(hoststate.BOOT_ID)
        self.msr = self.path(hoststate.MSR_DEVICE)

    def path(self, host_path: str) -> Path:
        """A host path (absolute or not) in the fake root."""
        return Path(hoststate.under(str(self.root), host_path))

    def write(self, host_path: str, text: str) -> Path:
        return write(self.path(host_path), text)

    # --- /proc, /sys, /dev, /lib/modules

    def set_cpu(self, text: str) -> None:
        write(self.cpuinfo, text)

    def set_release(self, release: str, installed: bool = True) -> None:
        """The running kernel `release`, its /lib/modules, and the vmcsinfo module installed."""
        write(self.osrelease, release + "\n")
        (self.root / "lib/modules" / release / "kernel").mkdir(parents=True, exist_ok=True)
        if installed:
            write(self.module_file(release), "ELF")

    def module_file(self, release: str = REL) -> Path:
        return self.root / "lib/modules" / release / "updates/dkms/vmcsinfo.ko"

    def set_boot_id(self, boot_id: str = BOOT) -> None:
        write(self.boot_id, boot_id + "\n")

    def set_loaded(self, version: str = "0.1.0") -> None:
        write(self.path("sys/module/vmcsinfo/version"), version + "\n")

    def set_probe(self, text: str) -> None:
        """The loaded module's sysfs files, with `text` as its VMCSINFO."""
        write(self.sysfs, text)
        write(self.note, "12345000 1000\n")

    def set_msr_revision(self, revision: int) -> None:
        """/dev/cpu/0/msr (a regular file here) with IA32_VMX_BASIC's revision id."""
        self.msr.parent.mkdir(parents=True, exist_ok=True)
        with open(self.msr, "wb") as f:
            f.seek(0x480)
            f.write((0xD8100000000000 | revision).to_bytes(8, "little"))

    def set_msr_platform_id(self, pid: int) -> None:
        """IA32_PLATFORM_ID (MSR 0x17) in the fake msr file: the platform id in bits 52:50."""
        self.msr.parent.mkdir(parents=True, exist_ok=True)
        with open(self.msr, "r+b" if self.msr.exists() else "wb") as f:
            f.seek(0x17)
            f.write((pid << 50).to_bytes(8, "little"))

    # --- the state directory

    def put_snapshot(self, text: str, origin: str | None = None) -> None:
        write(self.snap, text)
        if origin is not None:
            write(self.origin, origin)

    def put_origin(self, text: str) -> None:
        write(self.origin, text)

    def put_load_result(self, text: str) -> None:
        write(self.load_result, text)

    def files(self) -> dict[str, bytes]:
        """Every file under the state directory, with its content."""
        if not self.dir.exists():
            return {}
        return {str(p): p.read_bytes() for p in sorted(self.dir.rglob("*")) if p.is_file()}

    def origin_kv(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.origin.read_text().splitlines())


def make_root(
    tmp_path: Path,
    *,
    cpu: str | None = None,
    release: str | None = REL,
    installed: bool = True,
    loaded: bool = False,
    sysfs: str | None = None,
    snapshot: str | None = None,
    origin: str | None = None,
    load_result: str | None = None,
) -> Path:
    """A fake host as the facts tests want it, its root returned: an Intel CPU with VMX
    (or `cpu`), kernel `release` with the module installed (unless not `installed`),
    `loaded` or not, the module's probe `sysfs`, and the state directory with the
    `snapshot`, its `origin` and `load_result` given."""
    host = FakeHost(tmp_path)
    host.path("sys/kernel").mkdir(parents=True)
    host.set_cpu(cpuinfo() if cpu is None else cpu)
    if release is not None:
        host.set_release(release, installed)
    if loaded:
        host.set_loaded()
    if sysfs is not None:
        host.set_probe(sysfs)
    host.dir.mkdir(parents=True)
    if snapshot is not None:
        write(host.snap, snapshot)
    if origin is not None:
        write(host.origin, origin)
    if load_result is not None:
        write(host.load_result, load_result)
    return host.root


def point_snapshot_module_at(host: FakeHost, monkeypatch) -> None:
    """Make the vmcsinfo_snapshot module read /proc, /sys and /dev of `host`."""
    from ansible_collections.fujitsu.vmcsinfo.plugins.modules import vmcsinfo_snapshot

    monkeypatch.setattr(vmcsinfo_snapshot, "ROOT", str(host.root))


def secret_file(base: Path, text: str) -> Path:
    """A root-only (0400) file outside the fake host, to point a link at."""
    path = write(base / "shadow", text)
    os.chmod(path, 0o400)
    return path


def repo_root() -> Path | None:
    """The repository checkout holding this collection (it has the top-level Makefile and
    db/), or None when the collection was copied elsewhere (ansible-test, a tarball)."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "collections" / "ansible_collections").is_dir() and (
            parent / "Makefile"
        ).is_file():
            return parent
    return None
