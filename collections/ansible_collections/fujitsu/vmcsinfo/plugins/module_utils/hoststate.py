# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one home of a host's VMCSINFO state (under /var/lib/vmcsinfo) and of the
host files it is checked against.

- the file names: the snapshot `vmcsinfo`, its sidecar `vmcsinfo.origin`, the
  last load attempt `load-result`, and the host paths the modules look at
  (the module's sysfs file, /proc/cpuinfo, the boot id, the msr device);
- `Origin`, the sidecar as one type: parsed and formatted here, read through
  hostfiles' bounded, never-following reader, written through the one atomic
  writer below;
- the readers of the snapshot / sysfs VMCSINFO and of load-result;
- the one atomic writer of the snapshot pair (`write_pair`), in the order of
  the vmcsinfo_load role's persist helper: the old origin leaves its place
  before the new text takes its own, so a process killed at any moment never
  leaves a text labelled with the origin of another;
- the one clock (`now_utc`) for every timestamp the modules write;
- the one comparison of a VMCSINFO's CPU with the running CPU (`cpu_differences`),
  used by the facts (stale) and by the snapshot module (refuse / report).

No Ansible import: the command-line tools may use it as well.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import time
from dataclasses import dataclass, fields

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.hostfiles import (
    VMCSINFO_LIMIT,
    HostFileError,
    parse_kv,
    read_bounded,
    read_kv,
    read_text,
)
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import (
    Vmcsinfo,
    VmcsinfoError,
    parse,
)

# --- file names ---------------------------------------------------------------------------------

STATE_DIR = "/var/lib/vmcsinfo"
SNAPSHOT = "vmcsinfo"
ORIGIN = "vmcsinfo.origin"
LOAD_RESULT = "load-result"
# Where write_pair keeps the old pair while it writes the new one.
SNAPSHOT_PREV = ".vmcsinfo.prev"
ORIGIN_PREV = ".vmcsinfo.origin.prev"
FILE_MODE = 0o644
DIR_MODE = 0o755

# Host paths, relative to the host's root (see under()).
SYSFS_VMCSINFO = "sys/kernel/vmcsinfo/vmcsinfo"
SYSFS_NOTE = "sys/kernel/vmcsinfo/note"
CPUINFO = "proc/cpuinfo"
OSRELEASE = "proc/sys/kernel/osrelease"
BOOT_ID = "proc/sys/kernel/random/boot_id"
MSR_DEVICE = "dev/cpu/0/msr"

# Origins
PROBE = "probe"
SUPPLIED = "supplied"
DATABASE = "database"
# Origins of a text not probed on this host (vmcsinfo_snapshot installs them).
NOT_PROBED = (SUPPLIED, DATABASE)


def under(root: str, path: str) -> str:
    """`path` (absolute or not) inside `root`."""
    return os.path.join(root, path.lstrip("/"))


def state_paths(directory: str) -> tuple[str, str]:
    """(snapshot, origin sidecar) in a state directory."""
    return os.path.join(directory, SNAPSHOT), os.path.join(directory, ORIGIN)


# --- model-specific registers -------------------------------------------------------------------

IA32_PLATFORM_ID = 0x17
IA32_VMX_BASIC = 0x480


def read_msr(root: str, index: int) -> int | None:
    """MSR `index` of CPU 0 through the msr driver (ROOT/dev/cpu/0/msr), or None when it
    cannot be read (no msr module, not root, no such MSR); never through a link, and a FIFO,
    directory or socket is refused without blocking."""
    path = under(root, MSR_DEVICE)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISREG(mode)):
            return None
        raw = os.pread(fd, 8, index)
    except OSError:
        return None
    finally:
        os.close(fd)
    return int.from_bytes(raw, "little") if len(raw) == 8 else None


def vmx_revision(root: str) -> int | None:
    """The VMCS revision id, IA32_VMX_BASIC bits 30:0 (None when unreadable)."""
    basic = read_msr(root, IA32_VMX_BASIC)
    return None if basic is None else basic & 0x7FFFFFFF


