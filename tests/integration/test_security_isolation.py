# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/security_incident.yml on the lab, isolation and the closing run: extra logging on during the incident
and back after closing, an application login refused then allowed again, a Redis ACL user off then on, an EC2
instance (moto) in the quarantine security group and back, the security team told (a webhook served by this test),
the affected users' message written to the report directory, and a check run that changes nothing."""

from __future__ import annotations

import http.server
import json
import shutil
import stat
import subprocess
import threading
import typing as t
from pathlib import Path

import jinja2
import psycopg2
import pytest
import redis
import yaml

from .conftest import LAB_DIR, boto3_client, lab_ctl, put_back_app_credentials

PLAYBOOK = "playbooks/security_incident.yml"
ROLE_TEMPLATES = Path(__file__).parents[2] / "roles" / "security_incident" / "templates"
LOGGING = ("log_connections", "log_disconnections", "log_statement")
REPORTER, REPORTER_PASSWORD = "incident_reporter", "reporter-lab-password"
READER, READER_PASSWORD = "incident_reader", "reader-lab-password"


def environment(path: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)


def pg(lab: dict, user: str | None = None, password: str | None = None, dbname: str = "postgres") -> t.Any:
    server = lab["sites"]["primary"]["postgresql"]
    connection = psycopg2.connect(host=server["host"], port=server["port"], dbname=dbname, user=user or server["user"],
                                  password=password or server["password"], connect_timeout=5)
    connection.autocommit = True
    return connection


def pg_login(lab: dict, user: str, password: str, dbname: str = "postgres") -> bool:
    try:
        pg(lab, user, password, dbname).close()
        return True
    except psycopg2.OperationalError:
        return False


def logging_settings(lab: dict) -> dict[str, str]:
    connection = pg(lab)  # a new session: it reads the configuration as last reloaded
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(LOGGING),))
            return dict(cursor.fetchall())
    finally:
        connection.close()


def redis_admin(lab: dict) -> t.Any:
    server = lab["sites"]["primary"]["redis"]
    return redis.Redis(host=server["host"], port=server["port"], password=server["password"], socket_timeout=5)


def redis_login(lab: dict, user: str, password: str) -> bool:
    server = lab["sites"]["primary"]["redis"]
    try:
        return bool(redis.Redis(host=server["host"], port=server["port"], username=user, password=password,
                                socket_timeout=5).ping())
    except redis.AuthenticationError:
        return False


class Webhook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, t.Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Webhook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: t.Any) -> None:
        return None


@pytest.fixture
def security_team() -> t.Iterator[tuple[str, list[dict[str, t.Any]]]]:
    """A webhook on loopback standing for the security team's channel, and what it received."""
    Webhook.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/security", Webhook.received
    server.shutdown()
    server.server_close()


@pytest.fixture
def quarantine(aws: dict[str, str]) -> t.Iterator[dict[str, t.Any]]:
    """An EC2 instance (moto) in two security groups of its own, and an empty quarantine group."""
    ec2 = boto3_client(aws, "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    groups = sorted(ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
                    for name in ("app", "ssh"))
    quarantine_group = ec2.create_security_group(GroupName="quarantine", Description="no inbound", VpcId=vpc)["GroupId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet,
                                 SecurityGroupIds=groups)["Instances"][0]["InstanceId"]
    yield {"ec2": ec2, "instance": instance, "groups": groups, "quarantine_group": quarantine_group}
    ec2.terminate_instances(InstanceIds=[instance])


def instance_groups(ec2: t.Any, instance: str) -> list[str]:
    """The groups of a one-interface instance, as the instance has them (moto adds groups to the interface's own record
    instead of replacing them; see plugins/module_utils/_incident/ec2.py)."""
    found = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    return sorted(group["GroupId"] for group in found["SecurityGroups"])


