# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dr_report callback through ansible-playbook (ansible-runner), with the
callback enabled by ANSIBLE_CALLBACKS_ENABLED.

The PostgreSQL/Redis/files restore modules are not needed to measure RTO and
RPO: a backup is seeded in a temporary repository with the collection's
library (its consistency point known), read back by a test-only stand-in
module (tests/integration/library/report_restore_stand_in.py, found through
ANSIBLE_LIBRARY) that answers with the restore modules' result keys, and
verified by the real resilience.dr.backup_verify. The report's numbers are
checked against the times ansible-runner recorded for the same tasks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from ansible_collections.resilience.dr.plugins.plugin_utils._report.values import format_seconds
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

from .conftest import REPOSITORY_ROOT

LIBRARY = Path(__file__).resolve().parent / "library"
OUTPUT = REPOSITORY_ROOT / "tests" / "output"
COMPONENT = "orders-db"
# ansible-runner stamps events to the microsecond; the callback takes its own
# clock a few milliseconds apart in the same process tree.
TOLERANCE_S = 1.0


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@pytest.fixture
def seeded(tmp_path):
    """A repository with one backup of orders-db whose consistency point is 10 minutes ago."""
    repository_path = tmp_path / "repository"
    consistency = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    repository = open_repository({"repository": str(repository_path), "compression_level": 1})
    with repository.new_backup(COMPONENT, kind="postgresql", method="logical") as backup:
        backup.add_bytes("data/orders.csv", b"id,total\n1,10\n" * 500)
        backup.consistency_point = {"time": iso(consistency), "lsn": "0/3000060"}
        backup.verification = {"rows": {"orders": 500}}
    return {"repository": str(repository_path), "backup_id": backup.backup_id, "consistency": consistency}


def plan(rto: str, rpo: str) -> dict:
    return {"name": "shopfront-test", "repository": {"location": "/srv/backups"},
            "sites": {"primary": {"address": "127.0.0.1"}}, "escalation": "Page the platform on-call.",
            "components": [
        {"name": COMPONENT, "kind": "postgresql", "rto": rto, "rpo": rpo, "backup": {"method": "logical"}},
        {"name": "sessions", "kind": "redis", "rto": "15m", "rpo": "1h", "backup": {"method": "online"}},
    ]}


TARGETS_TASK = "Compare the achieved RTO and RPO with the plan's targets"


