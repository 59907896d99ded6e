# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No secret of the plan reaches the output, the job events or the reports.

Every secret of the lab's plan becomes a unique marker. The markers the runs
use are real: the lab's PostgreSQL and Redis administrator passwords are set
to them for the test (and put back afterwards), and the age identity is given
inline. The others (secondary site, S3 keys, TSIG, webhook URL and header, AWS
keys of a credential) are in the plan where the redaction must find them.
Then the backup playbook, the level 2 recovery and a check run of the security
incident playbook run at -vv with the dr_report callback, and no marker may
appear in their output, in the events an AWX job would store, or in
report.json/report.md/report.html.
"""

from __future__ import annotations

import copy
import json
import secrets
import typing as t
from pathlib import Path

import psycopg2
import pytest
import redis
import yaml

from .conftest import LAB_DIR


def pg_admin(facts: dict, password: str) -> t.Any:
    connection = psycopg2.connect(host=facts["host"], port=facts["port"], user=facts["user"], password=password,
                                  dbname="postgres", connect_timeout=5)
    connection.autocommit = True
    return connection


@pytest.fixture
def marked(lab) -> t.Iterator[tuple[dict[str, t.Any], dict[str, str]]]:
    """The lab's plan with every secret a unique marker; the primary's admin passwords really are markers."""
    markers: dict[str, str] = {}

    def mark(name: str) -> str:
        markers[name] = f"{name}-{secrets.token_hex(12)}"
        return markers[name]

    plan = copy.deepcopy(yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())["dr_plan"])
    components = {component["name"]: component for component in plan["components"]}
    components["orders-db"]["connection"]["login_password"] = mark("primary-pg-password")
    components["sessions"]["connection"]["login_password"] = mark("primary-redis-password")
    repository = plan["repository"]
    identity = Path(repository.pop("encryption_identity_file")).read_text()
    markers["encryption_identity"] = [line for line in identity.splitlines() if line.startswith("AGE-SECRET-KEY-")][0]
    repository["encryption_identity"] = identity
    # A local repository does not use S3 credentials; they must be redacted all the same.
    repository.update(access_key=mark("repository-access-key"), secret_key=mark("repository-secret-key"),
                      session_token=mark("repository-session-token"))
    for name, override in plan["sites"]["secondary"]["components"].items():
        if "login_password" in override.get("connection", {}):
            override["connection"]["login_password"] = mark(f"secondary-{name}-password")
    plan["dns"]["tsig_key_secret"] = mark("tsig-secret")
    # Nothing listens on port 9: the hook fails, and its warning must name only the host.
    plan["notifications"] = [{"type": "webhook", "url": f"http://127.0.0.1:9/{mark('webhook-path')}",
                              "headers": {"Authorization": f"Bearer {mark('webhook-token')}"}}]
    for credential in plan["security"]["credentials"]:
        if "aws" in credential:
            credential["aws"].update(access_key=mark("credential-access-key"), secret_key=mark("credential-secret-key"))

    pg_facts, redis_facts = lab["sites"]["primary"]["postgresql"], lab["sites"]["primary"]["redis"]
    with pg_admin(pg_facts, pg_facts["password"]) as connection, connection.cursor() as cursor:
        cursor.execute(f"ALTER ROLE {pg_facts['user']} PASSWORD %s", (markers["primary-pg-password"],))
    redis.Redis(host=redis_facts["host"], port=redis_facts["port"], password=redis_facts["password"]).config_set(
        "requirepass", markers["primary-redis-password"])
    try:
        yield plan, markers
    finally:
        with pg_admin(pg_facts, markers["primary-pg-password"]) as connection, connection.cursor() as cursor:
            cursor.execute(f"ALTER ROLE {pg_facts['user']} PASSWORD %s", (pg_facts["password"],))
        redis.Redis(host=redis_facts["host"], port=redis_facts["port"], password=markers["primary-redis-password"]
                    ).config_set("requirepass", redis_facts["password"])


def leaks(text: str, markers: dict[str, str]) -> list[str]:
    return sorted(name for name, marker in markers.items() if marker in text)


def test_no_plan_secret_reaches_the_output_the_job_events_or_the_reports(ansible, lab, marked, tmp_path):
    plan, markers = marked
    reports = tmp_path / "reports"
    environment = {"ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report", "DR_REPORT_DIR": str(reports),
                   "DR_STATE_DIR": str(tmp_path / "state")}
    runs = {
        "backup": ansible.playbook("playbooks/backup.yml", {"dr_plan": plan}, env=environment, verbosity=2),
        "level2": ansible.playbook("playbooks/level2_application.yml",
                                   {"dr_plan": plan, "confirm": "yes", "restore_poll_interval": 1},
                                   env=environment, verbosity=2),
        "security_incident": ansible.playbook("playbooks/security_incident.yml", {"dr_plan": plan}, check=True,
                                              env=environment, verbosity=2),
    }
    for name, run in runs.items():
        # The runs must really have used the secrets: a run that failed early would prove nothing.
        assert run.ok, f"{name}:\n{run.tail()}"
        assert leaks(run.stdout, markers) == [], f"{name} printed secrets"
        # What AWX stores per job: its events (task results with their invocations and loop items).
        assert leaks(json.dumps(run.events, default=str), markers) == [], f"{name} put secrets in its job events"
    assert "Bearer" not in runs["level2"].stdout and "127.0.0.1 did not take the event" in runs["level2"].stdout

    written = sorted(path for path in reports.rglob("*") if path.is_file())
    assert {path.name for path in written} >= {"report.json", "report.md", "report.html"}
    assert len([path for path in written if path.name == "report.json"]) == len(runs)
    for path in written:
        assert leaks(path.read_text(errors="replace"), markers) == [], f"{path} holds secrets"
    level2 = next(json.loads(path.read_text()) for path in written
                  if path.name == "report.json" and "level2_application" in str(path))
    assert {event["component"] for event in level2["events"] if event["kind"] == "restore"} == {
        "orders-db", "sessions", "uploads"}, "the level 2 run restored every component with the marked secrets"