@pytest.fixture
def incident(lab, aws, quarantine, security_team) -> t.Iterator[dict[str, t.Any]]:
    """The lab's plan with isolation, logging and notifications; a reporting role and a Redis reader that the incident
    refuses; everything the incident changes put back afterwards."""
    primary = lab["sites"]["primary"]
    app = primary["app"]
    original_file = Path(app["environment_file"]).read_text()
    redis_config = Path(primary["redis"]["config"])
    original_redis_config = redis_config.read_text()
    admin = pg(lab)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {REPORTER} LOGIN PASSWORD %s", (REPORTER_PASSWORD,))
        for name in LOGGING:
            cursor.execute(f"ALTER SYSTEM RESET {name}")
        cursor.execute("SELECT pg_reload_conf()")
    cache = redis_admin(lab)
    cache.acl_setuser(READER, enabled=True, passwords=["+" + READER_PASSWORD], keys=["*"], commands=["+@read", "+ping"])
    acllog_before = cache.config_get("acllog-max-len")["acllog-max-len"]
    plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())
    plan["dr_plan"]["security"].update({
        "extra_logging": ["orders-db", "sessions"],
        "revoke_logins": [{"component": "orders-db", "users": [app["database_user"], REPORTER]},
                          {"component": "sessions", "users": [primary["redis"]["app_user"], READER]}],
        "quarantine": {"security_groups": [{"instance_ids": [quarantine["instance"]],
                                            "quarantine_group_id": quarantine["quarantine_group"], "aws": aws}]},
        "team_notifications": [{"type": "webhook", "url": security_team[0]}],
    })
    yield {"plan": plan, "app": app, "acllog_before": acllog_before, "original": environment(app["environment_file"])}

    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (REPORTER,))
        cursor.execute(f"DROP ROLE IF EXISTS {REPORTER}")
        for name in LOGGING:
            cursor.execute(f"ALTER SYSTEM RESET {name}")
        cursor.execute("SELECT pg_reload_conf()")
    admin.close()
    cache.acl_deluser(READER)
    cache.config_set("acllog-max-len", acllog_before)
    put_back_app_credentials(lab, original_file, original_redis_config)
    for name in ("api", "worker"):
        lab_ctl(app["services"][name]["ctl"], "restart")


def test_incident_isolates_logs_more_and_the_closing_run_puts_everything_back(
        ansible, lab, incident, quarantine, security_team, tmp_path):
    plan, app = incident["plan"], incident["app"]
    ec2, instance = quarantine["ec2"], quarantine["instance"]
    redis_user = lab["sites"]["primary"]["redis"]["app_user"]
    state, reports = tmp_path / "state", tmp_path / "reports"
    env = {"DR_STATE_DIR": str(state)}
    record = state / "incident" / "shopfront.json"
    before = logging_settings(lab)
    assert before == {"log_connections": "off", "log_disconnections": "off", "log_statement": "none"}

    preview = ansible.playbook(PLAYBOOK, {**plan, "dr_report_dir": str(reports)}, check=True, env=env)
    assert preview.ok, preview.tail()
    actions = [action for result in preview.results() for action in result.get("actions") or []]
    assert "set log_connections = on (was off)" in actions
    assert f"refuse logins of role {REPORTER} (NOLOGIN) and end its sessions" in actions
    assert f"turn ACL user {READER} off and end its connections" in actions
    assert any(action.startswith(f"quarantine {instance} ") for action in actions)
    assert logging_settings(lab) == before, "check mode must change no setting"
    assert pg_login(lab, REPORTER, REPORTER_PASSWORD) and redis_login(lab, READER, READER_PASSWORD)
    assert instance_groups(ec2, instance) == quarantine["groups"]
    assert not record.exists() and not reports.exists() and security_team[1] == []

    run = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes", "dr_report_dir": str(reports)}, env=env)
    assert run.ok, run.tail()
    assert logging_settings(lab) == {"log_connections": "on", "log_disconnections": "on", "log_statement": "ddl"}
    assert int(redis_admin(lab).config_get("acllog-max-len")["acllog-max-len"]) == 1024
    assert not pg_login(lab, REPORTER, REPORTER_PASSWORD), "the refused role must not log in"
    assert not redis_login(lab, READER, READER_PASSWORD), "the Redis user turned off must not log in"
    assert pg_login(lab, lab["sites"]["primary"]["postgresql"]["user"], lab["sites"]["primary"]["postgresql"]["password"])
    rotated = environment(app["environment_file"])
    assert pg_login(lab, app["database_user"], rotated["SHOPFRONT_DB_PASSWORD"], app["database"]), \
        "a refused login that was rotated logs in again with its new password"
    assert redis_login(lab, redis_user, rotated["SHOPFRONT_REDIS_PASSWORD"])
    assert instance_groups(ec2, instance) == [quarantine["quarantine_group"]]
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    recorded = json.loads(record.read_text())
    assert sorted(recorded["quarantine"]["security_groups"].values()) == [quarantine["groups"]]
    assert recorded["components"]["orders-db"]["users"] == [REPORTER]
    message = list(reports.glob("shopfront-*-affected-users.md"))
    assert len(message) == 1 and "Security incident at shopfront" in message[0].read_text()
    assert stat.S_IMODE(message[0].stat().st_mode) == 0o600
    assert [event["event"] for event in security_team[1]] == ["alert"]
    assert REPORTER in security_team[1][0]["message"]
    for secret in (rotated["SHOPFRONT_DB_PASSWORD"], rotated["SHOPFRONT_REDIS_PASSWORD"], plan["dr_plan"]["security"]
                   ["quarantine"]["security_groups"][0]["aws"]["secret_key"]):
        assert secret not in run.stdout and secret not in record.read_text()

    closing = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes", "incident_phase": "close"}, env=env)
    assert closing.ok, closing.tail()
    assert logging_settings(lab) == before
    assert redis_admin(lab).config_get("acllog-max-len")["acllog-max-len"] == incident["acllog_before"]
    assert pg_login(lab, REPORTER, REPORTER_PASSWORD) and redis_login(lab, READER, READER_PASSWORD)
    assert pg_login(lab, app["database_user"], rotated["SHOPFRONT_DB_PASSWORD"], app["database"])
    assert instance_groups(ec2, instance) == quarantine["groups"]
    assert not record.exists() and len(list(record.parent.glob("shopfront-closed-*.json"))) == 1
    assert [event["event"] for event in security_team[1]] == ["alert", "end"]

    closed_again = ansible.playbook(PLAYBOOK, {**plan, "confirm": "yes", "incident_phase": "close"}, env=env)
    assert closed_again.ok, closed_again.tail()
    assert "nothing to put back" in closed_again.stdout


