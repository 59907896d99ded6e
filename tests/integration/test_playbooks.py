# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recovery playbooks end to end on the lab's shopfront plan: backup,
level 1 and level 2 restores with verification and service order, check mode
that changes nothing, confirmation, and the escalation summary on failure.
(Level 3, failback and each disaster kind run as drills in test_drill.py.)"""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import typing as t
import urllib.request
from pathlib import Path

import psycopg2
import pytest
import redis
import yaml

from .conftest import LAB_DIR


@pytest.fixture(scope="module")
def plan(lab) -> dict[str, t.Any]:
    return yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())


def database(lab: dict, dbname: str = "shopfront"):
    primary = lab["sites"]["primary"]["postgresql"]
    connection = psycopg2.connect(host=primary["host"], port=primary["port"], user=primary["user"],
                                  password=primary["password"], dbname=dbname, connect_timeout=5)
    connection.autocommit = True
    return connection


def cache(lab: dict) -> redis.Redis:
    primary = lab["sites"]["primary"]["redis"]
    return redis.Redis(host=primary["host"], port=primary["port"], password=primary["password"])


def snapshot(lab: dict) -> dict[str, t.Any]:
    """What the application's data looks like: rows, keys and files, with checksums."""
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY id), '')) FROM test_orders t")
        orders = cursor.fetchone()
    keys = sorted(cache(lab).scan_iter(match="test:*"))
    values = cache(lab).mget(keys) if keys else []
    uploads = Path(lab["sites"]["primary"]["app"]["uploads"])
    files = {str(path.relative_to(uploads)): hashlib.sha256(path.read_bytes()).hexdigest()
             for path in sorted(uploads.rglob("*")) if path.is_file()}
    return {"orders": orders, "keys": dict(zip(keys, values)), "files": files}


def healthy(lab: dict) -> bool:
    for service in ("api", "worker"):
        try:
            with urllib.request.urlopen(lab["sites"]["primary"]["app"]["services"][service]["url"], timeout=5) as answer:
                if answer.status != 200:
                    return False
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def backed_up(lab, plan, tmp_path_factory) -> dict[str, t.Any]:
    """Seed data on the primary, back it up with playbooks/backup.yml, return the data as backed up."""
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS test_orders (id integer PRIMARY KEY, item text NOT NULL)")
        cursor.execute("TRUNCATE test_orders")
        cursor.execute("INSERT INTO test_orders SELECT g, 'item ' || g FROM generate_series(1, 2000) g")
        cursor.execute("GRANT ALL ON test_orders TO shopfront")
    client = cache(lab)
    client.delete(*client.keys("test:*") or ["test:none"])
    client.mset({f"test:{number}": f"value {number}" for number in range(500)})
    uploads = Path(lab["sites"]["primary"]["app"]["uploads"])
    (uploads / "test").mkdir(parents=True, exist_ok=True)
    for number in range(20):
        (uploads / "test" / f"file-{number}.bin").write_bytes(bytes([number]) * (1000 + number))

    from .conftest import Ansible
    ansible = Ansible(tmp_path_factory.mktemp("backup"))
    run = ansible.playbook("playbooks/backup.yml", plan)
    assert run.ok, run.tail()
    return snapshot(lab)


def test_backup_playbook_backs_up_verifies_and_lists_each_component(ansible, lab, plan, backed_up):
    info = ansible.module("resilience.dr.backup_info", {"repository": plan["dr_plan"]["repository"]["location"]})
    components = {backup["component"] for backup in info["backups"] if backup["status"] == "verified"}
    assert {"orders-db", "sessions", "uploads"} <= components


def test_level1_check_mode_and_confirmation_change_nothing(ansible, lab, plan, backed_up):
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM test_orders WHERE id > 1000")
    damaged = snapshot(lab)

    preview = ansible.playbook("playbooks/level1_component.yml", {**plan, "component": "orders-db"}, check=True)
    assert preview.ok, preview.tail()
    refused = ansible.playbook("playbooks/level1_component.yml", {**plan, "component": "orders-db"})
    assert not refused.ok and "-e confirm=yes" in refused.stdout
    assert snapshot(lab) == damaged and healthy(lab)

    unknown = ansible.playbook("playbooks/level1_component.yml", {**plan, "component": "search", "confirm": "yes"})
    assert not unknown.ok and "search" in unknown.stdout


