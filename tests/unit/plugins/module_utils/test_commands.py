# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import sys
import time

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import CommandFailed, DependencyMissing


def test_secrets_reach_the_program_through_the_environment_and_are_not_recorded():
    runner = CommandRunner({"PGPASSWORD": "s3cret"})
    completed = runner.run([sys.executable, "-c", "import os; print(os.environ['PGPASSWORD'])"])
    assert completed.stdout.strip() == b"s3cret"
    assert runner.executed_commands == [f"PGPASSWORD=*** {sys.executable} -c 'import os; print(os.environ['\"'\"'PGPASSWORD'\"'\"'])'"]
    assert "s3cret" not in " ".join(runner.executed_commands)


def test_failure_carries_the_exit_status_and_the_tail_of_stderr():
    runner = CommandRunner()
    script = "import sys; [print(f'line {n}', file=sys.stderr) for n in range(40)]; sys.exit(3)"
    with pytest.raises(CommandFailed) as failure:
        runner.run([sys.executable, "-c", script], what="pg_dump of orders")
    message = str(failure.value)
    assert message.startswith("pg_dump of orders failed with exit status 3 after ")
    assert "line 39" in message and "line 24" not in message
    assert failure.value.details["rc"] == 3


def test_missing_program_is_a_dependency_error():
    with pytest.raises(DependencyMissing, match="the program no-such-program-here is not installed"):
        CommandRunner().run(["no-such-program-here"])


def test_a_program_run_with_its_own_environment_gets_neither_the_runners_secrets_nor_ours(monkeypatch):
    monkeypatch.setenv("PGHOST", "inherited")
    runner = CommandRunner({"PGPASSWORD": "s3cret"})
    completed = runner.run(["env"], own_environment={"PATH": "/usr/bin:/bin", "KEPT": "1"})
    assert b"s3cret" not in completed.stdout and b"PGHOST" not in completed.stdout
    assert b"KEPT=1" in completed.stdout
    assert "PGPASSWORD" not in runner.executed_commands[-1]


def test_waiting_for_a_program_to_end_returns_when_it_ends_and_still_reports_its_failure():
    # The child works rather than sleeps: the shifted-clock run preloads a fake clock into children too,
    # and a sleep there can fail (EINVAL) instead of waiting.
    running = CommandRunner().start([sys.executable, "-c", "import sys; sum(range(20_000_000)); sys.exit(4)"],
                                    what="pg_dump of orders")
    assert not running.ended_within(0.01), "still running"
    started = time.monotonic()
    assert running.ended_within(30)
    assert time.monotonic() - started < 10, "returned when the program ended, not after the whole wait"
    with pytest.raises(CommandFailed, match="exit status 4"):
        running.wait()
