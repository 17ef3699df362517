# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of the small text and KEY=value files the collection's modules look at
(vmcsinfo.origin, load-result, sysfs and procfs values)."""

from __future__ import annotations

import errno
import os
import re
import stat

_KV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


# What a small host file may hold: sysfs and procfs values, the state files
# under /var/lib/vmcsinfo. /proc/cpuinfo of a large host is read with its own
# bound (CPUINFO_LIMIT).
TEXT_LIMIT = 1 << 20
CPUINFO_LIMIT = 16 << 20
# A VMCSINFO text is a few KB (one line per VMCS field): the one bound of every
# reader of one (the facts, the snapshot module, vmcsinfo-crash's sidecar).
VMCSINFO_LIMIT = 1 << 20


def read_text(path: str, limit: int = TEXT_LIMIT) -> str | None:
    """A small text file's content, read as read_bounded reads it (never
    through a symbolic link, regular files only, at most `limit` bytes), or
    None when it is missing, unreadable or refused."""
    try:
        return read_bounded(path, limit).decode("utf-8", errors="replace")
    except HostFileError:
        return None


def read_kv(path: str) -> dict[str, str] | None:
    """parse_kv of a small file read as read_text reads it. None when the file is missing,
    unreadable or refused."""
    text = read_text(path)
    return None if text is None else parse_kv(text)


def parse_kv(text: str) -> dict[str, str]:
    """KEY=value lines, tolerantly: blank, comment and other lines are ignored; one pair of
    quotes around a value stripped; keys upper-cased."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _KV_KEY.match(key):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.upper()] = value
    return out


class HostFileError(ValueError):
    """A host file that must not be read as asked (missing, a link, not regular, too big).
    errno: the OSError's errno when opening failed (ENOENT: missing, EACCES: denied)."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


def read_bounded(path: str, limit: int) -> bytes:
    """A file's bytes as a root-run reader must take them: never through a
    symbolic link, regular files only (a FIFO or device never blocks or
    streams), at most `limit` bytes. Raises HostFileError saying which."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise HostFileError(f"{path} is a symbolic link (not followed)", e.errno) from e
        raise HostFileError(f"cannot open {path}: {e.strerror}", e.errno) from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            # A directory, FIFO, device or socket: never read (os.fdopen of a
            # directory raises, a FIFO or device could block or stream).
            raise HostFileError(f"{path} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise HostFileError(f"cannot read {path}: {e.strerror}", e.errno) from e
    finally:
        os.close(fd)
    if len(data) > limit:
        raise HostFileError(f"{path} is larger than {limit} bytes")
    return data


def read_ascii(path: str, limit: int = VMCSINFO_LIMIT) -> str:
    """A small ASCII text (a VMCSINFO text, a configuration file) read as
    read_bounded reads it; HostFileError names a byte that is not ASCII."""
    data = read_bounded(path, limit)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as e:
        raise HostFileError(f"{path} is not ASCII text (byte {e.start})") from e
