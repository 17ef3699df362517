"""deploy.yml's decision tables (module_utils/decisions.py), one case per row,
and the filter plugin that wires them into the playbook."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.fujitsu.vmcsinfo.plugins.filter import deploy as deploy_filter
from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.decisions import (
    deploy_pending,
    grub_stale,
    load_decision,
    load_outcome,
    mok_key_state,
    reboot_decision,
    secureboot_decision,
    still_pending,
)

GUEST = {"pid": 4242, "name": "web01", "comm": "qemu-system-x86", "vcpus": 4}


@pytest.mark.parametrize(
    "fast, before, kdump, load, result, want",
    [
        (True, ["kdump", "load"], False, False, "", ["kdump", "load"]),  # the record's
        (True, ["load", "junk"], True, True, "deferred", ["load"]),  # roles did not run
        (True, [], True, False, "", []),
        (False, ["kdump"], False, False, "loaded", []),  # a full run: the roles say
        (False, [], True, False, "loaded", ["kdump"]),
        (False, [], False, True, "refused", ["load"]),
        (False, [], False, False, "deferred", ["load"]),
        (False, [], False, False, "pending", ["load"]),
        (False, [], True, False, "pending", ["kdump", "load"]),
        (False, [], False, False, "skipped", []),
    ],
)
def test_deploy_pending_rows(fast, before, kdump, load, result, want) -> None:
    assert deploy_pending(fast, before, kdump, load, result) == want


@pytest.mark.parametrize(
    "pending, rebooted, kdump_ready, loaded, want",
    [
        (["kdump", "load"], False, True, True, ["kdump", "load"]),  # no reboot settles nothing
        (["kdump", "load"], True, True, True, []),
        (["kdump", "load"], True, False, True, ["kdump"]),
        (["kdump", "load"], True, True, False, ["load"]),
        (["kdump"], True, False, False, ["kdump"]),
        ([], True, False, False, []),
    ],
)
def test_still_pending_rows(pending, rebooted, kdump_ready, loaded, want) -> None:
    assert still_pending(pending, rebooted, kdump_ready, loaded) == want


@pytest.mark.parametrize(
    "pending, ok, guests, with_guests, action, says",
    [
        ([], True, [], False, "none", "nothing waits"),
        (["kdump"], False, [], False, "report", "vmcsinfo_reboot_ok is false"),
        (["kdump"], False, [GUEST], True, "report", "vmcsinfo_reboot_ok is false"),
        (["kdump", "load"], True, [], False, "reboot", "rebooting for kdump and load"),
        (["kdump"], True, [GUEST], False, "refuse", "web01 (pid 4242)"),
        (["load"], True, [GUEST, GUEST], False, "refuse", "2 KVM guest(s) run"),
        (["kdump"], True, [GUEST], True, "reboot", "with 1 KVM guest(s) running: web01"),
        (["kdump"], True, None, False, "refuse", "could not be listed"),
        (["kdump"], True, None, True, "refuse", "could not be listed"),
    ],
)
def test_reboot_decision_rows(pending, ok, guests, with_guests, action, says) -> None:
    d = reboot_decision(pending, ok, guests, with_guests)
    assert d["action"] == action and says in d["reason"], d


def test_a_refusal_says_what_to_do() -> None:
    reason = reboot_decision(["kdump"], True, [GUEST])["reason"]
    assert "vmcsinfo_reboot_drain_tasks" in reason and "vmcsinfo_reboot_with_guests" in reason


def test_filters_take_playbook_values_and_refuse_bad_ones() -> None:
    f = deploy_filter.FilterModule().filters()
    assert f["deploy_pending"](None, fast="False", kdump_reboot_required="true") == ["kdump"]
    assert f["still_pending"](["kdump"], rebooted=True, kdump_ready=True) == []
    assert f["reboot_decision"](["load"], reboot_ok="yes", guests=[])["action"] == "reboot"
    with pytest.raises(AnsibleFilterError, match="pending must be a list"):
        f["still_pending"]("kdump")
    with pytest.raises(AnsibleFilterError, match="reboot_ok must be a boolean"):
        f["reboot_decision"](["kdump"], reboot_ok="maybe")
    with pytest.raises(AnsibleFilterError, match="guests must be a list or null"):
        f["reboot_decision"](["kdump"], reboot_ok=True, guests="web01")


@pytest.mark.parametrize(
    "cfg, inputs, stale",
    [
        (None, [100.0], True),  # no grub.cfg
        (200.0, [100.0, 150.0, 199.0], False),  # regenerated after every input
        (
            200.0,
            [100.0, 150.0, 250.0],
            True,
        ),  # the drop-in was written after it (a lost update-grub)
        (200.0, [100.0, 250.0, None], True),  # the drop-in removed after it (grub.d's time)
        (200.0, [None, None, None], False),
        (200.0, [200.0], False),
    ],
)
def test_grub_stale_rows(cfg, inputs, stale) -> None:
    assert grub_stale(cfg, inputs) is stale


def test_grub_stale_filter_reads_stat_results() -> None:
    f = deploy_filter.FilterModule().filters()["grub_stale"]
    cfg = {"exists": True, "mtime": 200.5}
    assert f([cfg, {"exists": True, "mtime": 201}, {"exists": False}]) is True
    assert f([cfg, {"exists": True, "mtime": 100}]) is False
    with pytest.raises(AnsibleFilterError, match=r"stat of grub\.cfg first"):
        f([])


BASE = {
    "loaded": False,
    "installed": "0.1.0",
    "loaded_version": "",
    "kvm": False,
    "intel_vmx": True,
    "load_now": True,
    "mok": "not needed",
    "kernel": "6.1.0-57-amd64",
    "no_probe_reason": "",
}


@pytest.mark.parametrize(
    "change, decision, result, says",
    [
        ({"loaded": True, "loaded_version": "0.1.0"}, "none", "loaded", "0.1.0 is loaded"),
        ({"loaded": True, "loaded_version": "0.1.0", "installed": ""}, "none", "loaded", "loaded"),
        (
            {"loaded": True, "loaded_version": "0.0.9", "kvm": True},
            "reboot",
            "deferred",
            "0.1.0 is installed, but kvm_intel is loaded",
        ),
        (
            {"loaded": True, "loaded_version": "0.0.9"},
            "load",
            "pending",
            "reloading vmcsinfo 0.0.9",
        ),
        ({"load_now": False}, "skip", "skipped", "vmcsinfo_load_now is false"),
        (
            {"intel_vmx": False, "no_probe_reason": "CPU vendor AuthenticAMD"},
            "skip",
            "skipped",
            "no Intel VMX: CPU vendor AuthenticAMD",
        ),
        ({"installed": ""}, "skip", "skipped", "not built for the running kernel 6.1.0-57-amd64"),
        ({"mok": "pending"}, "skip", "skipped", "enrollment is pending"),
        ({"mok": "missing"}, "skip", "skipped", "enrollment is missing"),
        # kvm_intel loaded: try (issue 11 fault 10; before: always "reboot")
        ({"kvm": True}, "load", "pending", "kvm_intel is loaded"),
        ({}, "load", "pending", "loading"),
    ],
)
def test_load_decision_rows(change, decision, result, says) -> None:
    d = load_decision(**{**BASE, **change})
    assert (d["decision"], d["result"]) == (decision, result) and says in d["reason"], d
    assert d["reload"] is (decision == "load" and change.get("loaded", False))


BUSY = "modprobe: ERROR: could not insert 'vmcsinfo': Device or resource busy"


@pytest.mark.parametrize(
    "rc, stderr, line, kvm, result, decision, says",
    [
        (0, "", "", True, "loaded", "load", "vmcsinfo 0.1.0 is loaded"),
        (
            1,
            BUSY,
            "vmcsinfo: VMX is in use (CR4.VMXE set)",
            True,
            "deferred",
            "reboot",
            "kvm_intel holds VMX (the load answered EBUSY)",
        ),
        # EBUSY without kvm_intel: something else holds VMX, a reboot would not help
        (1, BUSY, "", False, "refused", "load", "Device or resource busy"),
        (
            1,
            "modprobe: ERROR: could not insert 'vmcsinfo': Key was rejected by service",
            "",
            True,
            "refused",
            "load",
            "Key was rejected",
        ),
        (
            1,
            "",
            "vmcsinfo: IA32_FEATURE_CONTROL locked without VMX",
            False,
            "refused",
            "load",
            "IA32_FEATURE_CONTROL",
        ),
        (1, "", "", False, "refused", "load", "modprobe exit 1"),
    ],
)
def test_load_outcome_rows(rc, stderr, line, kvm, result, decision, says) -> None:
    o = load_outcome(rc, stderr, line, kvm, "0.1.0")
    assert (o["result"], o["decision"]) == (result, decision) and says in o["reason"], o


def test_load_filters_take_the_facts() -> None:
    f = deploy_filter.FilterModule().filters()
    facts = {"cpu": {"vendor": "GenuineIntel", "vmx": True}, "module": {"loaded": False}}
    assert f["load_decision"](facts, installed="0.1.0", kvm=True)["decision"] == "load"
    facts["cpu"]["vendor"] = "AuthenticAMD"
    assert f["load_decision"](facts, installed="0.1.0")["decision"] == "skip"
    assert f["load_outcome"]("1", stderr=BUSY, kvm="true")["decision"] == "reboot"
    with pytest.raises(AnsibleFilterError, match=r"ansible_facts\.vmcsinfo"):
        f["load_decision"]("nope")
    with pytest.raises(AnsibleFilterError, match="exit status"):
        f["load_outcome"]("x")


@pytest.mark.parametrize(
    "exists, out, state",
    [
        (False, "", "absent"),
        (True, "/var/lib/dkms/mok.pub is already enrolled", "enrolled"),
        (True, "/var/lib/dkms/mok.pub is already in the enrollment request", "pending"),
        (True, "/var/lib/dkms/mok.pub is not enrolled", "missing"),
        (True, "", "missing"),  # mokutil said nothing useful: not enrolled as far as we know
    ],
)
def test_mok_key_state_rows(exists, out, state) -> None:
    assert mok_key_state(exists, out) == state


CERT = "/var/lib/dkms/mok.pub"
TAR_CERT = "/var/lib/vmcsinfo/dkms-tarballs/vmcsinfo-0.1.0-kernel-6.1.0-56-amd64-x86_64.signing.der"
SB = {"mode": "build", "enroll": True, "password": False, "install_unenrolled": False}


@pytest.mark.parametrize(
    "sb_state, keys, change, action, mok, says",
    [
        ("unsupported (no EFI)", {}, {}, "proceed", "not needed", "unsupported (no EFI)"),
        ("disabled", {CERT: "missing"}, {}, "proceed", "not needed", "Secure Boot is disabled"),
        ("unknown: EFI variables are not supported", {}, {}, "proceed", "unknown", "unknown"),
        ("enabled", {CERT: "enrolled"}, {}, "proceed", "enrolled", "is enrolled"),
        ("enabled", {CERT: "pending"}, {}, "proceed", "pending", "waits for the console"),
        # issue 11 fault 6: refused before the build, nothing replaced
        (
            "enabled",
            {CERT: "missing"},
            {},
            "refuse",
            "missing",
            "vmcsinfo_build_mok_password is empty",
        ),
        (
            "enabled",
            {CERT: "missing"},
            {"enroll": False, "password": True},
            "refuse",
            "missing",
            "vmcsinfo_build_secure_boot_enroll is false",
        ),
        ("enabled", {CERT: "missing"}, {"password": True}, "enroll", "pending", "staged before"),
        (
            "enabled",
            {CERT: "missing"},
            {"install_unenrolled": True},
            "proceed",
            "missing",
            "vmcsinfo_build_secure_boot_install_unenrolled",
        ),
        ("enabled", {CERT: "absent"}, {}, "refuse", "missing", "DKMS has no signing key yet"),
        (
            "enabled",
            {CERT: "absent"},
            {"password": True},
            "enroll after build",
            "pending",
            "first build",
        ),
        (
            "enabled",
            {CERT: "absent"},
            {"install_unenrolled": True},
            "proceed",
            "missing",
            "not exist",
        ),
        # tarball hosts check the certificate that signed the tarballs (before: "not needed")
        ("enabled", {TAR_CERT: "enrolled"}, {"mode": "tarball"}, "proceed", "enrolled", "enrolled"),
        ("enabled", {TAR_CERT: "missing"}, {"mode": "tarball"}, "refuse", "missing", TAR_CERT),
        (
            "enabled",
            {TAR_CERT: "missing"},
            {"mode": "tarball", "password": True},
            "enroll",
            "pending",
            TAR_CERT,
        ),
        (
            "enabled",
            {TAR_CERT: "absent"},
            {"mode": "tarball"},
            "refuse",
            "missing",
            "not next to them",
        ),
        (
            "enabled",
            {TAR_CERT: "absent"},
            {"mode": "tarball", "password": True},
            "refuse",
            "missing",
            "Publish the tarballs again",
        ),
        ("enabled", {}, {"mode": "tarball"}, "refuse", "missing", "not next to them"),
        (
            "enabled",
            {CERT: "enrolled", TAR_CERT: "missing"},
            {"mode": "tarball"},
            "refuse",
            "missing",
            TAR_CERT,
        ),
        (
            "enabled",
            {CERT: "pending", TAR_CERT: "enrolled"},
            {"mode": "tarball"},
            "proceed",
            "pending",
            CERT,
        ),
    ],
)
def test_secureboot_decision_rows(sb_state, keys, change, action, mok, says) -> None:
    d = secureboot_decision(sb_state, keys, **{**SB, **change})
    assert (d["action"], d["mok"]) == (action, mok) and says in d["reason"], d
    staged = [c for c, s in keys.items() if s in ("missing", "absent")]
    assert d["enroll"] == (staged if action.startswith("enroll") else [])


def test_a_secureboot_refusal_says_what_to_do() -> None:
    reason = secureboot_decision("enabled", {CERT: "missing"}, **SB)["reason"]
    assert "Key was rejected by service" in reason and "Nothing was built" in reason
    for var in ("vmcsinfo_build_mok_password", "vmcsinfo_build_secure_boot_install_unenrolled"):
        assert var in reason


def test_secureboot_filter_reads_test_key_results() -> None:
    f = deploy_filter.FilterModule().filters()["secureboot_decision"]

    def tested(path, out, checksum="c1"):
        return {
            "item": {"item": path, "stat": {"exists": True, "checksum": checksum}},
            "stdout": out,
        }

    absent = {"item": {"item": CERT, "stat": {"exists": False}}, "skipped": True}
    assert f("enabled", tests=[tested(CERT, f"{CERT} is already enrolled")])["mok"] == "enrolled"
    assert f("enabled", tests=[absent], password="yes")["action"] == "enroll after build"
    # the same certificate next to two kernels' tarballs is staged once
    two = [tested(TAR_CERT, "not enrolled"), tested(TAR_CERT + ".2", "not enrolled")]
    d = f("enabled", tests=two, mode="tarball", password=True)
    assert (d["action"], d["enroll"]) == ("enroll", [TAR_CERT])
    assert f("disabled")["action"] == "proceed"
    with pytest.raises(AnsibleFilterError, match="--test-key results"):
        f("enabled", tests=["/var/lib/dkms/mok.pub"])
    with pytest.raises(AnsibleFilterError, match="install_unenrolled must be a boolean"):
        f("enabled", tests=[], install_unenrolled="maybe")
