"""deploy.yml's reboot policy, read from the playbook itself: no reboot in the
deploy batches; a reboot play of its own, a few hosts at a time, stopping at
the first failure, that lists the running guests and asks the tested decision
table before it reboots (issue 11 fault 2: -e vmcsinfo_reboot_ok=true with
serial 100% rebooted every host at once, guests or not)."""

from __future__ import annotations

from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "playbooks/deploy.yml"


def _tasks(play: dict) -> list[dict]:
    return [t for key in ("pre_tasks", "tasks", "post_tasks") for t in play.get(key) or []]


def _is_reboot(task: dict) -> bool:
    return "ansible.builtin.reboot" in task or "reboot" in task


def test_no_reboot_in_the_deploy_batches() -> None:
    plays = yaml.safe_load(DEPLOY.read_text())
    deploy = [p for p in plays if any("include_role" in str(t) for t in _tasks(p))]
    assert deploy, "no play runs the roles"
    for play in deploy:
        assert not [t for t in _tasks(play) if _is_reboot(t)], play["name"]


def test_reboots_in_small_batches_after_the_guests_are_asked() -> None:
    plays = yaml.safe_load(DEPLOY.read_text())
    rebooting = [p for p in plays if any(_is_reboot(t) for t in _tasks(p))]
    assert len(rebooting) == 1
    play = rebooting[0]
    assert play["serial"] == "{{ vmcsinfo_reboot_serial | default(1) }}"
    assert play["max_fail_percentage"] == 0
    assert "vmcsinfo_deploy_reboot_queue" in play["hosts"]
    names = [next(iter(k for k in t if "." in k)) for t in _tasks(play)]
    reboot = names.index("ansible.builtin.reboot")
    assert (
        names.index("ansible.builtin.include_tasks")
        < names.index("fujitsu.vmcsinfo.vmcsinfo_guests_info")
        < reboot
    )
    decide = [t for t in _tasks(play) if "reboot_decision" in str(t)]
    assert decide and _tasks(play).index(decide[0]) < reboot
    assert _tasks(play)[reboot]["when"] == "vmcsinfo_deploy_reboot_decision.action == 'reboot'"