def test_pg_incident_mode_check_apply_again_and_close(ansible, lab):
    """The module on its own: check mode changes nothing, a second run keeps the values from before the incident and
    changes nothing, the responders' login is refused in users, closing puts back what was recorded."""
    server = lab["sites"]["primary"]["postgresql"]
    connection = {"login_host": server["host"], "login_port": server["port"], "login_user": server["user"],
                  "login_password": server["password"]}
    admin = pg(lab)
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {REPORTER} LOGIN PASSWORD %s", (REPORTER_PASSWORD,))
    try:
        before = logging_settings(lab)
        incident = {**connection, "users": [REPORTER]}
        check, applied = ansible.sequence([
            ("resilience.dr.pg_incident_mode", incident, {"check": True}),
            ("resilience.dr.pg_incident_mode", incident),
        ])
        assert check["changed"] and check["actions"] == applied["actions"] and not applied["failed"]
        assert not pg_login(lab, REPORTER, REPORTER_PASSWORD)
        recorded = applied["recorded"]
        assert recorded["settings"]["log_connections"] == {"value": before["log_connections"], "altered": False}
        again, check_again, responder = ansible.sequence([
            ("resilience.dr.pg_incident_mode", {**incident, "recorded": recorded}),
            ("resilience.dr.pg_incident_mode", {**incident, "recorded": recorded}, {"check": True}),
            ("resilience.dr.pg_incident_mode", {**connection, "users": [server["user"]], "logging": False}),
        ])
        assert not again["changed"] and again["recorded"] == recorded and not check_again["changed"]
        assert responder["failed"] and "the role this run connects as" in responder["msg"]
        closed, closed_again = ansible.sequence([
            ("resilience.dr.pg_incident_mode", {**connection, "state": "closed", "recorded": recorded}),
            ("resilience.dr.pg_incident_mode", {**connection, "state": "closed", "recorded": {}}),
        ])
        assert closed["changed"] and closed["recorded"] == {"settings": {}, "users": []}
        assert not closed_again["changed"]
        assert logging_settings(lab) == before and pg_login(lab, REPORTER, REPORTER_PASSWORD)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP ROLE IF EXISTS {REPORTER}")
            for name in LOGGING:
                cursor.execute(f"ALTER SYSTEM RESET {name}")
            cursor.execute("SELECT pg_reload_conf()")
        admin.close()


def nft_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True, check=False)


def test_the_nftables_quarantine_rule_set_is_valid(tmp_path):
    """The rule set the role writes, checked by nft -c (which parses and checks it against the kernel without loading
    it). Loading it needs root on the host and would change this machine's firewall, so the drop itself is untested."""
    if shutil.which("nft") is None or nft_check(Path("/dev/null")).returncode != 0:
        pytest.skip("nft is not installed or may not talk to the kernel here (it needs CAP_NET_ADMIN even to check)")
    template = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE_TEMPLATES), keep_trailing_newline=True,
                                  trim_blocks=True).get_template("quarantine.nft.j2")
    rules = template.render(security_incident_quarantine_item={
        "host": "api1", "allow": [{"source": "192.0.2.10/32", "ports": [22, 5432]}, {"source": "2001:db8::/64"}]})
    path = tmp_path / "quarantine.nft"
    path.write_text(rules)
    checked = nft_check(path)
    assert checked.returncode == 0, checked.stderr
    assert "policy drop;" in rules and "ip saddr 192.0.2.10/32 tcp dport { 22, 5432 } accept" in rules
    assert "ip6 saddr 2001:db8::/64 accept" in rules
    path.write_text(rules.replace("policy drop;", "policy dropp;"))
    assert nft_check(path).returncode != 0, "nft -c must refuse a broken rule set"
