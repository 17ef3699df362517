"""The kernel module source (module-src/) agrees with the rest of the collection.

- One version: galaxy.yml's ``version`` is the source; dkms.conf's PACKAGE_VERSION
  (what the build role installs as) and vmcsinfo_main.c's MODULE_VERSION (what
  modinfo and /sys/module/vmcsinfo/version report) must equal it.
- One name table, twice: the C table vmcsinfo_names.h (the module's CONTRACT 2
  names) and the Python table module_utils/vmcs_fields.py (the readers' names)
  hold the same encodings with the same names, both directions, and both are
  exactly what scripts/gen-vmcs-names.py writes for them (regenerated from
  Linux's vmx.h too when scripts/checkpatch.sh has cached it).
- The kernel build needs nothing the build role does not copy, and the core
  includes kernel headers only (the simulator brings its own, sim/include/).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcs_fields import (
    VMCS_FIELD_ENCODINGS,
)

COLLECTION = Path(__file__).resolve().parents[2]
MODSRC = COLLECTION / "module-src"
NAMES_H = MODSRC / "vmcsinfo_names.h"
VMCS_FIELDS_PY = COLLECTION / "plugins/module_utils/vmcs_fields.py"
GENERATOR = COLLECTION.parents[3] / "scripts/gen-vmcs-names.py"
VMX_H = Path.home() / ".cache/vmcsinfo/checkpatch/src/arch/x86/include/asm/vmx.h"
C_ENTRY = re.compile(r'^\t\{ 0x([0-9a-f]{4}), "([A-Z][A-Z0-9_]*)" \},$', re.M)


def galaxy_version() -> str:
    return str(yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["version"])


def c_table() -> list[tuple[int, str]]:
    text = NAMES_H.read_text()
    entries = [(int(enc, 16), name) for enc, name in C_ENTRY.findall(text)]
    rows = [line for line in text.splitlines() if line.startswith("\t{")]
    assert len(entries) == len(rows), "a table row C_ENTRY does not understand"
    return entries


def generator():
    if not GENERATOR.is_file():
        pytest.skip(f"{GENERATOR} is not here (an installed collection has no scripts/)")
    spec = importlib.util.spec_from_file_location("gen_vmcs_names", GENERATOR)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_dkms_version_is_galaxy_version() -> None:
    text = (MODSRC / "dkms.conf").read_text()
    versions = re.findall(r'^PACKAGE_VERSION="([^"]*)"$', text, re.M)
    assert versions == [galaxy_version()]


def test_module_version_is_galaxy_version() -> None:
    text = (MODSRC / "vmcsinfo_main.c").read_text()
    assert re.findall(r'^MODULE_VERSION\("([^"]*)"\);$', text, re.M) == [galaxy_version()]


def test_c_table_is_sorted_full_encodings() -> None:
    entries = c_table()
    assert len(entries) > 100
    encs = [entry[0] for entry in entries]
    # vmcsinfo_field_name() binary-searches it
    assert encs == sorted(set(encs))
    # no HIGH half of a 64-bit field (CONTRACT 2 lists FULL encodings only)
    assert not [hex(e) for e in encs if e & 1 and (e >> 13) & 3 == 1]
    assert len({entry[1] for entry in entries}) == len(entries)


def test_c_names_are_python_names() -> None:
    c = dict(c_table())
    py = {enc: name for name, enc in VMCS_FIELD_ENCODINGS.items()}
    assert len(py) == len(VMCS_FIELD_ENCODINGS), "one encoding has two Python names"
    only_c = {f"{e:04x}": n for e, n in c.items() if py.get(e) != n}
    only_py = {f"{e:04x}": n for e, n in py.items() if c.get(e) != n}
    assert only_c == {}, "in vmcsinfo_names.h, not so in vmcs_fields.py"
    assert only_py == {}, "in vmcs_fields.py, not so in vmcsinfo_names.h"


def test_tables_are_generator_output() -> None:
    gen = generator()
    entries = c_table()
    assert gen.emit_c(entries) == NAMES_H.read_text()
    assert gen.emit_python(entries) == VMCS_FIELDS_PY.read_text()


def test_tables_are_current_with_linux() -> None:
    gen = generator()
    if not VMX_H.is_file():
        pytest.skip(f"no {VMX_H} (scripts/checkpatch.sh caches it)")
    entries = gen.parse(VMX_H.read_text())
    assert gen.emit_c(entries) == NAMES_H.read_text()
    assert gen.emit_python(entries) == VMCS_FIELDS_PY.read_text()


def test_build_role_copies_what_kbuild_needs() -> None:
    role_vars = yaml.safe_load((COLLECTION / "roles/vmcsinfo_build/vars/main.yml").read_text())
    copied = set(role_vars["vmcsinfo_build_src_files"])
    kbuild = (MODSRC / "Kbuild").read_text()
    objects = re.findall(r"(\w+)\.o\b", kbuild.split("vmcsinfo-y", 1)[1])
    need = {"Kbuild", "dkms.conf"} | {f"{o}.c" for o in objects}
    todo = sorted(need)
    while todo:
        for inc in re.findall(r'^#include "([^"]+)"', (MODSRC / todo.pop()).read_text(), re.M):
            if inc not in need:
                need.add(inc)
                todo.append(inc)
    assert need <= copied, sorted(need - copied)
    assert all((MODSRC / f).is_file() for f in copied)


@pytest.mark.parametrize("name", ["vmcsinfo_core.c", "vmcsinfo_core.h", "vmcsinfo_names.h"])
def test_core_includes_kernel_headers_only(name: str) -> None:
    text = (MODSRC / name).read_text()
    assert not re.search(r"^#\s*if.*(__KERNEL__|SIM)", text, re.M)
    for inc in re.findall(r"^#include\s*(.+)$", text, re.M):
        assert re.fullmatch(r'<linux/\w+\.h>|"vmcsinfo_\w+\.h"', inc), inc
