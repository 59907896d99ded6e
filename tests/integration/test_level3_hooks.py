# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A whole level 3 run and its failback on the lab, with a recovery hook at every phase and the application's name
a Route 53 alias of a failover routing pair (moto server): level3_site.yml restores every component on the secondary,
its after_restore hook (a migration) writes into the restored database, the services start, the PRIMARY record set
of the pair becomes an alias of the secondary site's load balancer, and the after_failover hook (a monitoring
update) reads it there; failback.yml brings the data back to the primary, points the record set back at the
primary's load balancer and runs the after_failback hook. Every hook appends to one journal, so the journal gives
the order; the dr_report report lists each hook with its output. Check mode first: only the check_safe hook runs,
the others are listed as skipped and nothing is written.

moto answers the Route 53 API but has no name servers, so the records are read back through the API (as the
dns_failover module verifies an alias or a failover record set); the load balancers are names only, and the health
gates check the lab's application on each site instead."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
import uuid
from pathlib import Path

import boto3
import psycopg2
import pytest
import yaml

from .conftest import LAB_DIR, Ansible

ROWS = 800
ALB_PRIMARY = {"dns_name": "dualstack.shopfront-primary-1.us-east-1.elb.amazonaws.com", "hosted_zone_id": "Z35SXDOTRQ7X7K",
               "evaluate_target_health": True}
ALB_SECONDARY = {"dns_name": "dualstack.shopfront-secondary-2.eu-west-1.elb.amazonaws.com",
                 "hosted_zone_id": "Z32O12XQLNTSW2", "evaluate_target_health": True}
# Appends a line (the words given) to the journal argv[1].
JOURNAL = "import sys; open(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')"
# The migration: on the database of the JSON settings argv[1], records migration 42 and counts the orders it finds,
# prints the count and journals it (argv[2]).
MIGRATE = (
    "import json, sys, psycopg2; connection = psycopg2.connect(**json.load(open(sys.argv[1]))); "
    "cursor = connection.cursor(); "
    "cursor.execute('CREATE TABLE IF NOT EXISTS test_migrations (version integer PRIMARY KEY)'); "
    "cursor.execute('INSERT INTO test_migrations VALUES (42) ON CONFLICT DO NOTHING'); "
    "cursor.execute('SELECT count(*) FROM test_orders'); orders = cursor.fetchone()[0]; connection.commit(); "
    "print(f'migration 42 applied; {orders} orders'); "
    "open(sys.argv[2], 'a').write(f'after_restore apply migrations {orders}\\n')"
)
# The monitoring update: reads what the PRIMARY record set of the pair aliases now (Route 53 API settings in the
# JSON file argv[1]), prints it and journals it (argv[2]) after the phase's name (argv[3]).
MONITOR = (
    "import json, sys, boto3; settings = json.load(open(sys.argv[1])); zone = settings.pop('zone'); "
    "record = settings.pop('record'); client = boto3.client('route53', **settings); "
    "found = client.list_resource_record_sets(HostedZoneId=zone)['ResourceRecordSets']; "
    "[target] = [item['AliasTarget']['DNSName'].rstrip('.') for item in found "
    " if item['Name'] == record + '.' and item.get('SetIdentifier') == 'app-primary']; "
    "print(f'monitoring now watches {target}'); open(sys.argv[2], 'a').write(f'{sys.argv[3]} monitoring {target}\\n')"
)


def connect(server: dict[str, t.Any], dbname: str = "shopfront"):
    connection = psycopg2.connect(host=server["host"], port=server["port"], user=server["user"],
                                  password=server["password"], dbname=dbname, connect_timeout=5)
    connection.autocommit = True
    return connection


def query(server: dict[str, t.Any], sql: str) -> t.Any:
    with connect(server) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


@pytest.fixture(scope="module")
def route53(lab):
    aws = lab["aws"]
    return boto3.client("route53", endpoint_url=aws["endpoint_url"], region_name=aws["region"],
                        aws_access_key_id=aws["access_key"], aws_secret_access_key=aws["secret_key"])


def alias_target(route53, zone: dict[str, str], identifier: str) -> str | None:
    for item in route53.list_resource_record_sets(HostedZoneId=zone["id"])["ResourceRecordSets"]:
        if item["Name"] == zone["record"] + "." and item.get("SetIdentifier") == identifier:
            return item["AliasTarget"]["DNSName"].rstrip(".")
    return None


