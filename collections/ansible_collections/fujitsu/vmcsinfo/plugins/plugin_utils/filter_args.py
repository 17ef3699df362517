# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's filters' argument checks: a value as Ansible passes it
(a native type, or its string form) to the type a decision table takes, or an
AnsibleFilterError naming the argument."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0", "")


def as_bool(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    if value is None:
        return False
    raise AnsibleFilterError(f"{name} must be a boolean, not {value!r}")


def as_list(value, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AnsibleFilterError(f"{name} must be a list, not {value!r}")
    return list(value)


def as_int(value, name: str) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError) as e:
        raise AnsibleFilterError(f"{name} must be a number, not {value!r}") from e


def as_str_or_none(value) -> str | None:
    return None if value is None else str(value)
