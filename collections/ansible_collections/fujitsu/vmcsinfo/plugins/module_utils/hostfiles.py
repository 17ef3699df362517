# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of the small text and KEY=value files the collection's modules look at
(vmcsinfo.origin, load-result, sysfs and procfs values)."""

from __future__ import annotations

import os
import re
import stat

_KV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def read_text(path: str) -> str | None:
    """A small text file's content, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except (OSError, ValueError):
        return None


def read_kv(path: str) -> dict[str, str] | None:
    """KEY=value lines, tolerantly: blank, comment and other lines are ignored; quotes stripped;
    keys upper-cased. None when the file is missing or unreadable."""
    text = read_text(path)
    if text is None:
        return None
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
    """A host file that must not be read as asked (missing, a link, not regular, too big)."""


def read_bounded(path: str, limit: int) -> bytes:
    """A file's bytes as a root-run reader must take them: never through a
    symbolic link, regular files only (a FIFO or device never blocks or
    streams), at most `limit` bytes. Raises HostFileError saying which."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise HostFileError(f"cannot open {path}: {e.strerror}") from e
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise HostFileError(f"{path} is not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise HostFileError(f"{path} is larger than {limit} bytes")
    return data