@pytest.fixture(scope="module")
def zone(route53):
    """A hosted zone whose app record is a failover pair: PRIMARY an alias of the primary site's load balancer,
    SECONDARY an alias of the secondary's; removed afterwards."""
    name = f"dr-{uuid.uuid4().hex[:8]}.test"
    zone_id = route53.create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()))["HostedZone"]["Id"].split("/")[-1]
    record = f"app.{name}"

    def record_set(identifier: str, role: str, target: dict[str, t.Any]) -> dict[str, t.Any]:
        return {"Name": record + ".", "Type": "A", "SetIdentifier": identifier, "Failover": role, "AliasTarget": {
            "HostedZoneId": target["hosted_zone_id"], "DNSName": target["dns_name"], "EvaluateTargetHealth": True}}

    # UPSERT, not CREATE: see test_dns_failover.hosted_zone.
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": record_set("app-primary", "PRIMARY", ALB_PRIMARY)},
        {"Action": "UPSERT", "ResourceRecordSet": record_set("app-secondary", "SECONDARY", ALB_SECONDARY)},
    ]})
    yield {"name": name, "id": zone_id, "record": record}
    for item in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]:
        if item["Type"] not in ("SOA", "NS"):
            route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": item}]})
    route53.delete_hosted_zone(Id=zone_id)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("level3-hooks")


@pytest.fixture(scope="module")
def hooked(lab, zone, workdir) -> dict[str, t.Any]:
    """The lab's plan with its name on Route 53 (the alias pair above) and a hook at every phase, each journaling."""
    plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())
    dr_plan = plan["dr_plan"]
    aws = lab["aws"]
    health = dr_plan["dns"]["records"][0]["health_check"]
    dr_plan["dns"] = {
        "provider": "route53", "zone": zone["name"], "endpoint_url": aws["endpoint_url"], "region": aws["region"],
        "access_key": aws["access_key"], "secret_key": aws["secret_key"], "max_rpo_seconds": 900,
        "records": [{"record": zone["record"], "type": "A", "set_identifier": "app-primary",
                     "alias": {"primary": ALB_PRIMARY, "secondary": ALB_SECONDARY}, "health_check": health}],
    }
    journal = workdir / "journal"
    secondary = lab["sites"]["secondary"]["postgresql"]
    database = workdir / "secondary-db.json"
    database.write_text(json.dumps({"host": secondary["host"], "port": secondary["port"], "user": secondary["user"],
                                    "password": secondary["password"], "dbname": "shopfront"}))
    api = workdir / "route53.json"
    api.write_text(json.dumps({"zone": zone["id"], "record": zone["record"], "endpoint_url": aws["endpoint_url"],
                               "region_name": aws["region"], "aws_access_key_id": aws["access_key"],
                               "aws_secret_access_key": aws["secret_key"]}))
    for path in (database, api):
        path.chmod(0o600)

    def note(*words: str) -> list[str]:
        return [sys.executable, "-c", JOURNAL, str(journal), *words]

    dr_plan["hooks"] = {
        "before_restore": [{"name": "silence the primary's alerts", "command": note("before_restore", "silence alerts")},
                           {"name": "check the runbook", "command": note("before_restore", "checked"), "check_safe": True}],
        "before_failover": [{"name": "announce the failover", "command": note("before_failover", "announce")}],
        "after_failover": [{"name": "point monitoring at the new site", "timeout": "1m",
                            "command": [sys.executable, "-c", MONITOR, str(api), str(journal), "after_failover"]}],
    }
    dr_plan["sites"]["secondary"]["hooks"] = {"after_restore": [{
        "name": "apply migrations", "command": [sys.executable, "-c", MIGRATE, str(database), str(journal)]}]}
    dr_plan["sites"]["primary"]["hooks"] = {"after_failback": [{
        "name": "point monitoring back", "command": [sys.executable, "-c", MONITOR, str(api), str(journal), "after_failback"]}]}
    return plan