def test_level1_restores_the_database_verified_and_restarts_its_services(ansible, lab, plan, backed_up):
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("UPDATE test_orders SET item = 'corrupted' WHERE id % 3 = 0")
    run = ansible.playbook("playbooks/level1_component.yml", {**plan, "component": "orders-db", "confirm": "yes"})
    assert run.ok, run.tail()
    assert snapshot(lab)["orders"] == backed_up["orders"]
    assert healthy(lab)
    restored = run.result("Restore and verify the PostgreSQL component - orders-db")
    assert restored["changed"] and restored["backup_id"]
    stops = [result["cmd"][0] for result in run.results() if result.get("cmd") and result["cmd"][-1] == "stop"]
    assert [Path(command).name for command in stops] == ["primary-worker", "primary-api"]


def test_level1_with_an_unknown_backup_escalates_and_changes_nothing(ansible, lab, plan, backed_up):
    before = snapshot(lab)
    try:
        run = ansible.playbook("playbooks/level1_component.yml",
                               {**plan, "component": "uploads", "backup_id": "20200101T000000Z-nope00", "confirm": "yes"})
        assert not run.ok
        assert "recovery stopped at" in run.stdout and "20200101T000000Z-nope00" in run.stdout
        assert "Manual next step" in run.stdout
        assert snapshot(lab)["files"] == before["files"]
    finally:
        start_services(plan)  # the escalation leaves the services it stopped down, for the on-call engineer


def restore_events(report_dir: Path) -> dict[str, dict[str, t.Any]]:
    """Each component's restore in the dr_report timeline of the one run written to report_dir."""
    [report_file] = report_dir.glob("*/report.json")
    report = json.loads(report_file.read_text())
    return {event["component"]: event for event in report["events"] if event["kind"] == "restore"}


def start_services(plan: dict[str, t.Any]) -> None:
    """Start the lab's application again after a run that stopped with its services down."""
    for service in plan["dr_plan"]["services"]:
        subprocess.run(service["start_command"], check=False, capture_output=True)


def event_messages(run, event: str) -> list[str]:
    return [result["ansible_facts"]["notify_document"]["message"] for result in run.results("Describe the event for the hooks")
            if result.get("ansible_facts", {}).get("notify_document", {}).get("event") == event]


def test_level2_failure_in_a_step_lets_the_other_finish_then_escalates_naming_it(ansible, lab, plan, backed_up, tmp_path):
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM test_orders WHERE id > 100")
    (Path(lab["sites"]["primary"]["app"]["uploads"]) / "test" / "file-0.bin").unlink()
    damaged = snapshot(lab)
    broken = copy.deepcopy(plan)
    [sessions] = [component for component in broken["dr_plan"]["components"] if component["name"] == "sessions"]
    # A real fault: the Redis server refuses the restore's login.
    sessions["connection"]["login_password"] = "not-the-password"
    sessions["escalation"] = "Rebuild the sessions cache by hand; users log in again."
    try:
        run = ansible.playbook("playbooks/level2_application.yml", {**broken, "confirm": "yes", "restore_poll_interval": 1},
                               env={"ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report", "DR_REPORT_DIR": str(tmp_path)})
        assert not run.ok
        assert "recovery stopped at" in run.stdout and "Stop before the next step when a restore of this one failed" in run.stdout
        assert "The restore of sessions failed (sessions: " in run.stdout
        assert "orders-db restored and verified (started together: orders-db + sessions)" in run.stdout
        assert "Manual next step: Rebuild the sessions cache by hand" in run.stdout
        after = snapshot(lab)
        # The other member of the step finished and was verified; the next step (uploads) never started.
        assert after["orders"] == backed_up["orders"]
        assert after["files"] == damaged["files"]
        restores = restore_events(tmp_path)
        assert restores["orders-db"]["status"] != "failed"
        assert restores.get("sessions", {"status": "failed"})["status"] == "failed" and "uploads" not in restores
    finally:
        start_services(plan)


