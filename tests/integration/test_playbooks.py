# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The recovery playbooks end to end on the lab's shopfront plan: backup,
level 1 and level 2 restores with verification and service order, check mode
that changes nothing, confirmation, and the escalation summary on failure.
(Level 3, failback and each disaster kind run as drills in test_drill.py.)"""

from __future__ import annotations

import hashlib
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
    run = ansible.playbook("playbooks/level1_component.yml",
                           {**plan, "component": "uploads", "backup_id": "20200101T000000Z-nope00", "confirm": "yes"})
    assert not run.ok
    assert "recovery stopped at" in run.stdout and "20200101T000000Z-nope00" in run.stdout
    assert "Manual next step" in run.stdout
    assert snapshot(lab)["files"] == before["files"]


def test_level2_restores_every_component_in_order_and_starts_services_in_order(ansible, lab, plan, backed_up):
    with database(lab) as connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM test_orders")
    cache(lab).flushall()
    for path in (Path(lab["sites"]["primary"]["app"]["uploads"]) / "test").iterdir():
        path.unlink()

    preview = ansible.playbook("playbooks/level2_application.yml", plan, check=True)
    assert preview.ok, preview.tail()
    assert snapshot(lab)["orders"][0] == 0, "check mode restored something"

    run = ansible.playbook("playbooks/level2_application.yml", {**plan, "confirm": "yes"})
    assert run.ok, run.tail()
    after = snapshot(lab)
    assert after["orders"] == backed_up["orders"]
    assert after["keys"] == backed_up["keys"]
    assert after["files"] == backed_up["files"]
    assert healthy(lab)
    restored = [result["component"] for result in run.results() if result.get("component") and "backup_id" in result]
    assert restored.index("orders-db") < restored.index("uploads"), "uploads depends on orders-db"
    starts = [Path(result["cmd"][0]).name for result in run.results()
              if result.get("cmd") and result["cmd"][-1] == "start"]
    assert starts == ["primary-api", "primary-worker"]


def test_level3_and_failback_in_check_mode_change_nothing(ansible, lab, plan, backed_up):
    from .lab_dns import answer

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
