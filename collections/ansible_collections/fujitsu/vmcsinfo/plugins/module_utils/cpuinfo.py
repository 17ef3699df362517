# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of /proc/cpuinfo for the collection's modules.

vmcsinfo_facts reports the CPU and vmcsinfo_snapshot compares a supplied
VMCSINFO's CPU_VENDOR/CPU_SIGNATURE with it, so both must read it the same way.
"""

from __future__ import annotations


def cpu_signature(family: int | None, model: int | None, stepping: int | None) -> int | None:
    """CPUID.1:EAX from the displayed family/model/stepping; processor type (13:12) taken as 0."""
    if family is None or model is None or stepping is None:
        return None
    if family >= 0xF:
        base_family, ext_family = 0xF, family - 0xF
    else:
        base_family, ext_family = family, 0
    if family == 6 or family >= 0xF:
        base_model, ext_model = model & 0xF, model >> 4
    else:
        base_model, ext_model = model, 0
    if min(family, model, stepping) < 0 or ext_family > 0xFF or ext_model > 0xF:
        return None
    if base_model > 0xF or stepping > 0xF:
        return None
    return ext_family << 20 | ext_model << 16 | base_family << 8 | base_model << 4 | stepping


def to_int(value: str | None, base: int = 10) -> int | None:
    """int(value, base), or None when value is None or not a number."""
    if value is None:
        return None
    try:
        return int(value, base)
    except ValueError:
        return None


def parse_cpuinfo(text: str) -> dict:
    """The first processor of a /proc/cpuinfo text: vendor, signature, family,
    model, stepping, microcode and whether it shows the vmx flag."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if info:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            info.setdefault(key.strip(), value.strip())
    family = to_int(info.get("cpu family"))
    model = to_int(info.get("model"))
    stepping = to_int(info.get("stepping"))
    return {
        "vendor": info.get("vendor_id") or None,
        "signature": cpu_signature(family, model, stepping),
        "family": family,
        "model": model,
        "stepping": stepping,
        "microcode": to_int(info.get("microcode"), 16),
        "vmx": "vmx" in info.get("flags", "").split(),
    }
