# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter crash_report_text: a host's vmcsinfo_crash_info result as text."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.fujitsu.vmcsinfo.plugins.module_utils.crash import triage_text


def crash_report_text(result: dict, host: str = "host") -> str:
    if not isinstance(result, dict) or "dumps" not in result:
        raise AnsibleFilterError(
            "crash_report_text expects the registered result of "
            "fujitsu.vmcsinfo.vmcsinfo_crash_info"
        )
    return triage_text(str(host), result)


class FilterModule:
    def filters(self) -> dict:
        return {"crash_report_text": crash_report_text}