@pytest.fixture(scope="module")
def backed_up(lab, hooked, workdir) -> None:
    """ROWS orders on the primary, every component backed up and copied to the secondary's repository."""
    with connect(lab["sites"]["primary"]["postgresql"]) as connection, connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS test_migrations")
        cursor.execute("CREATE TABLE IF NOT EXISTS test_orders (id integer PRIMARY KEY, item text NOT NULL)")
        cursor.execute("TRUNCATE test_orders")
        cursor.execute(f"INSERT INTO test_orders SELECT g, 'item ' || g FROM generate_series(1, {ROWS}) g")
        cursor.execute("GRANT ALL ON test_orders TO shopfront")
    run = Ansible(workdir / "backup").playbook("playbooks/backup.yml", hooked)
    assert run.ok, run.tail()


def reported(ansible: Ansible, playbook: str, plan: dict[str, t.Any], workdir: Path, name: str, check: bool = False):
    """Runs the playbook with the dr_report callback; the run, its report.json and report.md."""
    reports = workdir / f"reports-{name}"
    extravars = {**plan, **({} if check else {"confirm": "yes"})}
    run = ansible.playbook(playbook, extravars, check=check, env={
        "DR_REPORT_DIR": str(reports), "DR_STATE_DIR": str(workdir / "state"),
        "ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report"})
    [directory] = [path.parent for path in reports.glob("*/report.json")]
    return run, json.loads((directory / "report.json").read_text()), (directory / "report.md").read_text()


def journal(workdir: Path) -> list[str]:
    path = workdir / "journal"
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module")
def sites_back(lab, hooked):
    """Whatever the runs did: the secondary thawed (as its settings were), its Redis emptied and its services stopped,
    the primary's services running."""
    import redis

    secondary = lab["sites"]["secondary"]
    cache = redis.Redis(host=secondary["redis"]["host"], port=secondary["redis"]["port"], password=secondary["redis"]["password"])
    replica_settings = cache.config_get("min-replicas-*")
    yield
    cache.config_set("min-replicas-to-write", replica_settings["min-replicas-to-write"])
    cache.config_set("min-replicas-max-lag", replica_settings["min-replicas-max-lag"])
    # The keys the level 3 run restored there: a later restore onto the secondary adds its backup's keys to what the
    # server holds, and a drill or scenario that compares the secondary key for key would count these as its own.
    cache.flushall()
    with connect(secondary["postgresql"], "postgres") as admin, admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'shopfront'")
        if cursor.fetchone() is not None:
            cursor.execute("ALTER DATABASE shopfront RESET default_transaction_read_only")
            cursor.execute("ALTER DATABASE shopfront RESET resilience_dr.write_freeze")
    for service in ("api", "worker"):
        subprocess.run([secondary["app"]["services"][service]["ctl"], "stop"], check=False, capture_output=True)
    for service in hooked["dr_plan"]["services"]:
        subprocess.run(service["start_command"], check=False, capture_output=True)
    # The migration's table, wherever the runs took it.
    for site in ("primary", "secondary"):
        try:
            connection = connect(lab["sites"][site]["postgresql"])
        except psycopg2.OperationalError:  # no shopfront database there: the level 3 run never restored it
            continue
        with connection, connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS test_migrations")
        connection.close()


def test_level3_check_mode_runs_only_the_check_safe_hook_and_lists_the_others(ansible, route53, zone, hooked, backed_up,
                                                                              workdir, sites_back):
    run, report, _markdown = reported(ansible, "playbooks/level3_site.yml", hooked, workdir, "check", check=True)

    assert run.ok, run.tail()
    assert journal(workdir) == ["before_restore checked"], "check mode ran a hook not marked check_safe"
    assert alias_target(route53, zone, "app-primary") == ALB_PRIMARY["dns_name"]
    assert [(hook["stage"], hook["name"], hook["skipped"]) for hook in report["hooks"]] == [
        ("before_restore", "silence the primary's alerts", True),
        ("before_restore", "check the runbook", False),
        ("after_restore", "apply migrations", True),
        ("before_failover", "announce the failover", True),
        ("after_failover", "point monitoring at the new site", True),
    ]
    said = [" ".join(result["msg"].split()) for result in run.results() if str(result["_task"]).startswith("Say which hook")]
    assert "Check mode: skipped the after_restore hook 'apply migrations' of site secondary on localhost (not check_safe); " \
        f"it would run {sys.executable} -c" in said[1], said


