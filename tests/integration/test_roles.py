# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The roles every recovery playbook is made of, on the lab's shopfront plan:
plan (validation and confirmation), app_services (order, health, rollback),
notify (webhook, Slack, email), dns_failover (gates, recorded failback) and
the backup schedule."""

from __future__ import annotations

import copy
import email
import email.policy
import http.server
import json
import socketserver
import subprocess
import sys
import threading
import typing as t
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from .conftest import LAB_DIR, lab_ctl
from .lab_dns import answer, set_record


@pytest.fixture(scope="module")
def lab_plan(lab) -> dict[str, t.Any]:
    """The lab's own DR plan (written by lab-up)."""
    return yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())["dr_plan"]


def role(name: str, **variables: t.Any) -> dict[str, t.Any]:
    task: dict[str, t.Any] = {"name": f"Role {name}", "ansible.builtin.include_role": {"name": f"resilience.dr.{name}"}}
    if variables:
        task["vars"] = variables
    return task


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


# --------------------------------------------------------------------------
# plan


def test_a_broken_plan_stops_before_anything_with_every_problem(ansible, lab_plan):
    plan = copy.deepcopy(lab_plan)
    plan["components"][2]["depends_on"] = ["orders-db", "search-index"]
    del plan["components"][1]["backup"]
    run = ansible.tasks([role("plan")], {"dr_plan": plan})
    assert not run.ok
    assert "uploads depends on search-index, which is not a component of the plan" in run.stdout
    assert "component sessions has no backup" in run.stdout


def test_a_destructive_run_needs_confirmation_but_check_mode_does_not(ansible, lab_plan):
    plan_role = role("plan", plan_destructive=True, plan_action="replace orders-db with its backup")
    refused = ansible.tasks([plan_role], {"dr_plan": lab_plan})
    assert not refused.ok
    assert "will replace orders-db with its backup on the primary site of shopfront" in refused.stdout
    assert "-e confirm=yes" in refused.stdout

    assert ansible.tasks([plan_role], {"dr_plan": lab_plan}, check=True).ok
    confirmed = ansible.tasks([plan_role, {"name": "Show", "ansible.builtin.debug": {"var": "plan_resolved.restore_batches"}}],
                              {"dr_plan": lab_plan, "confirm": "yes"})
    assert confirmed.ok, confirmed.tail()
    assert confirmed.result("Show")["plan_resolved.restore_batches"] == [["orders-db", "sessions"], ["uploads"]]


# --------------------------------------------------------------------------
# app_services


@pytest.fixture
def primary_app(lab):
    """The primary site's application running before and after the test."""
    services = lab["sites"]["primary"]["app"]["services"]
    yield services
    for name in ("api", "worker"):
        lab_ctl(services[name]["ctl"], "start")


def test_services_stop_in_reverse_order_and_start_in_order_when_healthy(ansible, lab_plan, primary_app):
    def run(action: str, check: bool = False):
        return ansible.tasks([role("plan"), role("app_services", app_services_action=action)],
                             {"dr_plan": lab_plan}, check=check)

    stop_preview = run("stop", check=True)
    assert stop_preview.ok and healthy(primary_app["api"]["url"]), "check mode must not stop anything"

    stopped = run("stop")
    assert stopped.ok, stopped.tail()
    stops = [event for event in stopped.results() if event.get("cmd") and event["cmd"][-1] == "stop"]
    assert [Path(event["cmd"][0]).name for event in stops] == ["primary-worker", "primary-api"]
    assert not healthy(primary_app["api"]["url"]) and not healthy(primary_app["worker"]["url"])
    assert run("stop").changed_count() == 0, "stopping stopped services changes nothing"

    started = run("start")
    assert started.ok, started.tail()
    starts = [event for event in started.results() if event.get("cmd") and event["cmd"][-1] == "start"]
    assert [Path(event["cmd"][0]).name for event in starts] == ["primary-api", "primary-worker"]
    assert healthy(primary_app["api"]["url"]) and healthy(primary_app["worker"]["url"])
    assert run("start").changed_count() == 0, "starting running services changes nothing"


