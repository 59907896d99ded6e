# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Consistency hooks of the backup playbook (backup.hooks of the plan and of a
component) on the lab's shopfront plan: the order of hooks and backups, post
hooks that run whatever failed, a pre hook that fails, a hook killed at its
timeout with the processes it started, and check mode."""

from __future__ import annotations

import copy
import json
import sys
import time
import typing as t
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from .conftest import LAB_DIR

# Writes the wall clock (epoch seconds) and an optional word to a file; the hooks of these tests call it.
STAMP = "import sys, time; open(sys.argv[1], 'w').write(f'{time.time()} {\" \".join(sys.argv[2:])}')"


@pytest.fixture(scope="module")
def lab_plan(lab) -> dict[str, t.Any]:
    return yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())["dr_plan"]


def stamp(path: Path, *words: str) -> list[str]:
    """A hook command that writes the time (and words) to path."""
    return [sys.executable, "-c", STAMP, str(path), *words]


def component(plan: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    return next(item for item in plan["components"] if item["name"] == name)


def backup_ids(lab: dict[str, t.Any], name: str) -> set[str]:
    where = Path(lab["sites"]["primary"]["repository"]) / name
    return {path.parent.name for path in where.glob("*/manifest.json")} if where.is_dir() else set()


def manifest(lab: dict[str, t.Any], name: str, backup_id: str) -> dict[str, t.Any]:
    return json.loads((Path(lab["sites"]["primary"]["repository"]) / name / backup_id / "manifest.json").read_text())


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def backup(ansible, plan: dict[str, t.Any], components: list[str], *, check: bool = False):
    """The backup playbook on these components only, without the copies to the secondary site."""
    return ansible.playbook("playbooks/backup.yml", {"dr_plan": plan, "components": components,
                                                     "backup_copy_to_sites": False}, check=check)


def hook_runs(run) -> list[dict[str, t.Any]]:
    """The role's record of every hook run (the fact backup_hooks), as the run left it."""
    recorded = [result["ansible_facts"]["backup_hooks"] for result in run.results()
                if str(result["_task"]).startswith("Record the hook's") and "ansible_facts" in result]
    return recorded[-1] if recorded else []


def failure(run) -> str:
    """The message the run stopped with (the playbook's escalation, which quotes the role's failure)."""
    failed = [result for result in run.results() if result["failed"]]
    assert failed, run.tail()
    return " ".join(str(failed[-1].get("msg")).split())


