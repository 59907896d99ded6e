# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Recovery hooks (hooks.<phase> of the plan, a site and a component) in the level playbooks on the lab: the
before_restore and after_restore hooks of a level 1 run in order around the restore (the after_restore hook reads
the restored database), the report lists them with their output; check mode runs only check_safe hooks; a failed
after_restore hook still lets the other after_restore hooks run and fails the run naming it; the after_failover
hooks of level 3 run after DNS answers with the secondary (the DNS stage alone, the fastest run that moves DNS)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import typing as t
from datetime import datetime
from pathlib import Path

import psycopg2
import pytest
import yaml

from .conftest import LAB_DIR
from .lab_dns import answer, set_record

# Writes the wall clock (epoch seconds) and the words given to a file.
STAMP = "import sys, time; open(sys.argv[1], 'w').write(f'{time.time()} {\" \".join(sys.argv[2:])}')"
# Counts the rows of test_orders (connection settings in the JSON file argv[1]), prints the count and writes it,
# with the wall clock, to argv[2].
COUNT = (
    "import json, sys, time, psycopg2; settings = json.load(open(sys.argv[1])); "
    "connection = psycopg2.connect(**settings); cursor = connection.cursor(); "
    "cursor.execute('SELECT count(*) FROM test_orders'); rows = cursor.fetchone()[0]; "
    "print(f'orders in the database: {rows}'); open(sys.argv[2], 'w').write(f'{time.time()} {rows}')"
)
ROWS = 1500
# Prints the authoritative answer of a DNS server (argv: server, port, name).
DIG = (
    "import sys, dns.message, dns.query; query = dns.message.make_query(sys.argv[3], 'A'); "
    "response = dns.query.tcp(query, sys.argv[1], port=int(sys.argv[2]), timeout=5); "
    "print(' '.join(sorted(rdata.to_text() for rrset in response.answer for rdata in rrset)))"
)


@pytest.fixture(scope="module")
def plan(lab) -> dict[str, t.Any]:
    return yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())


def database(lab: dict[str, t.Any]):
    primary = lab["sites"]["primary"]["postgresql"]
    connection = psycopg2.connect(host=primary["host"], port=primary["port"], user=primary["user"],
                                  password=primary["password"], dbname="shopfront", connect_timeout=5)
    connection.autocommit = True
    return connection


def rows(lab: dict[str, t.Any]) -> int:
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM test_orders")
        return cursor.fetchone()[0]


@pytest.fixture(scope="module")
def backed_up(lab, plan, tmp_path_factory) -> None:
    """ROWS orders in the database, backed up (orders-db alone)."""
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS test_orders (id integer PRIMARY KEY, item text NOT NULL)")
        cursor.execute("TRUNCATE test_orders")
        cursor.execute(f"INSERT INTO test_orders SELECT g, 'item ' || g FROM generate_series(1, {ROWS}) g")
        cursor.execute("GRANT ALL ON test_orders TO shopfront")
    from .conftest import Ansible
    run = Ansible(tmp_path_factory.mktemp("backup")).playbook(
        "playbooks/backup.yml", {**plan, "components": ["orders-db"], "backup_copy_to_sites": False})
    assert run.ok, run.tail()


@pytest.fixture
def damaged(lab, plan, backed_up):
    """The database lost most of its orders; the services are started again after the test, whatever it did."""
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM test_orders WHERE id > 100")
    yield
    for service in plan["dr_plan"]["services"]:
        subprocess.run(service["start_command"], check=False, capture_output=True)


def stamp(path: Path, *words: str) -> list[str]:
    return [sys.executable, "-c", STAMP, str(path), *words]


def count(lab: dict[str, t.Any], settings: Path, path: Path) -> list[str]:
    """A hook command that counts the orders in the database, prints the count and writes it to path."""
    primary = lab["sites"]["primary"]["postgresql"]
    settings.write_text(json.dumps({"host": primary["host"], "port": primary["port"], "user": primary["user"],
                                    "password": primary["password"], "dbname": "shopfront"}))
    settings.chmod(0o600)
    return [sys.executable, "-c", COUNT, str(settings), str(path)]