def platform_id(root: str) -> int | None:
    """The platform id, IA32_PLATFORM_ID (MSR 0x17) bits 52:50, which selects the microcode
    update for a CPU signature (None when unreadable)."""
    value = read_msr(root, IA32_PLATFORM_ID)
    return None if value is None else (value >> 50) & 7


# --- the clock ----------------------------------------------------------------------------------


def now_utc() -> str:
    """The time every state file records (SAVED_AT, TIME): UTC ISO 8601, seconds, `Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- the origin sidecar -------------------------------------------------------------------------


def _kv_value(value: str) -> str:
    """`value` as a KEY=value line holds it so that parse_kv reads it back equal."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"{value[:80]!r}: a vmcsinfo.origin value is one line")
    if value != value.strip() or (len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"):
        return f'"{value}"'  # parse_kv strips one pair of quotes, then nothing more
    return value


@dataclass(frozen=True)
class Origin:
    """vmcsinfo.origin: where the snapshot beside it came from.

    origin is PROBE (the persist helper saved this host's probe), SUPPLIED (the
    vmcsinfo_snapshot module installed a VMCSINFO from elsewhere, from `source`) or
    DATABASE (served from the fleet database: `db_key` is the database key whose text it
    is, `digest` its layout digest, `served_for` the CPU it was served for,
    VENDOR/SIGNATURE/MICROCODE in hex). Empty values read as None.
    """

    origin: str | None = None
    source: str | None = None
    kernel: str | None = None
    boot_id: str | None = None
    saved_at: str | None = None
    db_key: str | None = None
    digest: str | None = None
    served_for: str | None = None

    # KEY of each field, in the order the file has them.
    KEYS = (
        ("origin", "ORIGIN"),
        ("source", "SOURCE"),
        ("db_key", "DB_KEY"),
        ("digest", "DIGEST"),
        ("served_for", "SERVED_FOR"),
        ("kernel", "KERNEL"),
        ("boot_id", "BOOT_ID"),
        ("saved_at", "SAVED_AT"),
    )
    # Written only when set.
    OPTIONAL = ("source", "db_key", "digest", "served_for")

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) == "":
                object.__setattr__(self, f.name, None)

    @classmethod
    def parse(cls, text: str) -> Origin:
        """Tolerantly, as hostfiles.parse_kv reads KEY=value lines (unknown keys ignored)."""
        kv = parse_kv(text)
        return cls(**{name: kv.get(key) or None for name, key in cls.KEYS})

    @classmethod
    def read(cls, path: str) -> Origin | None:
        """The sidecar at `path`; None when it is missing or refused (a link, not a regular
        file, too large): a snapshot of unknown origin."""
        text = read_text(path)
        return None if text is None else cls.parse(text)

    @classmethod
    def supplied(
        cls,
        source: str,
        root: str = "/",
        origin: str = SUPPLIED,
        db_key: str | None = None,
        digest: str | None = None,
        served_for: str | None = None,
    ) -> Origin:
        """The origin of a VMCSINFO from `source` installed now on this host (`origin`
        DATABASE with the database key and digest for a text served from the database)."""
        return cls(
            origin=origin,
            source=source,
            db_key=db_key,
            digest=digest,
            served_for=served_for,
            kernel=os.uname().release,
            boot_id=(read_text(under(root, BOOT_ID)) or "").strip(),
            saved_at=now_utc(),
        )

    def format(self) -> str:
        """The file's text: ORIGIN, SOURCE, DB_KEY, DIGEST and SERVED_FOR (when set),
        KERNEL, BOOT_ID, SAVED_AT, the persist helper's KEY=value lines."""
        out = []
        for name, key in self.KEYS:
            value = getattr(self, name)
            if name in self.OPTIONAL and value is None:
                continue
            out.append(f"{key}={_kv_value(value or '')}\n")
        return "".join(out)


# --- readers of the state -----------------------------------------------------------------------