def test_rollback_points_the_service_at_the_previous_release(ansible, tmp_path):
    releases = tmp_path / "releases"
    for release in ("2026-11-01", "2026-11-20", "2026-11-23"):
        (releases / release).mkdir(parents=True)
    current = tmp_path / "current"
    current.symlink_to(releases / "2026-11-23")
    marker = tmp_path / "started"
    plan = {
        "name": "rollback-test",
        "components": [{"name": "files", "kind": "files", "connection": {"path": str(tmp_path)},
                        "backup": {"method": "tar"}}],
        "repository": {"location": str(tmp_path / "repository")},
        "services": [{"name": "api", "start_command": ["touch", str(marker)], "stop_command": ["true"],
                      "release": {"current": str(current), "directory": str(releases)}}],
        "sites": {"primary": {"address": "127.0.0.1"}},
    }
    run = ansible.tasks([role("plan"), role("app_services", app_services_action="rollback")], {"dr_plan": plan})
    assert run.ok, run.tail()
    assert current.resolve() == releases / "2026-11-20"
    assert marker.exists(), "the service is started again on the previous release"

    current.unlink()
    current.symlink_to(releases / "2026-11-01")
    oldest = ansible.tasks([role("plan"), role("app_services", app_services_action="rollback")], {"dr_plan": plan})
    assert not oldest.ok
    assert "Cannot roll back api" in oldest.stdout and "2026-11-01, 2026-11-20, 2026-11-23" in oldest.stdout
    assert current.resolve() == releases / "2026-11-01", "a refused rollback changes nothing"


# --------------------------------------------------------------------------
# notify


