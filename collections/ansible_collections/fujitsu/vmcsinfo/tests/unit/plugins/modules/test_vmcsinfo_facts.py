"""Tests of the vmcsinfo_facts module (plugins/modules/vmcsinfo_facts.py) on fake host roots."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import ansiblecli
from fakehost import BOCHS, REL, FakeHost, cpuinfo, make_root, write

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.cpuinfo import cpu_signature
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.facts import gather
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.vmcsinfo import parse
from ansible_collections.fujitsu.vmcsinfo.plugins.modules import vmcsinfo_facts

LAYOUT_KEYS = ("revision_id", "region_size", "vmx_basic", "vmx_misc", "digest")


def assert_unavailable(facts: dict) -> None:
    assert facts["available"] is False
    assert facts["source"] == "none"
    for key in LAYOUT_KEYS:
        assert facts[key] is None
    assert facts["fields"] == {} and facts["field_count"] == 0 and facts["extra"] == {}
    assert facts["probed_cpu"] == {"vendor": None, "signature": None, "microcode": None}
    assert facts["stale"] is False and facts["stale_reason"] == ""


# --- CPU signature -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "model", "stepping", "signature"),
    [
        (6, 60, 3, 0x306C3),  # Haswell i7-4770
        (6, 85, 7, 0x50657),  # Cascade Lake
        (6, 0xAD, 1, 0xA06D1),  # Granite Rapids: extended model 0xa
        (15, 6, 8, 0xF68),  # Pentium 4: family 15, no extended family
        (15, 0x41, 2, 0x40F12),  # extended model used for family 15 too
        (25, 33, 0, 0xA20F10),  # AMD Zen 3: extended family 0xa
        (26, 2, 1, 0xB00F21),  # AMD Zen 5
        (19, 1, 0, 0x400F10),  # Intel family 19 (Diamond Rapids): 0xf + 4
        (5, 4, 3, 0x543),  # Pentium MMX: no extended fields
        (None, 60, 3, None),
        (6, 60, None, None),
    ],
)
def test_cpu_signature_rebuild(family, model, stepping, signature) -> None:
    assert cpu_signature(family, model, stepping) == signature


def test_cpu_facts_from_first_processor_only(tmp_path: Path) -> None:
    text = cpuinfo(microcode="0x28") + cpuinfo(model=63, microcode="0x2a", flags="fpu")
    facts = gather(str(make_root(tmp_path, cpu=text)))
    assert facts["cpu"] == {
        "vendor": "GenuineIntel",
        "signature": 0x306C3,
        "family": 6,
        "model": 60,
        "stepping": 3,
        "microcode": 0x28,
        "vmx": True,
        "platform_id": None,
        "revision_id": None,
    }


def test_cpu_facts_platform_id_and_revision_from_the_msr_driver(tmp_path: Path) -> None:
    host = FakeHost(tmp_path / "msr")
    host.set_cpu(cpuinfo())
    host.set_msr_revision(0x2B)
    host.set_msr_platform_id(1)
    cpu = gather(str(host.root))["cpu"]
    assert cpu["platform_id"] == 1 and cpu["revision_id"] == 0x2B
    # not Intel: neither is read
    host.set_cpu(cpuinfo(vendor="AuthenticAMD", flags="svm"))
    cpu = gather(str(host.root))["cpu"]
    assert cpu["platform_id"] is None and cpu["revision_id"] is None


def test_cpu_facts_without_microcode_or_cpuinfo(tmp_path: Path) -> None:
    root = make_root(tmp_path, cpu=cpuinfo(microcode=None))
    assert gather(str(root))["cpu"]["microcode"] is None
    (root / "proc/cpuinfo").unlink()
    facts = gather(str(root))
    assert facts["cpu"]["vendor"] is None and facts["cpu"]["signature"] is None
    assert_unavailable(facts)
    assert "no CPU vendor in" in facts["reason"]


# --- probe source --------------------------------------------------------------------------------


def test_probe_source(tmp_path: Path) -> None:
    root = make_root(tmp_path, loaded=True, sysfs=BOCHS, snapshot=BOCHS, origin="ORIGIN=probe\n")
    facts = gather(str(root), modinfo=lambda field, path: {"version": "0.1.0"}.get(field))
    info = parse(BOCHS)
    assert facts["available"] is True
    assert facts["source"] == "probe"
    assert facts["reason"] == "" and facts["no_probe_reason"] == ""
    assert facts["revision_id"] == 0x2B and facts["region_size"] == 0x1000
    assert facts["vmx_basic"] == 0xD810000000002B and facts["vmx_misc"] == 0x200401E0
    assert facts["field_count"] == 0x93 == len(facts["fields"])
    assert facts["digest"] == info.digest()
    assert facts["probed_cpu"] == {"vendor": "GenuineIntel", "signature": 0x306C3, "microcode": 0}
    rip = info.field("GUEST_RIP")
    assert facts["fields"]["GUEST_RIP"] == {"encoding": 0x681E, "width": 64, "offset": rip.offset}
    ar = facts["fields"]["GUEST_ES_AR_BYTES"]
    assert set(ar) == {"encoding", "width", "bits"} and ar["width"] == 32
    assert ar["bits"] == list(info.field("GUEST_ES_AR_BYTES").bits)
    assert facts["stale"] is False and facts["stale_reason"] == ""
    assert facts["sysfs"] == str(root / "sys/kernel/vmcsinfo/vmcsinfo")
    assert facts["kernel"] == REL
    assert facts["module"] == {
        "installed": True,
        "loaded": True,
        "version": "0.1.0",
        "loaded_version": "0.1.0",
        "signed_by": None,
        "path": str(root / "lib/modules" / REL / "updates/dkms/vmcsinfo.ko"),
        "load_result": None,
    }
    assert facts["snapshot"]["exists"] is True and facts["snapshot"]["origin"] == "probe"
    json.dumps(facts)  # plain JSON types only


def test_unstored_bits_are_null(tmp_path: Path) -> None:
    bits = ["-" if i in (13, 14, 15) else f"{0x100 + i:x}" for i in range(32)]
    text = (
        "VMCSINFO_FORMAT=1\nREVISION_ID=4\nREGION_SIZE=1000\nVMX_BASIC=10000000000004\n"
        "VMX_MISC=20000000\nCPU_VENDOR=GenuineIntel\nCPU_SIGNATURE=306c3\nMICROCODE=0\n"
        "FIELD_COUNT=1\nFUTURE_KEY=yes\nBITS(GUEST_ES_AR_BYTES)=" + ",".join(bits) + "\n"
    )
    facts = gather(str(make_root(tmp_path, loaded=True, sysfs=text)))
    assert facts["source"] == "probe" and facts["field_count"] == 1
    ar = facts["fields"]["GUEST_ES_AR_BYTES"]
    assert ar == {
        "encoding": 0x4814,
        "width": 32,
        "bits": [None if i in (13, 14, 15) else 0x100 + i for i in range(32)],
    }
    assert facts["extra"] == {"FUTURE_KEY": "yes"}


# --- snapshot source -----------------------------------------------------------------------------


def test_snapshot_of_an_earlier_probe(tmp_path: Path) -> None:
    origin = (
        "# written by fujitsu.vmcsinfo\nORIGIN=probe\nKERNEL='6.1.0-55-amd64'\n"
        'BOOT_ID="0f4b3c1e-5a2d-4c8e-9b7a-1d2e3f4a5b6c"\nSAVED_AT=2025-01-31T12:00:00Z\n'
        "junk line\nUNKNOWN=1\n\n"
    )
    root = make_root(tmp_path, snapshot=BOCHS, origin=origin)
    facts = gather(str(root))
    assert facts["available"] is True and facts["source"] == "snapshot"
    assert facts["snapshot"] == {
        "path": str(root / "var/lib/vmcsinfo/vmcsinfo"),
        "exists": True,
        "origin": "probe",
        "source": None,
        "kernel": "6.1.0-55-amd64",
        "boot_id": "0f4b3c1e-5a2d-4c8e-9b7a-1d2e3f4a5b6c",
        "saved_at": "2025-01-31T12:00:00Z",
        "db_key": None,
        "digest": None,
        "served_for": None,
    }
    assert "installed but not loaded" in facts["reason"]
    assert "earlier probe" in facts["reason"] and "6.1.0-55-amd64" in facts["reason"]
    assert facts["digest"] == parse(BOCHS).digest() and facts["field_count"] == 0x93


def test_snapshot_supplied_when_module_refused(tmp_path: Path) -> None:
    load_result = (
        "RESULT=refused\nREASON=another hypervisor owns VMX (CR4.VMXE set)\n"
        f"KERNEL={REL}\nTIME=2025-01-31T12:00:00Z\n"
    )
    root = make_root(tmp_path, snapshot=BOCHS, origin="ORIGIN=supplied\n", load_result=load_result)
    facts = gather(str(root))
    assert facts["source"] == "snapshot" and facts["available"] is True
    assert facts["snapshot"]["origin"] == "supplied" and facts["snapshot"]["kernel"] is None
    assert "refused to load" in facts["reason"] and "CR4.VMXE" in facts["reason"]
    assert (
        "the VMCSINFO supplied from an unnamed source (not probed on this host)"
        in (facts["reason"])
    )
    assert facts["module"]["load_result"] == {
        "result": "refused",
        "reason": "another hypervisor owns VMX (CR4.VMXE set)",
        "kernel": REL,
        "time": "2025-01-31T12:00:00Z",
    }


SUPPLIED_ORIGIN = (
    "ORIGIN=supplied\nSOURCE=bochs-2.7 probe\nKERNEL=6.1.0-1-amd64\n"
    "BOOT_ID=11111111-2222-3333-4444-555555555555\nSAVED_AT=2025-02-01T08:00:00Z\n"
)


def test_supplied_snapshot(tmp_path: Path) -> None:
    # an Intel host with VMX whose probe is not there (KVM owns VMX): another kernel and boot
    root = make_root(tmp_path, snapshot=BOCHS, origin=SUPPLIED_ORIGIN)
    facts = gather(str(root))
    assert facts["available"] is True and facts["source"] == "snapshot"
    assert facts["snapshot"] == {
        "path": str(root / "var/lib/vmcsinfo/vmcsinfo"),
        "exists": True,
        "origin": "supplied",
        "source": "bochs-2.7 probe",
        "kernel": "6.1.0-1-amd64",
        "boot_id": "11111111-2222-3333-4444-555555555555",
        "saved_at": "2025-02-01T08:00:00Z",
        "db_key": None,
        "digest": None,
        "served_for": None,
    }
    assert facts["reason"] == (
        "the vmcsinfo module is installed but not loaded; using the VMCSINFO supplied from "
        "bochs-2.7 probe (not probed on this host, installed 2025-02-01T08:00:00Z) in "
        f"{root}/var/lib/vmcsinfo/vmcsinfo"
    )
    assert facts["no_probe_reason"] == "the vmcsinfo module is installed but not loaded"
    # Never tied to this kernel or boot: not stale for that, only for a CPU difference.
    assert facts["kernel"] == REL
    assert facts["stale"] is False and facts["stale_reason"] == ""
    assert facts["digest"] == parse(BOCHS).digest() and facts["field_count"] == 0x93


def test_supplied_snapshot_on_a_host_without_vmx(tmp_path: Path) -> None:
    # QEMU TCG: an AMD CPU model, no VMX; the supplied text is of an Intel CPU
    cpu = cpuinfo(vendor="AuthenticAMD", family=26, model=2, stepping=1, flags="svm hypervisor")
    root = make_root(tmp_path, cpu=cpu, snapshot=BOCHS, origin=SUPPLIED_ORIGIN)
    facts = gather(str(root))
    assert facts["available"] is True and facts["source"] == "snapshot"
    assert facts["snapshot"]["origin"] == "supplied"
    assert facts["snapshot"]["source"] == "bochs-2.7 probe"
    assert facts["reason"].startswith("CPU vendor AuthenticAMD has no Intel VMX")
    assert "supplied from bochs-2.7 probe (not probed on this host" in facts["reason"]
    # the part a load decision quotes is the same with and without the snapshot
    assert facts["no_probe_reason"] == (
        "CPU vendor AuthenticAMD has no Intel VMX: VMCSINFO does not apply"
    )
    assert facts["probed_cpu"] == {"vendor": "GenuineIntel", "signature": 0x306C3, "microcode": 0}
    assert facts["stale"] is True
    assert "KERNEL" not in facts["stale_reason"] and "BOOT" not in facts["stale_reason"]
    assert (
        "CPU_VENDOR GenuineIntel in the VMCSINFO differs from this CPU's AuthenticAMD"
        in (facts["stale_reason"])
    )
    (root / "var/lib/vmcsinfo/vmcsinfo").unlink()
    facts = gather(str(root))
    assert facts["source"] == "none" and facts["reason"] == facts["no_probe_reason"]


def test_probe_wins_over_a_supplied_snapshot(tmp_path: Path) -> None:
    moved = BOCHS.replace("FIELD(VIRTUAL_PROCESSOR_ID)=10\n", "FIELD(VIRTUAL_PROCESSOR_ID)=18\n")
    root = make_root(tmp_path, loaded=True, sysfs=BOCHS, snapshot=moved, origin=SUPPLIED_ORIGIN)
    facts = gather(str(root))
    assert facts["source"] == "probe" and facts["reason"] == ""
    assert facts["digest"] == parse(BOCHS).digest() != parse(moved).digest()
    assert facts["snapshot"]["origin"] == "supplied"


def test_snapshot_without_origin_sidecar(tmp_path: Path) -> None:
    facts = gather(str(make_root(tmp_path, installed=False, snapshot=BOCHS)))
    assert facts["source"] == "snapshot"
    assert facts["snapshot"]["origin"] is None
    assert "origin unknown" in facts["reason"] and "not installed" in facts["reason"]


def test_snapshot_dir_option(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    write(root / "srv/vmcs/vmcsinfo", BOCHS)
    facts = gather(str(root), snapshot_dir="/srv/vmcs")
    assert facts["source"] == "snapshot"
    assert facts["snapshot"]["path"] == str(root / "srv/vmcs/vmcsinfo")


# --- none, with each reason ----------------------------------------------------------------------


REFUSED = f"RESULT=refused\nREASON=VMX disabled by firmware (IA32_FEATURE_CONTROL)\nKERNEL={REL}\n"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        (
            {"cpu": cpuinfo(vendor="AuthenticAMD", family=25, model=33, flags="fpu svm")},
            "CPU vendor AuthenticAMD has no Intel VMX: VMCSINFO does not apply",
        ),
        (
            {"cpu": cpuinfo(flags="fpu sse hypervisor")},
            "VMX is not exposed to this kernel (disabled in firmware, or a hypervisor does not "
            "pass it through)",
        ),
        (
            {"load_result": REFUSED},
            f"the vmcsinfo module refused to load on kernel {REL}: VMX disabled by firmware "
            "(IA32_FEATURE_CONTROL)",
        ),
        ({"installed": False}, f"the vmcsinfo module is not installed for kernel {REL}"),
        ({}, "the vmcsinfo module is installed but not loaded"),
        ({"loaded": True}, "the vmcsinfo module is loaded but "),
    ],
    ids=["amd", "no-vmx", "refused", "not-installed", "not-loaded", "loaded-no-sysfs"],
)
def test_none_reasons(tmp_path: Path, kwargs: dict, expected: str) -> None:
    facts = gather(str(make_root(tmp_path, **kwargs)))
    assert_unavailable(facts)
    assert facts["reason"].startswith(expected), facts["reason"]
    snapshot_hint = "there is no snapshot at" in facts["reason"]
    assert snapshot_hint == (expected[:3] == "the")
    assert facts["no_probe_reason"].startswith(expected)
    assert "there is no snapshot at" not in facts["no_probe_reason"]


def test_amd_reason_wins_over_module_state(tmp_path: Path) -> None:
    cpu = cpuinfo(vendor="AuthenticAMD", family=26, model=2, stepping=1, flags="svm")
    facts = gather(str(make_root(tmp_path, cpu=cpu, installed=False, load_result=REFUSED)))
    assert facts["reason"] == "CPU vendor AuthenticAMD has no Intel VMX: VMCSINFO does not apply"
    assert facts["cpu"]["signature"] == 0xB00F21


def test_refusal_on_another_kernel_is_only_mentioned(tmp_path: Path) -> None:
    old = REFUSED.replace(REL, "6.1.0-1-amd64")
    facts = gather(str(make_root(tmp_path, load_result=old)))
    assert facts["reason"].startswith("the vmcsinfo module is installed but not loaded")
    assert "last load attempt: refused on kernel 6.1.0-1-amd64" in facts["reason"]


def test_deferred_load_is_mentioned(tmp_path: Path) -> None:
    lr = 'RESULT="deferred"\nREASON=policy: load at next maintenance window\n'
    facts = gather(str(make_root(tmp_path, load_result=lr)))
    assert "installed but not loaded (last load attempt: deferred: policy" in facts["reason"]
    assert facts["module"]["load_result"]["kernel"] is None


# --- unreadable and malformed VMCSINFO -----------------------------------------------------------


@pytest.fixture
def deny_sysfs(monkeypatch: pytest.MonkeyPatch):
    """Make the sysfs VMCSINFO unreadable as a non-root user finds it (tests run as root)."""
    real_open = os.open

    def fake_open(file, *args, **kwargs):
        if str(file).endswith("sys/kernel/vmcsinfo/vmcsinfo"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)


@pytest.mark.usefixtures("deny_sysfs")
def test_root_only_sysfs_falls_back_to_snapshot(tmp_path: Path) -> None:
    root = make_root(tmp_path, loaded=True, sysfs=BOCHS, snapshot=BOCHS, origin="ORIGIN=probe\n")
    facts = gather(str(root))
    assert facts["source"] == "snapshot" and facts["available"] is True
    sysfs = root / "sys/kernel/vmcsinfo/vmcsinfo"
    assert facts["reason"].startswith(f"{sysfs} is root-only (0400): run with become: true; using")


@pytest.mark.usefixtures("deny_sysfs")
def test_root_only_sysfs_without_snapshot(tmp_path: Path) -> None:
    root = make_root(tmp_path, loaded=True, sysfs=BOCHS)
    facts = gather(str(root))
    assert_unavailable(facts)
    sysfs = root / "sys/kernel/vmcsinfo/vmcsinfo"
    assert facts["reason"] == f"{sysfs} is root-only (0400): run with become: true"


BAD = BOCHS.replace("VMX_MISC=200401e0", "VMX_MISC=0x200401E0")  # line 5


def test_malformed_sysfs_falls_back_to_snapshot(tmp_path: Path) -> None:
    root = make_root(tmp_path, loaded=True, sysfs=BAD, snapshot=BOCHS, origin="ORIGIN=probe\n")
    facts = gather(str(root))
    assert facts["source"] == "snapshot" and facts["available"] is True
    assert f"{root}/sys/kernel/vmcsinfo/vmcsinfo is malformed: line 5: VMX_MISC" in facts["reason"]


def test_malformed_snapshot(tmp_path: Path) -> None:
    root = make_root(tmp_path, snapshot=BAD, origin="ORIGIN=supplied\n")
    facts = gather(str(root))
    assert_unavailable(facts)
    assert facts["snapshot"]["exists"] is True
    assert facts["reason"].startswith(
        "the vmcsinfo module is installed but not loaded; "
        f"{root}/var/lib/vmcsinfo/vmcsinfo is malformed: line 5: "
    )


def test_malformed_snapshot_on_amd_names_both(tmp_path: Path) -> None:
    cpu = cpuinfo(vendor="AuthenticAMD", family=25, model=33, flags="svm")
    facts = gather(str(make_root(tmp_path, cpu=cpu, snapshot="VMCSINFO_FORMAT=2\n")))
    assert_unavailable(facts)
    assert facts["reason"].startswith("CPU vendor AuthenticAMD has no Intel VMX")
    assert "vmcsinfo is malformed: line 1: unsupported VMCSINFO_FORMAT '2'" in facts["reason"]


def test_malformed_both(tmp_path: Path) -> None:
    lines = BOCHS.splitlines(keepends=True)
    lines[11] = "FIELD(GUEST_RIP\n"  # line 12
    root = make_root(tmp_path, loaded=True, sysfs="".join(lines), snapshot="garbage\n")
    facts = gather(str(root))
    assert_unavailable(facts)
    assert "vmcsinfo/vmcsinfo is malformed: line 12: expected KEY=VALUE" in facts["reason"]
    assert "var/lib/vmcsinfo/vmcsinfo is malformed: line 1: " in facts["reason"]


def test_binary_vmcsinfo_is_malformed(tmp_path: Path) -> None:
    root = make_root(tmp_path, loaded=True)
    (root / "sys/kernel/vmcsinfo").mkdir()
    (root / "sys/kernel/vmcsinfo/vmcsinfo").write_bytes(b"\xff\xfe\x00")
    facts = gather(str(root))
    assert_unavailable(facts)
    assert "is malformed: not ASCII text" in facts["reason"]


# --- staleness -----------------------------------------------------------------------------------


def test_stale_microcode(tmp_path: Path) -> None:
    root = make_root(tmp_path, cpu=cpuinfo(microcode="0x2a"), loaded=True, sysfs=BOCHS)
    facts = gather(str(root))
    assert facts["source"] == "probe" and facts["stale"] is True
    assert facts["stale_reason"] == (
        "MICROCODE 0x0 in the VMCSINFO differs from the running microcode 0x2a"
    )


def test_stale_signature(tmp_path: Path) -> None:
    root = make_root(tmp_path, cpu=cpuinfo(model=63, stepping=2), snapshot=BOCHS)
    facts = gather(str(root))
    assert facts["source"] == "snapshot" and facts["stale"] is True
    assert (
        "CPU_SIGNATURE 306c3 in the VMCSINFO differs from this CPU's 306f2"
        in (facts["stale_reason"])
    )
    assert "MICROCODE" not in facts["stale_reason"]


def test_unknown_microcode_is_not_stale(tmp_path: Path) -> None:
    root = make_root(tmp_path, cpu=cpuinfo(microcode=None), loaded=True, sysfs=BOCHS)
    assert gather(str(root))["stale"] is False


# --- module and kdump ----------------------------------------------------------------------------


def test_module_file_search_and_modinfo(tmp_path: Path) -> None:
    root = make_root(tmp_path, installed=False)
    mods = root / "lib/modules" / REL
    write(mods / "extra/vmcsinfo.ko.zst", "x")
    write(mods / "kernel/misc/vmcsinfo.ko", "x")
    calls = []

    def modinfo(field: str, path: str) -> str | None:
        calls.append((field, path))
        return {"version": "0.2.0", "signer": "fleet key"}[field]

    mod = gather(str(root), modinfo=modinfo)["module"]
    assert mod["path"] == str(mods / "extra/vmcsinfo.ko.zst")
    assert mod["version"] == "0.2.0" and mod["signed_by"] == "fleet key"
    assert calls == [("version", mod["path"]), ("signer", mod["path"])]
    write(mods / "updates/dkms/vmcsinfo.ko.xz", "x")
    assert gather(str(root))["module"]["path"] == str(mods / "updates/dkms/vmcsinfo.ko.xz")
    (mods / "updates/dkms/vmcsinfo.ko.xz").unlink()
    (mods / "extra/vmcsinfo.ko.zst").unlink()
    assert gather(str(root))["module"]["path"] == str(mods / "kernel/misc/vmcsinfo.ko")


def test_module_version_falls_back_to_loaded(tmp_path: Path) -> None:
    root = make_root(tmp_path, loaded=True)
    mod = gather(str(root), modinfo=lambda field, path: None)["module"]
    assert mod["version"] == "0.1.0" and mod["signed_by"] is None and mod["installed"] is True


def test_merged_usr_modules_and_no_release(tmp_path: Path) -> None:
    root = make_root(tmp_path, release=None)
    assert gather(str(root))["kernel"] is None
    write(root / "proc/sys/kernel/osrelease", "6.12.0\n")
    write(root / "usr/lib/modules/6.12.0/updates/dkms/vmcsinfo.ko", "x")
    mod = gather(str(root))["module"]
    assert mod["installed"] is True and mod["path"].endswith(
        "usr/lib/modules/6.12.0/updates/dkms/vmcsinfo.ko"
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, {"installed": False, "ready": False, "crashkernel_reserved": False}),
        (
            {"usr/sbin/kdump-config": "", "sys/kernel/kexec_crash_size": "268435456\n"},
            {"installed": True, "ready": False, "crashkernel_reserved": True},
        ),
        (
            {
                "usr/bin/kdumpctl": "",
                "sys/kernel/kexec_crash_size": "268435456\n",
                "sys/kernel/kexec_crash_loaded": "1\n",
            },
            {"installed": True, "ready": True, "crashkernel_reserved": True},
        ),
        (
            {
                "usr/sbin/kdumpctl": "",
                "sys/kernel/kexec_crash_size": "0\n",
                "sys/kernel/kexec_crash_loaded": "0\n",
            },
            {"installed": True, "ready": False, "crashkernel_reserved": False},
        ),
    ],
)
def test_kdump(tmp_path: Path, files: dict, expected: dict) -> None:
    root = make_root(tmp_path)
    for name, text in files.items():
        write(root / name, text)
    assert gather(str(root))["kdump"] == expected


# --- the module as Ansible runs it ---------------------------------------------------------------


def run_main(args: dict, capsys: pytest.CaptureFixture) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        vmcsinfo_facts.main()
    return json.loads(capsys.readouterr().out)


def test_main_check_mode(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = make_root(tmp_path, loaded=True, sysfs=BOCHS)
    before = sorted(str(p) for p in root.rglob("*"))
    result = run_main({"root": str(root), "_ansible_check_mode": True}, capsys)
    assert result["changed"] is False
    facts = result["ansible_facts"]["vmcsinfo"]
    assert facts["available"] is True and facts["source"] == "probe"
    assert facts["fields"]["GUEST_RIP"]["width"] == 64
    assert sorted(str(p) for p in root.rglob("*")) == before


def test_main_bad_root(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = run_main({"root": str(tmp_path / "nope")}, capsys)
    assert result["failed"] is True
    assert "is not a directory" in result["msg"] and "root file system is mounted" in result["msg"]


def test_ansible_adhoc_end_to_end(tmp_path: Path) -> None:
    root = make_root(tmp_path, snapshot=BOCHS, origin="ORIGIN=supplied\n")
    proc = ansiblecli.run(
        tmp_path,
        "ansible",
        "localhost",
        "-m",
        "fujitsu.vmcsinfo.vmcsinfo_facts",
        "-a",
        f"root={root}",
    )
    result = ansiblecli.adhoc_result(proc)
    facts = result["ansible_facts"]["vmcsinfo"]
    assert result["changed"] is False
    assert facts["source"] == "snapshot" and facts["snapshot"]["origin"] == "supplied"
    assert facts["digest"] == parse(BOCHS).digest()
    assert facts["field_count"] == 0x93 and facts["module"]["installed"] is True


# --- hostile host files (issue 11 fault 12) -------------------------------------------------------

SECRET = "root:$6$secret-hash-of-the-root-password:19000:0:99999:7:::\n"


def test_snapshot_symlinked_to_a_secret_does_not_leak_it(tmp_path: Path) -> None:
    """A snapshot that is a symbolic link to a root-only file: not read through
    the link, so none of the file's bytes reach `reason` (and from there fact
    caches and fleet summaries)."""
    root = make_root(tmp_path)
    secret = write(tmp_path / "shadow", SECRET)
    (root / "var/lib/vmcsinfo/vmcsinfo").symlink_to(secret)
    facts = gather(str(root))
    assert_unavailable(facts)
    assert "secret" not in facts["reason"] and "root:" not in facts["reason"]
    assert "vmcsinfo/vmcsinfo is a symbolic link" in facts["reason"]


@pytest.mark.parametrize(
    "where",
    [
        "var/lib/vmcsinfo/vmcsinfo",
        "var/lib/vmcsinfo/vmcsinfo.origin",
        "var/lib/vmcsinfo/load-result",
        "proc/cpuinfo",
        "sys/kernel/kexec_crash_size",
    ],
)
def test_a_fifo_never_hangs_the_module(tmp_path: Path, where: str) -> None:
    root = make_root(
        tmp_path, snapshot=BOCHS, origin="ORIGIN=probe\n", load_result="RESULT=loaded\n"
    )
    p = root / where
    p.unlink(missing_ok=True)
    os.mkfifo(p)
    t0 = time.monotonic()
    facts = gather(str(root))
    assert time.monotonic() - t0 < 5
    assert facts["available"] in (True, False)


def test_an_endless_file_is_bounded(tmp_path: Path) -> None:
    """/dev/zero (or any huge file) as the snapshot: refused as not a regular
    file or too large, in bounded time and memory."""
    root = make_root(tmp_path)
    (root / "var/lib/vmcsinfo/vmcsinfo").symlink_to("/dev/zero")
    big = write(tmp_path / "big", "VMCSINFO_FORMAT=1\n" + "X" * (4 << 20))
    t0 = time.monotonic()
    facts = gather(str(root))
    assert time.monotonic() - t0 < 5
    assert_unavailable(facts)
    (root / "var/lib/vmcsinfo/vmcsinfo").unlink()
    os.link(big, root / "var/lib/vmcsinfo/vmcsinfo")
    facts = gather(str(root))
    assert_unavailable(facts)
    assert "is larger than" in facts["reason"]