def load_vmcsinfo(path: str, denied: str = "") -> tuple[bool, Vmcsinfo | None, str | None]:
    """(exists, parsed, problem) for a VMCSINFO file (the snapshot, the sysfs file); never
    raises. A link, FIFO, device, directory or oversized file is a problem, never read.

    `denied` replaces the problem text when the file exists but this user may not read it.
    """
    try:
        raw = read_bounded(path, VMCSINFO_LIMIT)
    except HostFileError as e:
        if e.errno == errno.ENOENT:
            return False, None, None
        if e.errno == errno.EACCES:
            return (
                True,
                None,
                denied or f"{path} is not readable by this user: run with become: true",
            )
        return os.path.lexists(path), None, str(e)
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return True, None, f"{path} is malformed: not ASCII text"
    try:
        return True, parse(text), None
    except VmcsinfoError as e:
        return True, None, f"{path} is malformed: {e}"


LOAD_RESULT_KEYS = ("result", "reason", "kernel", "time")


def read_load_result(path: str) -> dict | None:
    """The last load attempt ({result, reason, kernel, time}, None for a missing key), or
    None when the file is missing or refused."""
    kv = read_kv(path)
    if kv is None:
        return None
    return {k: kv.get(k.upper()) for k in LOAD_RESULT_KEYS}


# --- the CPU comparison -------------------------------------------------------------------------


def cpu_differences(
    info: Vmcsinfo, cpu: dict, what: str = "the VMCSINFO"
) -> tuple[list[str], list[str]]:
    """How a VMCSINFO's CPU differs from `cpu` (cpuinfo.parse_cpuinfo, plus `revision_id`
    when known): (differences of the CPU model, which make the layout wrong for it: vendor,
    signature, VMCS revision id; differences only worth reporting: microcode). A value of
    `cpu` that is None (unknown) is not compared."""
    model, report = [], []
    if cpu.get("vendor") is not None and info.cpu_vendor != cpu["vendor"]:
        model.append(
            f"CPU_VENDOR {info.cpu_vendor} in {what} differs from this CPU's {cpu['vendor']}"
        )
    if cpu.get("signature") is not None and info.cpu_signature != cpu["signature"]:
        model.append(
            f"CPU_SIGNATURE {info.cpu_signature:x} in {what} differs from this CPU's "
            f"{cpu['signature']:x}"
        )
    if cpu.get("revision_id") is not None and info.revision_id != cpu["revision_id"]:
        model.append(
            f"REVISION_ID {info.revision_id:x} in {what} differs from this CPU's VMCS "
            f"revision id {cpu['revision_id']:x} (IA32_VMX_BASIC)"
        )
    if cpu.get("microcode") is not None and info.microcode != cpu["microcode"]:
        report.append(
            f"MICROCODE {info.microcode:#x} in {what} differs from the running microcode "
            f"{cpu['microcode']:#x}"
        )
    return model, report


def same_cpu(info: Vmcsinfo, cpu: dict) -> bool:
    """Whether a VMCSINFO was probed on this CPU model: same vendor and signature
    (unknown host values: assume it was)."""
    return not cpu_differences(info, {**cpu, "revision_id": None})[0]


def served_staleness(served_for: str, cpu: dict) -> str:
    """Why a layout the fleet database served for `served_for` (VENDOR/SIGNATURE/MICROCODE,
    hex) may not describe the running CPU any more; empty when it does. The text may be of
    another microcode (served with the database's evidence): what counts is the CPU the
    database was asked for."""
    parts = served_for.split("/")
    if len(parts) != 3:
        return f"SERVED_FOR {served_for!r} is not VENDOR/SIGNATURE/MICROCODE: cannot compare"
    vendor, sig, mc = parts
    out = []
    for name, served, running in (
        ("vendor", vendor, cpu.get("vendor")),
        ("signature", sig, None if cpu.get("signature") is None else f"{cpu['signature']:x}"),
        ("microcode", mc, None if cpu.get("microcode") is None else f"{cpu['microcode']:x}"),
    ):
        if running is not None and served != running:
            out.append(f"served for CPU {name} {served}, this CPU's is {running}")
    return "; ".join(out)