def running(pid: int) -> bool:
    """Whether the process exists and has not exited (an exited child not yet reaped is a zombie: not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_plan_hooks_enclose_every_backup_and_their_runs_are_recorded(ansible, lab, lab_plan, tmp_path):
    """pre runs before the first backup and what it wrote is in the files backup; post runs after the last one."""
    uploads = Path(lab["sites"]["primary"]["app"]["uploads"])
    marker, resumed = uploads / "quiesced.txt", tmp_path / "resumed.txt"
    resume_tasks = tmp_path / "resume.yml"
    resume_tasks.write_text(yaml.safe_dump([
        {"name": "Remove the quiesce marker", "ansible.builtin.file": {"path": str(marker), "state": "absent"}},
        {"name": "Say that writes resume", "ansible.builtin.command": {"argv": stamp(resumed, "resumed")}},
    ]))
    plan = copy.deepcopy(lab_plan)
    plan["backup"] = {"hooks": {
        "pre": [{"name": "pause writes", "command": stamp(marker, "paused"), "timeout": 30}],
        "post": [{"name": "resume writes", "tasks": str(resume_tasks)}],
    }}
    before = {name: backup_ids(lab, name) for name in ("sessions", "uploads")}
    try:
        run = backup(ansible, plan, ["sessions", "uploads"])
        assert run.ok, run.tail()
        assert not marker.exists(), "the post hook removes what the pre hook wrote"
        resumed_at = float(resumed.read_text().split()[0])

        new = {name: backup_ids(lab, name) - before[name] for name in before}
        assert all(len(ids) == 1 for ids in new.values()), new
        manifests = {name: manifest(lab, name, ids.pop()) for name, ids in new.items()}
        # The files backup taken between the hooks holds the pre hook's marker.
        restored = tmp_path / "restored"
        result = ansible.module("resilience.dr.files_restore", {
            "repository": lab["sites"]["primary"]["repository"], "component": "uploads",
            "backup_id": manifests["uploads"]["backup_id"], "path": str(restored),
            "encryption_identity_file": plan["repository"]["encryption_identity_file"],
        })
        assert not result["failed"], result
        paused_at = float((restored / "quiesced.txt").read_text().split()[0])
        for name, found in manifests.items():
            assert paused_at <= epoch(found["started_at"]), f"{name} started before the pre hook ran"
            assert epoch(found["finished_at"]) <= resumed_at, f"{name} finished after the post hook ran"

        runs = hook_runs(run)
        assert [(item["scope"], item["stage"], item["name"], item["kind"], item["host"], item["rc"], item["failed"])
                for item in runs] == [("the plan", "pre", "pause writes", "command", "localhost", 0, False),
                                      ("the plan", "post", "resume writes", "tasks", "localhost", None, False)]
        assert all(item["duration_s"] >= 0 and not item["skipped"] for item in runs)
        shown = [result["msg"] for result in run.results("Show each consistency hook run")[0]["results"]]
        assert shown[0].startswith("the plan pre 'pause writes' on localhost: ok in ") and shown[0].endswith("exit status 0")
    finally:
        marker.unlink(missing_ok=True)


def test_a_failed_backup_still_runs_the_post_hooks_and_fails_naming_the_component(ansible, lab, lab_plan, tmp_path):
    plan = copy.deepcopy(lab_plan)
    database = component(plan, "orders-db")
    database["connection"]["login_port"] = 1  # nothing listens there
    database["backup"]["hooks"] = {"pre": [{"name": "checkpoint", "command": ["true"]}],
                                   "post": [{"name": "resume orders", "command": stamp(tmp_path / "orders-post")}]}
    plan["backup"] = {"hooks": {"post": [{"name": "page nobody", "command": ["false"]},
                                         {"name": "resume app", "command": stamp(tmp_path / "plan-post")}]}}
    before = backup_ids(lab, "orders-db")

    run = backup(ansible, plan, ["orders-db"])

    assert not run.ok
    assert (tmp_path / "orders-post").exists(), "the component's post hook runs after its backup failed"
    assert (tmp_path / "plan-post").exists(), "the plan's post hook runs after a backup failed"
    message = failure(run)
    assert "Back up the PostgreSQL database - orders-db:" in message
    assert ("Consistency hooks failed too: The post-backup hook 'page nobody' of the plan on localhost failed with "
            "exit status 1: non-zero return code (after the backups were taken;") in message
    assert "The post-backup hooks ran" in message
    assert [(item["scope"], item["stage"], item["failed"]) for item in hook_runs(run)] == [
        ("component orders-db", "pre", False), ("component orders-db", "post", False),
        ("the plan", "post", True), ("the plan", "post", False)]
    assert backup_ids(lab, "orders-db") == before


def test_a_failed_pre_hook_skips_that_backup_runs_post_and_fails_naming_the_hook(ansible, lab, lab_plan, tmp_path):
    plan = copy.deepcopy(lab_plan)
    component(plan, "sessions")["backup"]["hooks"] = {
        "pre": [{"name": "pause sessions", "command": [sys.executable, "-c", "import sys; sys.exit('sessions are busy')"]},
                {"name": "never reached", "command": stamp(tmp_path / "second-pre")}],
        "post": [{"name": "resume sessions", "command": stamp(tmp_path / "sessions-post")}],
    }
    before = {name: backup_ids(lab, name) for name in ("sessions", "uploads")}

    run = backup(ansible, plan, ["sessions", "uploads"])

    assert not run.ok
    assert ("The pre-backup hook 'pause sessions' of component sessions on localhost failed with exit status 1: "
            "sessions are busy (so sessions was not backed up)") in failure(run)
    assert backup_ids(lab, "sessions") == before["sessions"], "no backup of sessions after its pre hook failed"
    assert len(backup_ids(lab, "uploads") - before["uploads"]) == 1, "the other components are backed up"
    assert not (tmp_path / "second-pre").exists(), "the pre hooks stop at the first failure"
    assert (tmp_path / "sessions-post").exists(), "the post hook runs after a failed pre hook"


def test_a_hook_over_its_timeout_is_killed_with_its_children_and_named(ansible, lab, lab_plan, tmp_path):
    pids = tmp_path / "pids"
    plan = copy.deepcopy(lab_plan)
    plan["backup"] = {"hooks": {
        "pre": [{"name": "slow drain", "timeout": 2,
                 "command": ["sh", "-c", f'echo $$ > {pids}; sleep 300 & echo $! >> {pids}; wait']}],
        "post": [{"name": "resume", "command": stamp(tmp_path / "post")}],
    }}
    before = backup_ids(lab, "sessions")

    started = time.monotonic()
    run = backup(ansible, plan, ["sessions"])
    took = time.monotonic() - started

    assert not run.ok
    assert ("The pre-backup hook 'slow drain' of the plan on localhost ran over its timeout of 2 s and was killed "
            "with every process it started (so no component was backed up)") in failure(run)
    assert [(item["name"], item["timed_out"], item["rc"]) for item in hook_runs(run)] == [("slow drain", True, 124), ("resume", False, 0)]
    started_pids = [int(pid) for pid in pids.read_text().split()]
    assert len(started_pids) == 2
    assert not any(running(pid) for pid in started_pids), "the hook and the process it started are stopped"
    assert backup_ids(lab, "sessions") == before
    assert (tmp_path / "post").exists()
    assert took < 120, f"the run waited {took:.0f} s"


def test_check_mode_runs_only_check_safe_hooks_and_says_what_it_skipped(ansible, lab, lab_plan, tmp_path):
    plan = copy.deepcopy(lab_plan)
    plan["backup"] = {"hooks": {
        "pre": [{"name": "pause writes", "command": stamp(tmp_path / "paused")},
                {"name": "check the app answers", "command": stamp(tmp_path / "checked"), "check_safe": True}],
        "post": [{"name": "resume writes", "tasks": str(tmp_path / "resume.yml")}],
    }}
    component(plan, "uploads")["backup"]["hooks"] = {"pre": [{"name": "sync", "command": ["sync"]}]}
    before = backup_ids(lab, "uploads")

    run = backup(ansible, plan, ["uploads"], check=True)

    assert run.ok, run.tail()
    assert not (tmp_path / "paused").exists()
    assert (tmp_path / "checked").exists(), "a check_safe hook runs in check mode"
    said = [" ".join(result["msg"].split()) for result in run.results() if str(result["_task"]).startswith("Say which hook")]
    assert said == [
        f"Check mode: skipped the pre-backup hook 'pause writes' of the plan on localhost (not check_safe); "
        f"it would run {' '.join(stamp(tmp_path / 'paused'))}",
        "Check mode: skipped the pre-backup hook 'sync' of component uploads on localhost (not check_safe); it would run sync",
        f"Check mode: skipped the post-backup hook 'resume writes' of the plan on localhost (not check_safe); "
        f"it would run the tasks of {tmp_path / 'resume.yml'}",
    ]
    assert [(item["name"], item["skipped"]) for item in hook_runs(run)] == [
        ("pause writes", True), ("check the app answers", False), ("sync", True), ("resume writes", True)]
    assert backup_ids(lab, "uploads") == before


def test_a_hook_command_written_as_a_shell_string_stops_the_run_before_any_backup(ansible, lab, lab_plan, tmp_path):
    plan = copy.deepcopy(lab_plan)
    plan["backup"] = {"hooks": {"pre": [{"command": f"touch {tmp_path / 'ran'}"}]}}

    run = backup(ansible, plan, ["sessions"])

    assert not run.ok
    assert "dr_plan.backup.hooks.pre[1].command is the string" in failure(run)
    assert "write it as a list of arguments" in failure(run)
    assert not (tmp_path / "ran").exists()


def test_a_failed_post_hook_fails_the_run_naming_it_after_the_backups_are_verified(ansible, lab, lab_plan, tmp_path):
    failing_tasks = tmp_path / "resume.yml"
    failing_tasks.write_text(yaml.safe_dump([
        {"name": "Resume the application", "ansible.builtin.command": {"argv": ["false"]}},
    ]))
    plan = copy.deepcopy(lab_plan)
    plan["backup"] = {"hooks": {"post": [{"name": "resume app", "tasks": str(failing_tasks)},
                                         {"name": "tell the team", "command": stamp(tmp_path / "told")}]}}
    before = backup_ids(lab, "sessions")

    run = backup(ansible, plan, ["sessions"])

    assert not run.ok
    message = failure(run)
    assert ("The post-backup hook 'resume app' of the plan on localhost failed in task 'Resume the application': "
            "non-zero return code (after the backups were taken;") in message
    assert (tmp_path / "told").exists(), "every post hook runs, even after one failed"
    [new] = backup_ids(lab, "sessions") - before
    verified = run.result("Verify the new backup can be read and decrypted - sessions")["verified"]
    assert [(item["backup_id"], item["ok"]) for item in verified] == [(new, True)]


def test_the_plan_document_lists_the_consistency_and_recovery_hooks(ansible, lab_plan, tmp_path):
    plan = copy.deepcopy(lab_plan)
    plan["backup"] = {"hooks": {"pre": [{"name": "pause writes", "command": ["shopfront-ctl", "read-only", "on"], "timeout": "1m"}],
                                "post": [{"name": "resume writes", "tasks": "hooks/resume.yml", "host": "app1"}]}}
    component(plan, "uploads")["backup"]["hooks"] = {"pre": [{"command": ["mountpoint", "-q", "/srv"], "check_safe": True}]}
    # The recovery hooks, of each phase and scope.
    plan["hooks"] = {"after_failover": [{"name": "point monitoring at the new site", "tasks": "hooks/monitoring.yml"}],
                     "before_restore": [{"name": "silence alerts", "command": ["alertctl", "silence", "2h"], "check_safe": True}]}
    plan["sites"]["secondary"]["hooks"] = {"after_failover": [{"name": "warm the caches", "command": ["shopfront-ctl", "warm"],
                                                               "host": "app2", "timeout": "10m"}]}
    plan["sites"]["primary"]["hooks"] = {"after_failback": [{"name": "point monitoring back", "command": ["monitorctl", "primary"],
                                                             "retries": 2, "delay": "30s"}]}
    component(plan, "orders-db")["hooks"] = {"after_restore": [{"name": "apply migrations", "command": ["shopfront-migrate"],
                                                                "timeout": "15m", "retries": 1}]}
    # The name as a Route 53 failover pair, whose PRIMARY record set aliases each site's load balancer in turn.
    plan["dns"] = {"provider": "route53", "zone": "example.test", "records": [{
        "record": "app.example.test", "set_identifier": "app-primary", "alias": {
            "primary": {"dns_name": "dualstack.app-1.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K"},
            "secondary": {"dns_name": "dualstack.app-2.eu-west-1.elb.amazonaws.com", "hosted_zone_id": "Z32O12XQLNTSW2"}}}]}

    run = ansible.playbook("playbooks/plan_document.yml", {
        "dr_plan": plan, "plan_document_dir": str(tmp_path / "document"), "plan_document_reports_dir": str(tmp_path / "reports"),
    })

    assert run.ok, run.tail()
    markdown = (tmp_path / "document" / "dr-plan.md").read_text()
    assert ("- the plan, pre: pause writes (command: shopfront-ctl read-only on; host the controller; timeout 60 s)\n"
            "- the plan, post: resume writes (tasks: hooks/resume.yml; host app1; timeout 300 s)\n"
            "- component uploads, pre: mountpoint -q /srv (command: mountpoint -q /srv; host localhost; timeout 300 s; "
            "also in check mode)\n") in markdown
    assert ("- DNS app.example.test (A, failover record set app-primary): primary alias dualstack.app-1.us-east-1.elb.amazonaws.com; "
            "secondary alias dualstack.app-2.eu-west-1.elb.amazonaws.com\n") in markdown
    # In the order of the phases; in each, the plan's, each site's, then each component's.
    assert ("## Recovery hooks\n\n"
            "Run by the recovery playbooks at each phase (a before_* phase the plan's, the site's, then the component's hooks;\n"
            "an after_* phase the other way round); check mode runs only those marked to run in check mode.\n\n"
            "- before_restore, the plan: silence alerts (command: alertctl silence 2h; host the controller; timeout 300 s; "
            "also in check mode)\n"
            "- after_restore, component orders-db: apply migrations (command: shopfront-migrate; host localhost; "
            "timeout 900 s; retries 1, 5 s apart)\n"
            "- after_failover, the plan: point monitoring at the new site (tasks: hooks/monitoring.yml; host the controller; "
            "timeout 300 s)\n"
            "- after_failover, site secondary: warm the caches (command: shopfront-ctl warm; host app2; timeout 600 s)\n"
            "- after_failback, site primary: point monitoring back (command: monitorctl primary; host the controller; "
            "timeout 300 s; retries 2, 30 s apart)\n") in markdown
    page = (tmp_path / "document" / "dr-plan.html").read_text()
    assert "<li>the plan, post: resume writes (tasks: hooks/resume.yml; host app1; timeout 300 s)</li>" in page
    assert ("<li>after_failback, site primary: point monitoring back (command: monitorctl primary; host the controller; "
            "timeout 300 s; retries 2, 30 s apart)</li>") in page
