# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of the small text and KEY=value files the collection's modules look at
(vmcsinfo.origin, load-result, sysfs and procfs values)."""

from __future__ import annotations

import re

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
