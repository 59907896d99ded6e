# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A hook's retries (docs/dr-plan.md, "Consistency hooks"): the one hook runner runs a failed command again, up to
retries times, and the hook passes when an attempt passes; without retries the first failure stands. The runner is
driven directly with a resolved plan, on localhost (no lab server is needed)."""

from __future__ import annotations

import sys
import typing as t
from pathlib import Path

from ansible_collections.resilience.dr.plugins.module_utils._plan.hooks import RECOVERY_PHASES, recovery_hooks

# Counts its runs in the file argv[1]; fails (exit status 3) until the run numbered argv[2].
FLAKY = ("import sys; from pathlib import Path; path = Path(sys.argv[1]); "
         "runs = int(path.read_text()) + 1 if path.exists() else 1; path.write_text(str(runs)); "
         "print(f'run {runs}'); sys.exit(0 if runs >= int(sys.argv[2]) else 3)")


def run_hook(ansible, counter: Path, passes_on: int, **options: t.Any):
    problems: list[str] = []
    hooks = recovery_hooks({"after_failback": [{"name": "point monitoring back", "delay": 0, **options,
                                                "command": [sys.executable, "-c", FLAKY, str(counter), str(passes_on)]}]},
                           "dr_plan.hooks", None, problems)
    assert problems == []
    plan_resolved = {"site": "primary", "hooks": hooks, "site_hooks": {phase: [] for phase in RECOVERY_PHASES}}
    return ansible.tasks([{
        "name": "Run the after_failback hooks",
        "ansible.builtin.include_role": {"name": "resilience.dr.plan", "tasks_from": "recovery_hooks"},
        "vars": {"plan_hook_phase": "after_failback"},
    }], {"plan_resolved": plan_resolved})


def test_a_failed_hook_runs_again_up_to_its_retries_and_passes_when_an_attempt_passes(ansible, tmp_path):
    run = run_hook(ansible, tmp_path / "runs", passes_on=3, retries=2)

    assert run.ok, run.tail()
    assert (tmp_path / "runs").read_text() == "3"
    [shown] = run.result("Show each recovery hook run - after_failback")["results"]
    assert shown["msg"].startswith("the plan after_failback 'point monitoring back' on localhost: ok in ")
    assert shown["msg"].endswith("exit status 0; output: run 3")


def test_without_retries_the_first_failure_fails_the_hook(ansible, tmp_path):
    run = run_hook(ansible, tmp_path / "runs", passes_on=2)

    assert not run.ok
    assert (tmp_path / "runs").read_text() == "1"
    assert "The after_failback hook 'point monitoring back' of the plan on localhost failed with exit status 3" in run.stdout


def test_retries_that_run_out_fail_the_hook_after_the_last_attempt(ansible, tmp_path):
    run = run_hook(ansible, tmp_path / "runs", passes_on=5, retries=1)

    assert not run.ok
    assert (tmp_path / "runs").read_text() == "2"
