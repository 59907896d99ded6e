# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a step of restores started together waits for them (playbooks/tasks/restore_step.yml): wait_for reads each
background job's status file until it holds the job's result, then async_status collects it. Run against real
background jobs, which async_wrapper writes as it does for a restore: the wait must end once the job has finished
and not before, so that collecting it takes one look."""

from __future__ import annotations

import re

import yaml

from .conftest import REPOSITORY_ROOT


def job_finished_pattern() -> str:
    """The search_regex of the step's wait, as the playbook has it."""
    tasks = yaml.safe_load((REPOSITORY_ROOT / "playbooks" / "tasks" / "restore_step.yml").read_text())
    [wait] = [task["ansible.builtin.wait_for"] for task in tasks if "ansible.builtin.wait_for" in task]
    return wait["search_regex"]


def test_a_running_job_file_does_not_match_a_finished_one_does():
    pattern = re.compile(job_finished_pattern().encode(), re.MULTILINE)
    running = [b'{"started": true, "finished": false, "ansible_job_id": "j1.1"}',
               b'{"started": 1, "finished": 0, "ansible_job_id": "j1.1"}']  # ansible-core before 2.19
    finished = [b'{"changed": true, "restored_from": "b1", "started": true}',  # a result may hold the word
                b'{"failed": 1, "msg": "Timeout exceeded"}', b'{"msg": "Job reached maximum time limit"}']
    assert [pattern.search(content) is None for content in running] == [True, True]
    assert [pattern.search(content) is not None for content in finished] == [True, True, True]
    assert pattern.search(b"") is None  # never a half-written file (async_wrapper renames a whole one in place)


def test_the_wait_ends_when_the_background_job_has_finished_not_before(ansible):
    run = ansible.tasks([
        {"name": "Start a job in the background", "ansible.builtin.command": {"argv": ["sleep", "4"]},
         "async": 60, "poll": 0, "register": "job"},
        {"name": "Wait for it", "ansible.builtin.wait_for": {
            "path": "{{ job.results_file }}", "search_regex": job_finished_pattern(), "timeout": 30}},
        {"name": "Collect it", "ansible.builtin.async_status": {"jid": "{{ job.ansible_job_id }}"},
         "register": "collected", "until": "collected is finished", "retries": 30, "delay": 1},
    ])
    assert run.ok, run.tail()
    assert run.result("Wait for it")["elapsed"] >= 3
    collected = run.result("Collect it")
    assert collected["attempts"] == 1 and collected["rc"] == 0 and collected["cmd"] == ["sleep", "4"]