def test_level2_restores_every_component_in_order_and_starts_services_in_order(ansible, lab, plan, backed_up, tmp_path):
    # The lab's orders restore in a second or two, less than starting a restore in the background costs; a
    # ballast table makes the database restore last long enough to show the cache restore running beside it.
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS test_ballast")
        cursor.execute("CREATE TABLE test_ballast AS SELECT g AS id, repeat(md5(g::text), 2) AS padding "
                       "FROM generate_series(1, 1200000) g")
    try:
        backup = ansible.playbook("playbooks/backup.yml", {**plan, "components": ["orders-db"]})
        assert backup.ok, backup.tail()
        level2_in_steps(ansible, lab, plan, backed_up, tmp_path / "in-steps")
        level2_compares_until_one_differs(ansible, lab, plan, backed_up, tmp_path / "one-differs")
    finally:
        with database(lab) as connection, connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS test_ballast")


def compared_components(report: dict) -> list[str]:
    """The components a level playbook compared with their backups before it stopped anything (the restore
    tasks it ran in check mode), in order."""
    return [task["name"].rsplit(" - ", 1)[1] for task in report["tasks"]
            if task.get("preview") and task.get("status") != "skipped" and " : Restore and verify the " in task["name"]]


def level2_compares_until_one_differs(ansible, lab, plan, backed_up, tmp_path):
    """After a level 2, the database and the cache match their backups: the comparisons go on past them and
    stop at uploads, the first that differs, and only uploads is restored."""
    lost = next((Path(lab["sites"]["primary"]["app"]["uploads"]) / "test").iterdir())
    lost.unlink()

    run = ansible.playbook("playbooks/level2_application.yml", {**plan, "confirm": "yes"},
                           env={"ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report", "DR_REPORT_DIR": str(tmp_path)})

    assert run.ok, run.tail()
    report = json.loads(next(tmp_path.glob("*/report.json")).read_text())
    assert compared_components(report) == ["orders-db", "sessions", "uploads"]
    assert run.result("Stop the service api").get("changed"), "uploads differed: the services were stopped"
    assert snapshot(lab)["files"] == backed_up["files"] and lost.exists()
    restores = restore_events(tmp_path)
    assert {name: event["changed"] for name, event in restores.items()} == {
        "orders-db": False, "sessions": False, "uploads": True}, restores
    assert healthy(lab)


