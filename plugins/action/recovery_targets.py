# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The last task of a recovery playbook: fail it when the run missed its RTO or RPO target.

The dr_report callback measures the run; when this task starts, the callback
writes what it has measured so far to a private file and names it in the
environment (TARGETS_FILE_VARIABLE) that this task's worker inherits. A task
can fail a run the way Ansible users expect (a failed task, exit status 2,
the output plugins and every later callback still see the end); a callback
cannot.
"""

from __future__ import annotations

import json
import os
import typing as t

from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.resilience.dr.plugins.plugin_utils._report.targets import TARGETS_FILE_VARIABLE

ARGUMENT_SPEC: dict[str, t.Any] = {
    "fail_on_miss": {"type": "bool"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        _validation, arguments = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        result["changed"] = False
        path = os.environ.get(TARGETS_FILE_VARIABLE)
        if not path:
            if arguments["fail_on_miss"]:
                result.update(failed=True, msg=(
                    "fail_on_miss is set but nothing measured the run: enable the resilience.dr.dr_report callback "
                    "(callbacks_enabled = resilience.dr.dr_report, or ANSIBLE_CALLBACKS_ENABLED)"))
                return result
            result.update(skipped=True, msg="the resilience.dr.dr_report callback is not enabled; nothing was measured")
            return result
        try:
            with open(path, encoding="utf-8") as handle:
                measured = json.load(handle)
        except (OSError, ValueError) as error:
            result.update(failed=True, msg=f"cannot read the run's measurements from {path}: {to_text(error)}")
            return result

        fail_on_miss = measured["fail_on_target_miss"] if arguments["fail_on_miss"] is None else arguments["fail_on_miss"]
        misses = measured["misses"]
        result.update(
            verdict=measured["verdict"], misses=misses, rto_seconds=measured["rto_seconds"],
            rpo_seconds=measured["rpo_seconds"], run_id=measured["run_id"], fail_on_miss=fail_on_miss,
        )
        if not misses:
            result["msg"] = f"recovery targets: {measured['verdict']}"
            return result
        summary = f"{len(misses)} recovery target(s) missed: " + "; ".join(misses)
        if not fail_on_miss or self._task.check_mode or not measured["run_ok"]:
            result["msg"] = summary
            return result
        result.update(failed=True, msg=f"{summary} (fail_on_target_miss is set)")
        return result