def written(path: Path) -> tuple[float, str]:
    moment, words = path.read_text().split(" ", 1)
    return float(moment), words


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def component(plan: dict[str, t.Any], name: str) -> dict[str, t.Any]:
    return next(item for item in plan["dr_plan"]["components"] if item["name"] == name)


def level1(ansible, plan, tmp_path, check=False):
    """Level 1 on orders-db with the dr_report callback; the run and its report."""
    reports = tmp_path / "reports"
    extravars = {**plan, "component": "orders-db", **({} if check else {"confirm": "yes"})}
    run = ansible.playbook("playbooks/level1_component.yml", extravars, check=check, env={
        "DR_REPORT_DIR": str(reports), "ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report"})
    [report] = [json.loads(path.read_text()) for path in reports.glob("*/report.json")]
    return run, report


def test_level1_runs_the_restore_hooks_in_order_around_the_restore_and_reports_them(ansible, lab, plan, damaged, tmp_path):
    hooked = copy.deepcopy(plan)
    hooked["dr_plan"]["hooks"] = {
        "before_restore": [{"name": "silence alerts", "command": stamp(tmp_path / "plan-before", "silenced")}],
        "after_restore": [{"name": "announce", "command": stamp(tmp_path / "plan-after", "announced")}],
    }
    component(hooked, "orders-db")["hooks"] = {
        "before_restore": [{"name": "count before", "command": count(lab, tmp_path / "db.json", tmp_path / "db-before")}],
        "after_restore": [{"name": "apply migrations", "command": count(lab, tmp_path / "db.json", tmp_path / "db-after")}],
    }

    run, report = level1(ansible, hooked, tmp_path)

    assert run.ok, run.tail()
    assert rows(lab) == ROWS
    # The component's before_restore hook saw the damaged database, its after_restore hook the restored one.
    assert written(tmp_path / "db-before")[1] == "100"
    assert written(tmp_path / "db-after")[1] == str(ROWS)
    # Nested: the plan's before the component's before the restore; after it the component's, then the plan's.
    order = [written(tmp_path / name)[0] for name in ("plan-before", "db-before", "db-after", "plan-after")]
    assert order == sorted(order)
    restore = next(event for event in report["events"] if event["kind"] == "restore")
    assert written(tmp_path / "db-before")[0] <= epoch(restore["start"]) < epoch(restore["end"]) <= written(tmp_path / "db-after")[0]
    assert [(hook["stage"], hook["scope"], hook["name"], hook["rc"], hook["failed"]) for hook in report["hooks"]] == [
        ("before_restore", "the plan", "silence alerts", 0, False),
        ("before_restore", "component orders-db", "count before", 0, False),
        ("after_restore", "component orders-db", "apply migrations", 0, False),
        ("after_restore", "the plan", "announce", 0, False),
    ]
    assert report["hooks"][2]["stdout_tail"] == f"orders in the database: {ROWS}"
    markdown = next((tmp_path / "reports").glob("*/report.md")).read_text()
    assert "| apply migrations | localhost | ok, exit status 0 |" in markdown
    assert f"orders in the database: {ROWS} |" in markdown


def test_level1_check_mode_runs_only_check_safe_hooks_and_lists_the_others(ansible, lab, plan, damaged, tmp_path):
    hooked = copy.deepcopy(plan)
    hooked["dr_plan"]["hooks"] = {"after_restore": [{"name": "announce", "command": stamp(tmp_path / "announced")}]}
    component(hooked, "orders-db")["hooks"] = {
        "before_restore": [{"name": "check the schema", "check_safe": True, "command": stamp(tmp_path / "checked")}],
        "after_restore": [{"name": "apply migrations", "command": stamp(tmp_path / "migrated")}],
    }

    run, report = level1(ansible, hooked, tmp_path, check=True)

    assert run.ok, run.tail()
    assert rows(lab) == 100, "check mode restores nothing"
    assert (tmp_path / "checked").exists(), "a check_safe hook runs in check mode"
    assert not (tmp_path / "migrated").exists() and not (tmp_path / "announced").exists()
    said = [" ".join(result["msg"].split()) for result in run.results() if str(result["_task"]).startswith("Say which hook")]
    assert said == [
        f"Check mode: skipped the after_restore hook 'apply migrations' of component orders-db on localhost (not check_safe); "
        f"it would run {' '.join(stamp(tmp_path / 'migrated'))}",
        f"Check mode: skipped the after_restore hook 'announce' of the plan on localhost (not check_safe); "
        f"it would run {' '.join(stamp(tmp_path / 'announced'))}",
    ]
    assert [(hook["name"], hook["skipped"]) for hook in report["hooks"]] == [
        ("check the schema", False), ("apply migrations", True), ("announce", True)]


