# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration harness: run modules, roles and playbooks through
ansible-playbook (ansible-runner, the engine AWX uses) against the lab.

Tests get the lab's connection facts from the `lab` fixture and run Ansible
with the `ansible` fixture:

    result = ansible.module("resilience.dr.backup_info", {"repository": path}, check=True)
    run = ansible.playbook("playbooks/level1_component.yml", extravars={...})
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = Path(os.environ.get("LAB_DIR", REPOSITORY_ROOT / ".lab"))
# The playbook runs with the Python (and the ansible-playbook) of this test run.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("ANSIBLE_CONFIG", str(REPOSITORY_ROOT / "ansible.cfg"))
os.environ.setdefault("LAB_DIR", str(LAB_DIR))


class PlaybookRun:
    """The outcome of one ansible-playbook run: status, output and each task's result."""

    def __init__(self, rc: int, stdout: str, events: list[dict[str, t.Any]]) -> None:
        self.rc = rc
        self.stdout = stdout
        self.events = events

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def results(self, task: str | None = None) -> list[dict[str, t.Any]]:
        """Results of the (named) tasks in order, failures included, skips excluded."""
        found = []
        for event in self.events:
            if event.get("event") not in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
                continue
            data = event["event_data"]
            if task is None or data.get("task") == task:
                result = dict(data.get("res", {}))
                result.setdefault("failed", event["event"] != "runner_on_ok")
                result["_task"] = data.get("task")
                found.append(result)
        return found

    def result(self, task: str) -> dict[str, t.Any]:
        matches = self.results(task)
        assert matches, f"task {task!r} did not run; output:\n{self.tail()}"
        return matches[-1]

    @property
    def stats(self) -> dict[str, t.Any]:
        for event in reversed(self.events):
            if event.get("event") == "playbook_on_stats":
                return event["event_data"]
        return {}

    def changed_count(self) -> int:
        return sum(self.stats.get("changed", {}).values())

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.stdout.splitlines()[-lines:])


class Ansible:
    """Runs Ansible from the repository root with its ansible.cfg."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._count = 0

    def playbook(
        self,
        playbook: str | Path,
        extravars: dict[str, t.Any] | None = None,
        *,
        check: bool = False,
        diff: bool = False,
        tags: str | None = None,
        env: dict[str, str] | None = None,
        verbosity: int = 0,
    ) -> PlaybookRun:
        import ansible_runner  # imported here so unit collection does not need it

        self._count += 1
        private = self.workdir / f"run{self._count}"
        private.mkdir(parents=True)
        cmdline = []
        if check:
            cmdline.append("--check")
        if diff:
            cmdline.append("--diff")
        envvars = {
            "ANSIBLE_CONFIG": str(REPOSITORY_ROOT / "ansible.cfg"),
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "LAB_DIR": str(LAB_DIR),
            "PATH": os.environ["PATH"],
        }
        envvars.update(env or {})
        path = Path(playbook)
        if not path.is_absolute():
            path = REPOSITORY_ROOT / path
        runner = ansible_runner.run(
            private_data_dir=str(private),
            project_dir=str(REPOSITORY_ROOT),
            playbook=str(path),
            extravars=extravars or {},
            cmdline=shlex.join(cmdline) if cmdline else None,
            tags=tags,
            envvars=envvars,
            verbosity=verbosity,
            quiet=True,
            suppress_env_files=True,
        )
        stdout = runner.stdout.read() if runner.stdout else ""
        return PlaybookRun(runner.rc, stdout, list(runner.events))

    def tasks(
        self,
        tasks: list[dict[str, t.Any]],
        extravars: dict[str, t.Any] | None = None,
        *,
        check: bool = False,
        diff: bool = False,
        gather_facts: bool = False,
    ) -> PlaybookRun:
        """Run a list of tasks as a one-play playbook on localhost."""
        play = [{"name": "Test tasks", "hosts": "localhost", "gather_facts": gather_facts, "tasks": tasks}]
        self._count += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / f"play{self._count}.yml"
        path.write_text(yaml.safe_dump(play, sort_keys=False))
        return self.playbook(path, extravars, check=check, diff=diff)

    def module(
        self,
        name: str,
        args: dict[str, t.Any],
        *,
        check: bool = False,
        diff: bool = False,
        extravars: dict[str, t.Any] | None = None,
    ) -> dict[str, t.Any]:
        """Run one module once and return its result (a failure is a result with failed=True)."""
        task = {"name": f"Run {name}", name: args, "register": "module_result", "ignore_errors": True}
        run = self.tasks([task], extravars, check=check, diff=diff)
        results = run.results(f"Run {name}")
        assert results, f"{name} produced no result; output:\n{run.tail()}"
        return results[-1]


@pytest.fixture(scope="session")
def lab() -> dict[str, t.Any]:
    facts = LAB_DIR / "lab.json"
    if not facts.is_file():
        pytest.fail(f"the lab is not running ({facts} is missing); start it with `make lab-up`")
    return json.loads(facts.read_text())


@pytest.fixture
def ansible(tmp_path: Path) -> Ansible:
    return Ansible(tmp_path / "ansible")


def lab_ctl(path: str, action: str) -> str:
    """Start, stop or query one lab server through its control script."""
    completed = subprocess.run([path, action], capture_output=True, text=True, check=False)
    if action != "status" and completed.returncode != 0:
        raise AssertionError(f"{path} {action} failed: {completed.stderr or completed.stdout}")
    return completed.stdout
