# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run's measurements so far, handed to the recovery_targets task, and whether missed targets fail the run.

The dr_report callback publishes what the run measured up to the task's start in a private file
named in an environment variable, which the task's worker process inherits from the controller.
"""

from __future__ import annotations

import json
import os
import tempfile
import typing as t

# The environment variable naming the file where the dr_report callback leaves the measurements so far for the
# recovery_targets task (a task's worker process inherits the controller's environment).
TARGETS_FILE_VARIABLE = "DR_REPORT_TARGETS_FILE"
# The task that checks the targets (plugins/action/recovery_targets.py), as a playbook may name it.
TARGETS_ACTIONS = frozenset({"resilience.dr.recovery_targets", "recovery_targets"})


def publish_targets(measured: dict[str, t.Any], previous: str | None = None) -> str:
    """Write the measurements so far to a new private file and name it in TARGETS_FILE_VARIABLE; return its path."""
    withdraw_targets(previous)
    descriptor, path = tempfile.mkstemp(prefix="dr_report-targets-", suffix=".json")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(measured, handle)
    os.environ[TARGETS_FILE_VARIABLE] = path
    return path


def withdraw_targets(path: str | None) -> None:
    """Remove a file publish_targets wrote, and its name from the environment."""
    os.environ.pop(TARGETS_FILE_VARIABLE, None)
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def should_fail(report: dict[str, t.Any]) -> bool:
    """Whether fail_on_target_miss turns this report into a failed run."""
    return bool(report["targets"]["fail_on_target_miss"] and report["targets"]["verdict"] == "missed")