def test_a_failed_after_restore_hook_lets_the_others_run_and_fails_naming_it(ansible, lab, plan, damaged, tmp_path):
    hooked = copy.deepcopy(plan)
    hooked["dr_plan"]["hooks"] = {"after_restore": [{"name": "announce", "command": stamp(tmp_path / "announced")}]}
    component(hooked, "orders-db")["hooks"] = {"after_restore": [
        {"name": "apply migrations", "command": [sys.executable, "-c", "import sys; sys.exit('migration 42 failed')"]},
        {"name": "warm the cache", "command": stamp(tmp_path / "warmed")},
    ]}

    run, report = level1(ansible, hooked, tmp_path)

    assert not run.ok
    assert rows(lab) == ROWS, "the restore before the hook stands"
    assert (tmp_path / "warmed").exists() and (tmp_path / "announced").exists(), "every after_restore hook runs"
    message = " ".join(run.stdout.split())
    assert ("The after_restore hook 'apply migrations' of component orders-db on localhost failed with exit status 1: "
            "migration 42 failed (after the restore, which stands; the other after_restore hooks ran)") in message
    assert "recovery stopped at" in message and "Manual next step" in message
    assert [(hook["name"], hook["failed"]) for hook in report["hooks"]] == [
        ("apply migrations", True), ("warm the cache", False), ("announce", False)]


@pytest.fixture
def dns_back(lab):
    yield
    set_record(lab, [lab["sites"]["primary"]["address"]], 300)


def dig(lab: dict[str, t.Any]) -> list[str]:
    """A hook command that prints what the lab's BIND answers for the application's record."""
    return [sys.executable, "-c", DIG, lab["dns"]["server"], str(lab["dns"]["port"]), lab["dns"]["record"]]


def test_level3_runs_the_failover_hooks_around_the_dns_change(ansible, lab, plan, dns_back, tmp_path):
    primary, secondary = lab["sites"]["primary"]["address"], lab["sites"]["secondary"]["address"]
    set_record(lab, [primary], 300)
    hooked = copy.deepcopy(plan)
    hooked["dr_plan"]["hooks"] = {"after_failover": [{"name": "point monitoring at the secondary",
                                                      "command": stamp(tmp_path / "plan-after")}]}
    hooked["dr_plan"]["sites"]["secondary"]["hooks"] = {
        "before_failover": [{"name": "record before", "command": dig(lab)}],
        "after_failover": [{"name": "record after", "command": dig(lab)},
                           {"name": "warm the caches", "command": stamp(tmp_path / "site-after")}],
    }
    # Only the DNS stage (the AWX workflow's last stage), without the gates: the quickest run that moves DNS.
    run = ansible.playbook("playbooks/level3_site.yml", {**hooked, "confirm": "yes", "skip_gates": ["rpo", "health"]},
                           tags="dns_failover")

    assert run.ok, run.tail()
    assert answer(lab)[0] == [secondary]
    before = [result["msg"] for result in run.results("Show each recovery hook run - before_failover")[0]["results"]]
    after = [result["msg"] for result in run.results("Show each recovery hook run - after_failover")[0]["results"]]
    # The before_failover hook saw the primary's address, the after_failover hook the secondary's.
    assert [message.split(": ok")[0] for message in before] == ["site secondary before_failover 'record before' on localhost"]
    assert before[0].endswith(f"output: {primary}")
    assert [message.split(": ok")[0] for message in after] == [
        "site secondary after_failover 'record after' on localhost",
        "site secondary after_failover 'warm the caches' on localhost",
        "the plan after_failover 'point monitoring at the secondary' on localhost",
    ]
    assert after[0].endswith(f"output: {secondary}")
    assert written(tmp_path / "site-after")[0] <= written(tmp_path / "plan-after")[0]