def level2_in_steps(ansible, lab, plan, backed_up, tmp_path):
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM test_orders")
    cache(lab).flushall()
    for path in (Path(lab["sites"]["primary"]["app"]["uploads"]) / "test").iterdir():
        path.unlink()

    preview = ansible.playbook("playbooks/level2_application.yml", plan, check=True)
    assert preview.ok, preview.tail()
    assert snapshot(lab)["orders"][0] == 0, "check mode restored something"
    [announced] = event_messages(preview, "start")
    assert announced.endswith("orders-db + sessions, then uploads"), announced

    run = ansible.playbook("playbooks/level2_application.yml", {**plan, "confirm": "yes", "restore_poll_interval": 1},
                           env={"ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report", "DR_REPORT_DIR": str(tmp_path)})
    assert run.ok, run.tail()
    after = snapshot(lab)
    assert after["orders"] == backed_up["orders"]
    assert after["keys"] == backed_up["keys"]
    assert after["files"] == backed_up["files"]
    assert healthy(lab)
    restores = restore_events(tmp_path)
    assert set(restores) == {"orders-db", "sessions", "uploads"}
    assert all(event["verified"] is not False and event["status"] != "failed" for event in restores.values())
    database_restore, cache_restore = restores["orders-db"], restores["sessions"]
    # Independent components run at the same time: both restores were started in the background, the cache's
    # without waiting for the database's, and one task then waited for both jobs. Whether their run times
    # overlap also depends on how long a launch takes against how long the restore runs, which a test on a
    # shared machine cannot rely on.
    report = json.loads(next(tmp_path.glob("*/report.json")).read_text())
    assert compared_components(report) == ["orders-db"], "orders-db differs: the other comparisons are left out"
    tasks = [task for task in report["tasks"] if not task.get("preview")]
    [database_launch] = [task for task in tasks
                         if task["name"].endswith("Restore and verify the PostgreSQL component - orders-db")]
    [cache_launch] = [task for task in tasks if task["name"].endswith("Restore and verify the Redis component - sessions")]
    [wait] = [task for task in tasks if task["name"].startswith("Wait for the restores started together to finish - orders-db")]
    assert database_launch["end"] <= cache_launch["start"] < cache_launch["end"] <= wait["start"], (
        database_launch, cache_launch, wait)
    assert database_restore["start"] < cache_restore["start"], (database_restore, cache_restore)
    assert not [task for task in tasks if task["name"].startswith("Record the restore - ") and task.get("status") != "skipped"
                and task["name"].endswith(("orders-db", "sessions"))], "a restore of the step ran in the foreground"
    # uploads depends on orders-db: it starts only after the database is restored and verified.
    assert restores["uploads"]["start"] >= database_restore["end"]
    assert restores["uploads"]["start"] >= cache_restore["end"]
    # The report gives each restore's time and the run against the slowest: uploads waited for orders-db, so
    # the restores took at least both of theirs one after the other, and the RTO holds all the restores.
    parallel = report["parallel_restores"]
    assert set(parallel["restore_seconds"]) == {"orders-db", "sessions", "uploads"}
    assert parallel["slowest_restore_seconds"] == max(parallel["restore_seconds"].values())
    both = parallel["restore_seconds"]["orders-db"] + parallel["restore_seconds"]["uploads"]
    assert parallel["restore_window_seconds"] >= both - 0.01, parallel
    assert parallel["rto_to_slowest"] >= parallel["window_to_slowest"] > 1.0, parallel
    # One wait per job, then one collection per job (test_restore_wait.py: the wait ends only once a job finished).
    settled = run.result("Wait for the restores started together to finish - orders-db + sessions")
    assert [item["restore_name"] for item in settled["results"] if not item.get("failed")] == ["orders-db", "sessions"]
    collected = run.result("Collect the restores started together - orders-db + sessions")
    assert [item["component"] for item in collected["results"]] == ["orders-db", "sessions"]
    starts = [Path(result["cmd"][0]).name for result in run.results()
              if result.get("cmd") and result["cmd"][-1] == "start"]
    assert starts == ["primary-api", "primary-worker"]


def secondary_admin(lab: dict) -> t.Any:
    """A superuser session on the secondary, after making sure it has the application's database: a failback
    freezes it, and a secondary that served (after a level 3) has one."""
    server = lab["sites"]["secondary"]["postgresql"]
    admin = psycopg2.connect(dbname="postgres", host=server["host"], port=server["port"], user=server["user"],
                             password=server["password"])
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'shopfront'")
        if cursor.fetchone() is None:
            cursor.execute("CREATE DATABASE shopfront")
    return admin


def test_level3_and_failback_in_check_mode_change_nothing(ansible, lab, plan, backed_up):
    from .lab_dns import answer

    secondary_admin(lab).close()
    primary_address = lab["sites"]["primary"]["address"]
    secondary_api = lab["sites"]["secondary"]["app"]["services"]["api"]["url"]
    before = answer(lab)
    for playbook in ("playbooks/level3_site.yml", "playbooks/failback.yml"):
        run = ansible.playbook(playbook, plan, check=True)
        assert run.ok, run.tail()
        assert answer(lab) == before and before[0] == [primary_address]
        try:
            urllib.request.urlopen(secondary_api, timeout=3)
            started = True
        except OSError:
            started = False
        assert not started, f"check mode of {playbook} started the secondary's API"
    assert healthy(lab)


def refuse_the_restore_login(plan: dict, lab: dict) -> None:
    [orders] = [component for component in plan["dr_plan"]["components"] if component["name"] == "orders-db"]
    # The primary's connection only (the secondary's site settings keep their own password).
    orders["connection"]["login_password"] = "not-the-password"


def fail_the_dns_health_gate(plan: dict, lab: dict) -> None:
    from .lab_dns import set_record

    # The traffic is on the secondary, and the primary's health check answers nothing: the DNS gate refuses to
    # move it back, and says that nothing was changed.
    set_record(lab, [lab["sites"]["secondary"]["address"]], 300)
    for record in plan["dr_plan"]["dns"]["records"]:
        record["health_check"]["primary"] = {"http": f"http://127.0.0.1:{lab['port_base'] + 98}/health", "status": 200}