@pytest.fixture(scope="module")
def failed_over(ansible_module, hooked, backed_up, workdir, sites_back):
    (workdir / "journal").unlink(missing_ok=True)  # what the check run wrote
    return reported(ansible_module, "playbooks/level3_site.yml", hooked, workdir, "level3")


@pytest.fixture(scope="module")
def ansible_module(workdir) -> Ansible:
    return Ansible(workdir / "runs")


def test_level3_runs_the_hooks_in_order_the_migration_on_the_restored_data(lab, route53, zone, failed_over, workdir):
    run, report, markdown = failed_over

    assert run.ok, run.tail()
    # Each hook at its phase: the migration found the restored orders, the monitoring update the moved alias.
    assert journal(workdir) == [
        "before_restore silence alerts",
        "before_restore checked",
        f"after_restore apply migrations {ROWS}",
        "before_failover announce",
        f"after_failover monitoring {ALB_SECONDARY['dns_name']}",
    ]
    secondary = lab["sites"]["secondary"]["postgresql"]
    assert query(secondary, "SELECT count(*) FROM test_migrations WHERE version = 42") == 1, "the migration's row stands"
    assert query(secondary, "SELECT count(*) FROM test_orders") == ROWS
    # The PRIMARY record set of the pair aliases the secondary's load balancer; the SECONDARY one is untouched.
    assert alias_target(route53, zone, "app-primary") == ALB_SECONDARY["dns_name"]
    assert alias_target(route53, zone, "app-secondary") == ALB_SECONDARY["dns_name"]
    assert [(hook["stage"], hook["scope"], hook["name"], hook["rc"], hook["failed"], hook["skipped"])
            for hook in report["hooks"]] == [
        ("before_restore", "the plan", "silence the primary's alerts", 0, False, False),
        ("before_restore", "the plan", "check the runbook", 0, False, False),
        ("after_restore", "site secondary", "apply migrations", 0, False, False),
        ("before_failover", "the plan", "announce the failover", 0, False, False),
        ("after_failover", "the plan", "point monitoring at the new site", 0, False, False),
    ]
    assert report["hooks"][2]["stdout_tail"] == f"migration 42 applied; {ROWS} orders"
    assert report["hooks"][4]["stdout_tail"] == f"monitoring now watches {ALB_SECONDARY['dns_name']}"
    assert "| apply migrations | localhost | ok, exit status 0 |" in markdown
    assert f"monitoring now watches {ALB_SECONDARY['dns_name']} |" in markdown
    # The restores ran between the before_restore and the after_restore hooks, DNS between the failover hooks.
    restores = [event for event in report["events"] if event["kind"] == "restore"]
    assert {event["component"] for event in restores} >= {"orders-db", "sessions", "uploads"}
    recorded = json.loads(next((workdir / "state").glob("*-dns-previous.json")).read_text())
    assert recorded == {zone["record"]: {"value": [], "ttl": None, "alias": ALB_PRIMARY}}


def test_failback_points_the_alias_back_and_runs_the_after_failback_hook(
        lab, route53, zone, hooked, failed_over, ansible_module, workdir):
    assert failed_over[0].ok, "the level 3 run failed; see its own test"
    run, report, markdown = reported(ansible_module, "playbooks/failback.yml", hooked, workdir, "failback")

    assert run.ok, run.tail()
    assert alias_target(route53, zone, "app-primary") == ALB_PRIMARY["dns_name"]
    assert journal(workdir)[-1] == f"after_failback monitoring {ALB_PRIMARY['dns_name']}"
    # The data came back with the failback: the migration made on the secondary is on the primary now.
    assert query(lab["sites"]["primary"]["postgresql"], "SELECT count(*) FROM test_migrations WHERE version = 42") == 1
    [hook] = report["hooks"]
    assert (hook["stage"], hook["scope"], hook["name"], hook["rc"], hook["failed"]) == (
        "after_failback", "site primary", "point monitoring back", 0, False)
    assert hook["stdout_tail"] == f"monitoring now watches {ALB_PRIMARY['dns_name']}"
    assert f"monitoring now watches {ALB_PRIMARY['dns_name']} |" in markdown