def run_recovery(ansible, tmp_path, seeded, extravars, env=None, playbook="recover_orders.yml", heartbeat=None,
                 targets_task=False, check=False, callback=True):
    tasks = [
        {"name": f"Restore {COMPONENT} from the newest verified backup",
         "report_restore_stand_in": {"repository": seeded["repository"], "component": COMPONENT, "hold_s": 1.5}},
        {"name": f"Verify the backups of {COMPONENT}",
         "resilience.dr.backup_verify": {"repository": seeded["repository"], "component": COMPONENT}},
        {"name": "Write the incident notes (after the recovery)", "ansible.builtin.command": "sleep 1",
         "changed_when": False},
    ]
    if heartbeat:
        tasks.insert(2, {"name": "Record the newest heartbeat recovered", "ansible.builtin.set_fact": {
            "dr_heartbeat": {"component": COMPONENT, "time": heartbeat}}})
    if targets_task:
        # As the level playbooks end.
        tasks.append({"name": TARGETS_TASK, "resilience.dr.recovery_targets": {
            "fail_on_miss": "{{ fail_on_target_miss | default(omit) }}"}})
    play = [{"name": "Recover orders-db", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / playbook
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    reports = tmp_path / "reports"
    environment = {"DR_REPORT_DIR": str(reports), "ANSIBLE_LIBRARY": str(LIBRARY)}
    if callback:
        environment["ANSIBLE_CALLBACKS_ENABLED"] = "resilience.dr.dr_report"
    environment.update(env or {})
    run = ansible.playbook(path, extravars, env=environment, check=check)
    if not callback:
        return run, None, None
    found = sorted(reports.glob("*/report.json"))
    assert len(found) == 1, f"expected one report in {reports}, found {found}; output:\n{run.tail()}"
    return run, found[0].parent, json.loads(found[0].read_text())


def event_end(run, task: str) -> datetime:
    for event in run.events:
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and data.get("task") == task:
            return parse(data["end"])
    raise AssertionError(f"no runner_on_ok event for {task}")


def playbook_start(run) -> datetime:
    for event in run.events:
        if event.get("event") == "playbook_on_start":
            return parse(event["created"])
    raise AssertionError("no playbook_on_start event")


def test_report_measures_rto_and_rpo_from_the_incident_start(ansible, tmp_path, seeded):
    incident = datetime.now(timezone.utc) - timedelta(minutes=2)
    run, directory, report = run_recovery(
        ansible, tmp_path, seeded, {"dr_plan": plan(rto="30m", rpo="15m"), "incident_start": iso(incident)},
    )
    assert run.ok, run.tail()

    # RPO: incident time minus the consistency point of the backup restored, exactly.
    expected_rpo = (incident - seeded["consistency"]).total_seconds()
    assert report["rpo_seconds"] == pytest.approx(expected_rpo, abs=0.01)
    [component] = report["components"]
    assert component["component"] == COMPONENT and component["backup_id"] == seeded["backup_id"]
    assert component["restores"] == 1 and component["verifications"] == 1
    assert component["rpo_seconds"] == pytest.approx(expected_rpo, abs=0.01)

    # RTO: incident start to the end of the last verification (not of the playbook).
    verified_at = event_end(run, f"Verify the backups of {COMPONENT}")
    assert report["rto_seconds"] == pytest.approx((verified_at - incident).total_seconds(), abs=TOLERANCE_S)
    assert report["rto_seconds"] < (parse(report["finished"]) - incident).total_seconds() - 0.5
    assert report["incident_start_source"] == "extra var incident_start"

    assert report["targets"]["verdict"] == "met" and report["targets"]["misses"] == []
    assert component["rto_met"] is True and component["rpo_met"] is True
    names = [task["name"] for task in report["tasks"]]
    assert names == [f"Restore {COMPONENT} from the newest verified backup", f"Verify the backups of {COMPONENT}",
                     "Write the incident notes (after the recovery)"]
    restore_task = report["tasks"][0]
    assert restore_task["status"] == "changed" and restore_task["duration_s"] >= 1.5

    # Private files: the report names hosts and backups.
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in ("report.json", "report.md", "report.html"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    markdown = (directory / "report.md").read_text()
    assert seeded["backup_id"] in markdown and f"Achieved RPO: **{format_seconds(expected_rpo)}**" in markdown
    assert re.match(r"^\d{8}T\d{6}Z-recover_orders$", report["run_id"])


def test_report_rto_defaults_to_the_playbook_start(ansible, tmp_path, seeded):
    run, _directory, report = run_recovery(ansible, tmp_path, seeded, {"dr_plan": plan(rto="30m", rpo="1h")})
    assert run.ok, run.tail()
    assert report["incident_start_source"] == "playbook start"
    started = playbook_start(run)
    verified_at = event_end(run, f"Verify the backups of {COMPONENT}")
    assert report["rto_seconds"] == pytest.approx((verified_at - started).total_seconds(), abs=TOLERANCE_S)
    assert 1.5 <= report["rto_seconds"] < 30


def targets_result(run) -> tuple[str, dict]:
    """The event (runner_on_ok, runner_on_failed, runner_on_skipped) and result of the recovery_targets task."""
    for event in run.events:
        data = event.get("event_data", {})
        if data.get("task") == TARGETS_TASK and event.get("event") in (
                "runner_on_ok", "runner_on_failed", "runner_on_skipped"):
            return event["event"], data.get("res") or {}
    raise AssertionError(f"the task {TARGETS_TASK!r} did not run:\n{run.tail()}")


def test_missed_target_fails_the_run_with_fail_on_target_miss(ansible, tmp_path, seeded):
    incident = datetime.now(timezone.utc) - timedelta(seconds=5)
    run, directory, report = run_recovery(
        ansible, tmp_path, seeded, {"dr_plan": plan(rto="1h", rpo="1m"), "incident_start": iso(incident)},
        env={"DR_REPORT_FAIL_ON_TARGET_MISS": "true"}, targets_task=True,
    )
    # Every recovery task succeeded; the missed RPO alone fails the run, through its last task.
    assert run.rc == 2, run.tail()
    assert sum(run.stats.get("failures", {}).values()) == 1
    event, result = targets_result(run)
    assert event == "runner_on_failed"
    [miss] = result["misses"]
    assert miss.startswith(f"{COMPONENT}: RPO 9m 5") and miss.endswith("exceeds the target 1m (1m 00s)")
    assert result["verdict"] == "missed" and result["fail_on_miss"] is True
    assert result["msg"] == f"1 recovery target(s) missed: {miss} (fail_on_target_miss is set)"
    assert report["targets"]["verdict"] == "missed" and report["targets"]["misses"] == [miss]
    assert report["targets"]["failed_run"] is True
    assert "the task resilience.dr.recovery_targets failed the run" in (directory / "report.md").read_text()
    # The play recap and the callback's own last line still come after the failed task.
    assert run.stdout.index("PLAY RECAP") < run.stdout.index(f"DR report {report['run_id']}")


def test_the_extra_variable_fail_on_target_miss_decides_over_the_callback_setting(ansible, tmp_path, seeded):
    incident = datetime.now(timezone.utc) - timedelta(seconds=5)
    extravars = {"dr_plan": plan(rto="1h", rpo="1m"), "incident_start": iso(incident)}
    run, _directory, report = run_recovery(ansible, tmp_path, seeded, {**extravars, "fail_on_target_miss": "true"},
                                           targets_task=True)
    assert run.rc == 2, run.tail()
    assert targets_result(run)[0] == "runner_on_failed" and report["targets"]["fail_on_target_miss"] is True

    run, _directory, report = run_recovery(ansible, tmp_path / "off", seeded, {**extravars, "fail_on_target_miss": False},
                                           env={"DR_REPORT_FAIL_ON_TARGET_MISS": "true"}, targets_task=True)
    assert run.ok, run.tail()
    event, result = targets_result(run)
    assert event == "runner_on_ok" and result["verdict"] == "missed" and result["fail_on_miss"] is False
    assert result["msg"].startswith("1 recovery target(s) missed: orders-db: RPO")
    assert report["targets"]["failed_run"] is False


def test_a_met_target_passes_and_check_mode_never_fails(ansible, tmp_path, seeded):
    run, _directory, _report = run_recovery(ansible, tmp_path, seeded, {"dr_plan": plan(rto="1h", rpo="1h")},
                                            env={"DR_REPORT_FAIL_ON_TARGET_MISS": "true"}, targets_task=True)
    assert run.ok, run.tail()
    event, result = targets_result(run)
    assert event == "runner_on_ok" and result["verdict"] == "met" and result["misses"] == []
    assert result["rpo_seconds"] >= 600

    run, _directory, report = run_recovery(ansible, tmp_path / "check", seeded, {"dr_plan": plan(rto="1s", rpo="1m")},
                                           env={"DR_REPORT_FAIL_ON_TARGET_MISS": "true"}, targets_task=True, check=True)
    assert run.ok, run.tail()
    assert targets_result(run)[1]["verdict"] == "check_mode" and report["targets"]["verdict"] == "check_mode"


def test_without_the_callback_the_targets_task_is_skipped_unless_asked_to_fail(ansible, tmp_path, seeded):
    run, _directory, _report = run_recovery(ansible, tmp_path, seeded, {"dr_plan": plan(rto="1s", rpo="1m")},
                                            targets_task=True, callback=False)
    assert run.ok, run.tail()
    assert targets_result(run)[0] == "runner_on_skipped"

    run, _directory, _report = run_recovery(ansible, tmp_path / "asked", seeded,
                                            {"dr_plan": plan(rto="1s", rpo="1m"), "fail_on_target_miss": True},
                                            targets_task=True, callback=False)
    assert run.rc == 2, run.tail()
    event, result = targets_result(run)
    assert event == "runner_on_failed" and "enable the resilience.dr.dr_report callback" in result["msg"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian package chromium is not installed (make setup)")
def test_missed_target_is_reported_without_failing_and_the_html_renders(ansible, tmp_path, seeded):
    run, directory, report = run_recovery(ansible, tmp_path, seeded, {"dr_plan": plan(rto="1s", rpo="1h")})
    assert run.ok, run.tail()  # fail_on_target_miss is off by default
    assert report["targets"]["verdict"] == "missed"
    [miss] = report["targets"]["misses"]
    assert miss.startswith(f"{COMPONENT}: RTO ") and miss.endswith("exceeds the target 1s (1.0s)")
    assert f"DR target missed: {miss}" in run.stdout

    page = directory / "report.html"
    assert_self_contained(page.read_text())
    screenshot = render(page, "dr_report.png")
    assert screenshot.stat().st_size > 10_000


def assert_self_contained(text: str) -> None:
    """No scripts and no reference to anything outside the file."""
    assert "<script" not in text.lower()
    # The SVG namespace is an identifier, not a fetched resource.
    references = re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?([^"')\s>]+)""", text, re.IGNORECASE)
    assert references == [], references
    assert "@import" not in text
    assert re.findall(r"https?://(?!www\.w3\.org/2000/svg)", text) == []


def render(page: Path, name: str) -> Path:
    """Screenshot of the page in headless Chromium, saved under tests/output/."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    screenshot = OUTPUT / name
    if screenshot.exists():
        screenshot.unlink()
    completed = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1600",
         f"--screenshot={screenshot}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "HOME": str(page.parent)},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert screenshot.is_file(), completed.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return screenshot


def test_plan_document_shows_what_each_procedure_last_achieved(ansible, tmp_path, seeded):
    incident = datetime.now(timezone.utc) - timedelta(minutes=3)
    dr_plan = plan(rto="30m", rpo="15m")
    # A level 1 run recorded by the callback (its playbook file carries the procedure's name).
    _run, _directory, report = run_recovery(
        ansible, tmp_path, seeded, {"dr_plan": dr_plan, "incident_start": iso(incident)}, playbook="level1_component.yml",
        heartbeat=(seeded["consistency"] + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S.%f"),
    )
    # The newest heartbeat found in the recovered data (2 minutes after the backup's point) gives the RPO.
    [component] = report["components"]
    assert component["rpo_source"] == "heartbeat"
    expected_rpo = (incident - seeded["consistency"] - timedelta(minutes=2)).total_seconds()
    assert report["rpo_seconds"] == pytest.approx(expected_rpo, abs=0.01)
    document = tmp_path / "document"
    run = ansible.playbook("playbooks/plan_document.yml", {
        "dr_plan": dr_plan, "plan_document_dir": str(document), "plan_document_reports_dir": str(tmp_path / "reports"),
        "plan_document_plan_file": "shopfront.yml",
    })
    assert run.ok, run.tail()
    markdown = (document / "dr-plan.md").read_text()
    assert stat.S_IMODE((document / "dr-plan.md").stat().st_mode) == 0o600
    assert "ansible-playbook resilience.dr.level1_component -e @shopfront.yml -e component=orders-db -e confirm=yes" in markdown
    assert "ansible-playbook resilience.dr.level3_site -e @shopfront.yml -e confirm=yes" in markdown
    level1 = markdown.split("### Level 1")[1].split("###")[0]
    assert f"Last passed: {report['finished']} (run {report['run_id']}): " \
        f"RTO {format_seconds(report['rto_seconds'])}, RPO {format_seconds(report['rpo_seconds'])}, targets met." in level1
    level2 = markdown.split("### Level 2")[1].split("###")[0]
    assert "Last passed: never recorded" in level2
    row = next(line for line in markdown.splitlines() if line.startswith("| orders-db |"))
    assert f"| 30m | 15m | - | {format_seconds(report['rto_seconds'])} (met) | {format_seconds(report['rpo_seconds'])} (met) " \
        f"| {report['run_id']} |" in row
    assert "| sessions | redis | localhost | 15m | 1h | - | never | never | - |" in markdown
    assert "Escalation: Page the platform on-call." in markdown
    # Without a schedule of its own, a component is backed up on the plan's backup_schedule (default daily).
    assert "| orders-db | logical | daily | not set |" in markdown

    page = (document / "dr-plan.html").read_text()
    assert report["run_id"] in page
    assert_self_contained(page)
    if shutil.which("chromium"):
        assert render(document / "dr-plan.html", "dr_plan_document.png").stat().st_size > 10_000