@pytest.fixture(scope="module")
def secondary_serving(lab, plan, backed_up, tmp_path_factory) -> None:
    """The secondary holds the application's data and its services run, as after a failover: level 3's restore and
    verify stages (DNS stays on the primary). A failback takes its final backup there, and may restore it on the
    primary; the secondary's API answers healthy only with the application's tables."""
    from .conftest import Ansible

    run = Ansible(tmp_path_factory.mktemp("level3")).playbook("playbooks/level3_site.yml", {**plan, "confirm": "yes"},
                                                              tags="restore,verify")
    assert run.ok, run.tail()


@pytest.mark.parametrize("fault", [refuse_the_restore_login, fail_the_dns_health_gate])
def test_failback_failing_after_the_freeze_thaws_the_secondary_which_keeps_serving(
        ansible, lab, plan, secondary_serving, tmp_path, fault):
    """A real fault after the freeze (the primary refuses the restore's login, or the DNS gate refuses the
    unhealthy primary): while DNS still points at it, the secondary writes again."""
    from .lab_dns import answer, set_record

    secondary = lab["sites"]["secondary"]
    for service in ("api", "worker"):  # the secondary serves, as after a failover
        subprocess.run([secondary["app"]["services"][service]["ctl"], "start"], check=True, capture_output=True)
    pg_settings = {"host": secondary["postgresql"]["host"], "port": secondary["postgresql"]["port"],
                   "user": secondary["postgresql"]["user"], "password": secondary["postgresql"]["password"]}
    admin = secondary_admin(lab)
    secondary_cache = redis.Redis(host=secondary["redis"]["host"], port=secondary["redis"]["port"],
                                  password=secondary["redis"]["password"])
    replica_settings = secondary_cache.config_get("min-replicas-*")
    broken = copy.deepcopy(plan)
    fault(broken, lab)
    dns_before = answer(lab)
    try:
        run = ansible.playbook("playbooks/failback.yml", {**broken, "confirm": "yes"},
                               env={"ANSIBLE_CALLBACKS_ENABLED": "resilience.dr.dr_report", "DR_REPORT_DIR": str(tmp_path)})
        assert not run.ok
        assert "writes of secondary frozen (orders-db, sessions)" in run.stdout, run.tail()
        assert "secondary is thawed and serves again" in run.stdout, run.tail()
        # The secondary takes writes again, with the settings it had before, and serves; DNS never moved.
        connection = psycopg2.connect(dbname="shopfront", **pg_settings)
        try:
            with connection.cursor() as cursor:
                cursor.execute("CREATE TEMPORARY TABLE written_after_the_thaw (n int)")
                cursor.execute("INSERT INTO written_after_the_thaw VALUES (1)")
            connection.commit()
        finally:
            connection.close()
        assert secondary_cache.set("test:after-thaw", "written")
        assert secondary_cache.config_get("min-replicas-*") == replica_settings
        with urllib.request.urlopen(secondary["app"]["services"]["api"]["url"], timeout=5) as reply:
            assert reply.status == 200
        assert answer(lab) == dns_before
        [report_file] = tmp_path.glob("*/report.json")
        freeze = json.loads(report_file.read_text())["write_freeze"]
        assert freeze["thawed"] is True and freeze["duration_s"] > 0 and set(freeze["components"]) == {"orders-db", "sessions"}
    finally:
        # Whatever the run left: the secondary thawed, DNS on the primary, the primary's services running.
        secondary_cache.config_set("min-replicas-to-write", replica_settings["min-replicas-to-write"])
        secondary_cache.config_set("min-replicas-max-lag", replica_settings["min-replicas-max-lag"])
        secondary_cache.delete("test:after-thaw")
        with admin.cursor() as cursor:
            cursor.execute("ALTER DATABASE shopfront RESET default_transaction_read_only")
            cursor.execute("ALTER DATABASE shopfront RESET resilience_dr.write_freeze")
        admin.close()
        set_record(lab, [lab["sites"]["primary"]["address"]], 300)
        for service in ("api", "worker"):
            subprocess.run([secondary["app"]["services"][service]["ctl"], "stop"], check=False, capture_output=True)
        start_services(plan)