class Hooks:
    """A loopback HTTP server recording what the hooks were sent, and an SMTP sink."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        self.mails: list[str] = []
        received = self.posts
        mails = self.mails

        class Http(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, json.loads(body)))
                self.send_response(500 if self.path == "/broken" else 200)
                self.end_headers()

            def log_message(self, *args: t.Any) -> None:
                pass

        class Smtp(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 sink ESMTP\r\n")
                data = None
                for raw in self.rfile:
                    line = raw.decode().rstrip("\r\n")
                    if data is not None:
                        if line == ".":
                            mails.append("\n".join(data))
                            data = None
                            self.wfile.write(b"250 queued\r\n")
                        else:
                            data.append(line)
                    elif line.upper().startswith("DATA"):
                        data = []
                        self.wfile.write(b"354 go ahead\r\n")
                    elif line.upper().startswith("QUIT"):
                        self.wfile.write(b"221 bye\r\n")
                        return
                    elif line.upper().startswith("EHLO"):
                        self.wfile.write(b"250 sink\r\n")
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Http)
        self.smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Smtp)
        for server in (self.http, self.smtp):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}{path}"

    def close(self) -> None:
        for server in (self.http, self.smtp):
            server.shutdown()
            server.server_close()


@pytest.fixture
def hooks():
    server = Hooks()
    yield server
    server.close()


def test_notify_sends_to_every_hook_and_a_broken_one_does_not_stop_the_run(ansible, hooks):
    plan = {"name": "shopfront", "notifications": [
        {"type": "webhook", "url": hooks.url("/dr"), "headers": {"Authorization": "Bearer secret-token"}},
        {"type": "slack", "url": hooks.url("/slack")},
        {"type": "webhook", "url": hooks.url("/broken")},
        {"type": "email", "to": ["oncall@example.test"], "smtp_host": "127.0.0.1",
         "smtp_port": hooks.smtp.server_address[1], "secure": "never"},
    ]}
    notify = role("notify", notify_event="milestone", notify_message="orders-db restored and verified",
                  notify_details={"component": "orders-db"})
    run = ansible.tasks([notify, {"name": "After", "ansible.builtin.debug": {"msg": "went on"}}], {"dr_plan": plan})
    assert run.ok, run.tail()
    assert run.result("After")["msg"] == "went on"
    by_path = dict(hooks.posts)
    assert by_path["/dr"]["event"] == "milestone" and by_path["/dr"]["details"] == {"component": "orders-db"}
    assert by_path["/slack"] == {"text": "[shopfront] Progress: orders-db restored and verified"}
    assert "WARNING - the webhook hook at 127.0.0.1 did not take the event (HTTP status 500)" in run.stdout
    assert "secret-token" not in run.stdout
    assert len(hooks.mails) == 1
    mail = email.message_from_string(hooks.mails[0], policy=email.policy.default)
    assert str(mail["Subject"]) == "[shopfront] Progress: orders-db restored and verified"
    body = "".join(part.get_payload(decode=True).decode() for part in mail.walk() if not part.is_multipart())
    assert "component: orders-db" in body

    hooks.posts.clear()
    assert ansible.tasks([notify], {"dr_plan": plan}, check=True).ok
    assert hooks.posts == [], "check mode sends nothing"

    required = ansible.tasks([role("notify", notify_message="x", notify_required=True)], {"dr_plan": plan})
    assert not required.ok


# --------------------------------------------------------------------------
# dns_failover


@pytest.fixture
def app_record(lab):
    primary = lab["sites"]["primary"]["address"]
    set_record(lab, [primary], 300)
    yield lab["dns"]["record"]
    set_record(lab, [primary], 300)


def test_dns_role_gates_on_health_moves_and_fails_back_to_the_recorded_values(ansible, lab, lab_plan, app_record,
                                                                              tmp_path):
    primary, secondary = lab["sites"]["primary"]["address"], lab["sites"]["secondary"]["address"]
    state = {"dns_failover_state_dir": str(tmp_path / "state")}

    def failover(check: bool = False, **variables: t.Any):
        variables.setdefault("dns_failover_rpo_seconds", 5)  # as a level 3 run measures it
        return ansible.tasks([role("plan", plan_site="secondary"), role("dns_failover", **state, **variables)],
                             {"dr_plan": lab_plan}, check=check)

    # The secondary's application is not running: the health gate refuses.
    refused = failover(dns_failover_site="secondary")
    assert not refused.ok
    assert "gate health failed" in refused.stdout
    assert answer(lab) == ([primary], 300)

    # More data lost than the plan allows (900 s): the RPO gate refuses.
    too_old = failover(dns_failover_site="secondary", dns_failover_skip_gates=["health"], dns_failover_rpo_seconds=3600)
    assert not too_old.ok and "gate rpo failed" in too_old.stdout
    assert answer(lab) == ([primary], 300)

    preview = failover(check=True, dns_failover_site="secondary", dns_failover_skip_gates=["health"])
    assert preview.ok and answer(lab) == ([primary], 300)

    moved = failover(dns_failover_site="secondary", dns_failover_skip_gates=["health"])
    assert moved.ok, moved.tail()
    assert f"{app_record} A: gate health skipped by skip_gates" in " ".join(moved.stdout.split())
    assert answer(lab)[0] == [secondary]
    recorded = json.loads((tmp_path / "state" / "shopfront-dns-previous.json").read_text())
    assert recorded[app_record] == {"value": [primary], "ttl": 300, "alias": None}
    assert (tmp_path / "state" / "shopfront-dns-previous.json").stat().st_mode & 0o777 == 0o600

    again = failover(dns_failover_site="secondary", dns_failover_skip_gates=["health"])
    assert again.ok and again.changed_count() == 0
    assert json.loads((tmp_path / "state" / "shopfront-dns-previous.json").read_text()) == recorded

    back = failover(dns_failover_site="primary", dns_failover_use_recorded=True)
    assert back.ok, back.tail()
    assert answer(lab) == ([primary], 300)


def test_dns_role_refuses_a_record_without_health_check_before_moving_any(ansible, lab, lab_plan, app_record, tmp_path):
    primary = lab["sites"]["primary"]["address"]
    plan = copy.deepcopy(lab_plan)
    checked = plan["dns"]["records"][0]
    unchecked = {key: value for key, value in checked.items() if key != "health_check"}
    unchecked["record"] = f"www.{lab['dns']['zone']}"
    plan["dns"]["records"] = [checked, unchecked]
    run = ansible.tasks([role("plan", plan_site="secondary"),
                         role("dns_failover", dns_failover_site="secondary", dns_failover_rpo_seconds=5,
                              dns_failover_state_dir=str(tmp_path / "state"))], {"dr_plan": plan})
    assert not run.ok
    shown = " ".join(run.stdout.split())
    assert f"www.{lab['dns']['zone']} has no health check for the site secondary" in shown
    assert "dns_failover_skip_gates: [health]" in shown and "No record was changed" in shown
    assert answer(lab) == ([primary], 300)


# --------------------------------------------------------------------------
# backup schedule


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Each key of a unit file with its values in order (comments and section headers left out)."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def systemd_verify(units: Path) -> None:
    """systemd-analyze verify accepts every unit of the directory, without a warning."""
    files = sorted(str(path) for path in units.iterdir() if path.suffix in (".service", ".timer"))
    verify = subprocess.run(["systemd-analyze", "verify", *files], capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr


def test_backup_role_installs_a_timer_per_schedule_systemd_accepts(ansible, lab_plan, tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    playbook = Path(sys.executable).parent / "ansible-playbook"
    plan = copy.deepcopy(lab_plan)
    plan["backup_schedule"] = "*-*-* 02:00:00"
    plan["rpo_check_schedule"] = "*:0/15"
    plan["components"][0]["backup"]["schedule"] = "*:0/30"  # orders-db
    plan["components"][2]["backup"]["schedule"] = "*:0/30"  # uploads
    timer = role("backup", backup_timer=True, backup_timer_enable=False, backup_timer_unit_dir=str(units),
                 backup_timer_plan_file="/etc/resilience-dr/shop front.yml",
                 backup_timer_vault_password_file="/etc/resilience-dr/vault-pass",
                 backup_timer_collections_path="/opt/resilience dr/collections", backup_timer_timeout="2h")
    # A unit of an earlier single-timer install, and another plan's unit, which stays.
    (units / "resilience-dr-backup-shopfront.service").write_text(
        "[Unit]\nDescription=resilience.dr backup of shopfront\n\n[Service]\nType=oneshot\nExecStart=/bin/true\n")
    other = units / "resilience-dr-backup-shopfront2-daily.timer"
    other.write_text("[Unit]\nX-Resilience-DR-Plan=shopfront2\n\n[Timer]\nOnCalendar=daily\n")

    check = ansible.tasks([role("plan"), timer], {"dr_plan": plan}, check=True)
    assert check.ok and check.changed_count() > 0, check.tail()
    assert {path.name for path in units.iterdir()} == {"resilience-dr-backup-shopfront.service", other.name}, \
        "check mode writes and removes nothing"

    run = ansible.tasks([role("plan"), timer], {"dr_plan": plan})
    assert run.ok, run.tail()
    assert not any(result.get("backup_id") for result in run.results()), "installing the schedule backs nothing up"
    assert not (units / "resilience-dr-backup-shopfront.service").exists(), "the earlier single unit is replaced"
    assert other.exists(), "another plan's units are left alone"
    other.unlink()
    names = {path.name for path in units.iterdir()}
    assert names == {f"{name}.{kind}" for kind in ("service", "timer") for name in (
        "resilience-dr-backup-shopfront-0-30", "resilience-dr-backup-shopfront-02-00-00",
        "resilience-dr-restore-test-shopfront", "resilience-dr-rpo-check-shopfront")}

    every_15_min = unit_settings(units / "resilience-dr-backup-shopfront-0-30.timer")
    assert every_15_min["OnCalendar"] == ["*:0/30"] and every_15_min["Persistent"] == ["true"]
    assert unit_settings(units / "resilience-dr-backup-shopfront-02-00-00.timer")["OnCalendar"] == ["*-*-* 02:00:00"]
    assert unit_settings(units / "resilience-dr-restore-test-shopfront.timer")["OnCalendar"] == ["daily"]
    assert unit_settings(units / "resilience-dr-rpo-check-shopfront.timer")["OnCalendar"] == ["*:0/15"]

    vault = '--vault-password-file /etc/resilience-dr/vault-pass'
    often = unit_settings(units / "resilience-dr-backup-shopfront-0-30.service")
    assert often["ExecStart"] == [
        f'{playbook} resilience.dr.backup -e "@/etc/resilience-dr/shop front.yml" '
        f'-e "{{\\"site\\": \\"primary\\", \\"components\\": [\\"orders-db\\", \\"uploads\\"]}}" {vault}']
    assert often["Environment"] == ['"ANSIBLE_COLLECTIONS_PATH=/opt/resilience dr/collections"']
    assert often["TimeoutStartSec"] == ["2h"]
    nightly = unit_settings(units / "resilience-dr-backup-shopfront-02-00-00.service")
    assert '\\"components\\": [\\"sessions\\"]' in nightly["ExecStart"][0]
    rpo_check = unit_settings(units / "resilience-dr-rpo-check-shopfront.service")
    assert rpo_check["ExecStart"] == [
        f'{playbook} resilience.dr.rpo_check -e "@/etc/resilience-dr/shop front.yml" -e "{{\\"site\\": \\"primary\\"}}" {vault}']
    assert rpo_check["TimeoutStartSec"] == ["30min"]
    restore_test = unit_settings(units / "resilience-dr-restore-test-shopfront.service")
    assert restore_test["ExecStart"][0].startswith(f"{playbook} resilience.dr.restore_test -e ")
    systemd_verify(units)

    again = ansible.tasks([role("plan"), timer], {"dr_plan": plan})
    assert again.ok and again.changed_count() == 0, again.tail()

    # Every component back on the plan's schedule, no RPO check: the 30-minute and RPO check units go.
    del plan["components"][0]["backup"]["schedule"], plan["components"][2]["backup"]["schedule"]
    fewer = role("backup", backup_timer=True, backup_timer_enable=False, backup_timer_unit_dir=str(units),
                 backup_timer_plan_file="/etc/resilience-dr/shop front.yml", backup_timer_rpo_check_schedule="")
    changed = ansible.tasks([role("plan"), fewer], {"dr_plan": plan})
    assert changed.ok, changed.tail()
    assert {path.name for path in units.iterdir()} == {f"{name}.{kind}" for kind in ("service", "timer") for name in (
        "resilience-dr-backup-shopfront-02-00-00", "resilience-dr-restore-test-shopfront")}
    assert '\\"components\\": [\\"orders-db\\", \\"sessions\\", \\"uploads\\"]' in unit_settings(
        units / "resilience-dr-backup-shopfront-02-00-00.service")["ExecStart"][0]
    systemd_verify(units)
    assert ansible.tasks([role("plan"), fewer], {"dr_plan": plan}).changed_count() == 0


def test_backup_timer_schedule_puts_every_component_on_one_timer(ansible, lab_plan, tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    plan = copy.deepcopy(lab_plan)
    plan["components"][0]["backup"]["schedule"] = "hourly"
    timer = role("backup", backup_timer=True, backup_timer_enable=False, backup_timer_unit_dir=str(units),
                 backup_timer_schedule="*-*-* 03:00:00", backup_timer_restore_test_schedule="",
                 backup_timer_rpo_check_schedule="")
    run = ansible.tasks([role("plan"), timer], {"dr_plan": plan})
    assert run.ok, run.tail()
    assert {path.name for path in units.iterdir()} == {"resilience-dr-backup-shopfront-03-00-00.service",
                                                       "resilience-dr-backup-shopfront-03-00-00.timer"}
    service = unit_settings(units / "resilience-dr-backup-shopfront-03-00-00.service")
    # No component list: the run backs up every component the plan file has when it runs.
    assert service["ExecStart"][0].endswith(' -e @/etc/resilience-dr/dr_plan.yml -e "{\\"site\\": \\"primary\\"}"')
    assert "Environment" not in service and service["TimeoutStartSec"] == ["6h"]
    systemd_verify(units)


def test_backup_timer_refuses_a_schedule_systemd_cannot_parse(ansible, lab_plan, tmp_path):
    units = tmp_path / "units"
    units.mkdir()
    plan = copy.deepcopy(lab_plan)
    plan["components"][1]["backup"]["schedule"] = "every other tuesday"
    run = ansible.tasks([role("plan"), role("backup", backup_timer=True, backup_timer_enable=False,
                                            backup_timer_unit_dir=str(units))], {"dr_plan": plan})
    assert not run.ok
    assert "every other tuesday" in run.stdout
    assert list(units.iterdir()) == [], "nothing is written before every schedule is known good"