def staleness(info: Vmcsinfo | None, cpu: dict) -> str:
    """Why the layout may not describe the running CPU any more; empty when it does."""
    if info is None:
        return ""
    model, report = cpu_differences(info, cpu)
    return "; ".join(model + report)


# --- the atomic writer --------------------------------------------------------------------------


class StateWriteError(Exception):
    """The state could not be written; str() says why and whether the old state is back."""


def dir_sync(directory: str) -> None:
    """fsync a directory, so that renames and unlinks in it are on disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory (fsynced,
    mode 0644), renamed over `path`: readers see the old file or the new one. The rename
    replaces a symbolic link at `path`, never writes through it."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.rename(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def restore(kept: list[tuple[str, str]], created: list[str]) -> str | None:
    """Rename the kept pair back (no space needed) and remove what the writer created
    where nothing was before. None when done, else why not."""
    try:
        for prev, path in kept:
            if os.path.lexists(path) and os.path.samefile(prev, path):
                # Still the old file (a hard link of it): rename() would do
                # nothing and leave prev behind.
                os.unlink(prev)
            else:
                os.rename(prev, path)
        restored = {path for _prev, path in kept}
        for path in created:
            if path not in restored and os.path.lexists(path):
                os.unlink(path)
        return None
    except OSError as e:
        return e.strerror or str(e)


def write_pair(snap_path: str, text: str, origin_path: str, origin: Origin) -> None:
    """Replace the snapshot and its origin sidecar as one change.

    The old pair is kept aside first (a hard link of the text, a rename of the
    origin: no data written), the old origin leaves its place before the new
    text takes its, then the new origin is written (the persist helper's
    order). A process killed at any moment leaves at worst a text without an
    origin (the facts call it of unknown origin), never a supplied text
    labelled with the old ORIGIN=probe. A failure (ENOSPC, a read-only /var)
    renames the old pair back, which needs no space, and raises
    StateWriteError saying what happened. A directory in the place of either
    file is refused before anything is touched.
    """
    directory = os.path.dirname(snap_path)
    prev_text = os.path.join(directory, SNAPSHOT_PREV)
    prev_origin = os.path.join(directory, ORIGIN_PREV)
    origin_text = origin.format()
    kept: list[tuple[str, str]] = []
    created: list[str] = []
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, mode=DIR_MODE)
            os.chmod(directory, DIR_MODE)
        for path in (snap_path, origin_path):
            if os.path.isdir(path) and not os.path.islink(path):
                raise IsADirectoryError(errno.EISDIR, "a directory is in the way", path)
            if not os.path.lexists(path):
                created.append(path)
        for stale in (prev_text, prev_origin):
            if os.path.lexists(stale):
                os.unlink(stale)
        if os.path.lexists(snap_path):
            os.link(snap_path, prev_text, follow_symlinks=False)
            kept.append((prev_text, snap_path))
        if os.path.lexists(origin_path):
            os.rename(origin_path, prev_origin)
            kept.append((prev_origin, origin_path))
        dir_sync(directory)
        write_file(snap_path, text)
        write_file(origin_path, origin_text)
        for prev, _path in kept:
            os.unlink(prev)
        dir_sync(directory)
    except OSError as e:
        problem = restore(kept, created)
        raise StateWriteError(
            f"{e.strerror or e}"
            + (f" ({e.filename})" if e.filename else "")
            + "; "
            + (
                "nothing was changed"
                if problem is None
                else f"the previous snapshot could not be put back ({problem}): check {directory}"
            )
        ) from e


def remove_pair(snap_path: str, origin_path: str) -> None:
    """Remove the snapshot, then its sidecar (an origin without a text is never read)."""
    for path in (snap_path, origin_path):
        if os.path.lexists(path):
            os.unlink(path)
    dir_sync(os.path.dirname(snap_path))
