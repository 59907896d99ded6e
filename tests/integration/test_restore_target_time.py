# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""target_time on the restore modules, against the lab's PostgreSQL 15 and Redis 7 and a local tree.

Each test takes backup A, changes the data, takes backup B and restores with a
target_time between their consistency points: A's data comes back, and the
result names A and its consistency point. A time before A fails naming A's
point and leaves the live data as it is; check mode names A and changes
nothing. The times come from the backups' own results, never from today's date.
"""

from __future__ import annotations

import os
import time
import typing as t
import uuid
from datetime import timedelta

import pytest
import yaml

from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time

from .conftest import LAB_DIR
from .pg_fixtures import Pg, cleanup_databases, pg, unique  # noqa: F401  # pylint: disable=unused-import
from .redis_data import RedisServer, assert_same_data, sample_names, seed, snapshot
from .test_files import listing


def between(first: dict[str, t.Any], second: dict[str, t.Any]) -> str:
    """A target_time halfway between the consistency points of two backup results."""
    start, end = (parse_time(result["consistency_point"]["time"]) for result in (first, second))
    assert start < end, (first["consistency_point"], second["consistency_point"])
    return format_time(start + (end - start) / 2)


def before(result: dict[str, t.Any]) -> str:
    return format_time(parse_time(result["consistency_point"]["time"]) - timedelta(seconds=1))


def assert_too_early(refused: dict[str, t.Any], component: str, first: dict[str, t.Any], second: dict[str, t.Any]):
    """The failure names the component, the oldest point (A) and the newest (B), with their backup ids."""
    assert refused["failed"]
    message = refused["msg"]
    assert f"component {component} has no complete " in message and "consistent at or before target_time" in message
    oldest = format_time(parse_time(first["consistency_point"]["time"]))
    newest = format_time(parse_time(second["consistency_point"]["time"]))
    assert f"the oldest is {oldest} (backup {first['backup_id']})" in message, message
    assert f"the newest {newest} (backup {second['backup_id']})" in message, message


def assert_restored_a(result: dict[str, t.Any], first: dict[str, t.Any]) -> None:
    assert not result["failed"], result["msg"]
    assert result["backup_id"] == first["backup_id"]
    assert result["consistency_point"] == first["consistency_point"]
    assert result["skipped_backups"] == [], "a backup after target_time is not passed over"


# ---------------------------------------------------------------------- PostgreSQL logical

def test_pg_logical_restore_to_a_time_between_two_backups_restores_the_older(
        ansible, pg: Pg, unique, cleanup_databases, tmp_path):  # noqa: F811
    database = f"tt_{unique}"
    cleanup_databases.append(database)
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, "CREATE TABLE orders (id int PRIMARY KEY, note text); "
                         "INSERT INTO orders SELECT i, 'as in A' FROM generate_series(1, 200) i")
    component = f"orders-{unique}"
    backup_args = {**pg.login, "repository": str(tmp_path / "repository"), "component": component, "db": database}
    first = ansible.module("resilience.dr.pg_backup", backup_args)
    assert not first["failed"], first["msg"]
    in_a = pg.content_checksum(database)
    pg.execute(database, "UPDATE orders SET note = 'after A' WHERE id <= 50; DELETE FROM orders WHERE id > 190; "
                         "CREATE TABLE later (id int)")
    second = ansible.module("resilience.dr.pg_backup", backup_args)
    assert not second["failed"], second["msg"]
    in_b = pg.content_checksum(database)
    assert in_a != in_b

    args = {**pg.login, "repository": str(tmp_path / "repository"), "component": component, "target_db": database,
            "clean": True, "keep_previous": False}
    check, refused, clashing = ansible.sequence([
        ("resilience.dr.pg_restore", {**args, "target_time": between(first, second)}, {"check": True}),
        ("resilience.dr.pg_restore", {**args, "target_time": before(first)}),
        ("resilience.dr.pg_restore", {**args, "target_time": between(first, second), "backup_id": first["backup_id"]}),
    ])
    assert_restored_a(check, first)
    assert check["changed"] and first["backup_id"] in check["msg"] and "check mode: would restore" in check["msg"]
    assert_too_early(refused, component, first, second)
    assert clashing["failed"] and "mutually exclusive: backup_id|target_time" in clashing["msg"]
    assert pg.content_checksum(database) == in_b, "check mode and the refusals leave the database as it was"

    apply, again = ansible.sequence([
        ("resilience.dr.pg_restore", {**args, "target_time": between(first, second)}),
        ("resilience.dr.pg_restore", {**args, "target_time": between(first, second)}),
    ])
    assert_restored_a(apply, first)
    assert apply["changed"] is True
    assert pg.content_checksum(database) == in_a
    assert pg.execute(database, "SELECT count(*), count(*) FILTER (WHERE note = 'as in A') FROM orders") == [(200, 200)]
    assert pg.execute(database, "SELECT to_regclass('later')") == [(None,)]
    assert_restored_a(again, first)
    assert again["changed"] is False


# ---------------------------------------------------------------------- Redis

# Three databases: assert_same_data reads the key counts of exactly three.
LAYOUT = {0: 300, 2: 120, 4: 60}


@pytest.fixture
def small_redis(lab) -> t.Iterator[RedisServer]:
    """The lab's secondary Redis with a few hundred keys of every type; emptied afterwards."""
    server = RedisServer(lab["sites"]["secondary"]["redis"])
    server.connect().flushall()
    seed(server.connect, LAYOUT)
    try:
        yield server
    finally:
        server.connect().flushall()


def _change_after_a(server: RedisServer) -> None:
    client = server.connect(0)
    client.set(b"k:0:1", b"overwritten after A")
    client.delete(b"k:0:2", b"k:0:3")
    client.set(b"written-after-A", b"1")
    server.connect(2).flushdb()


@pytest.mark.parametrize("method", ["rdb", "online"])
def test_redis_restore_to_a_time_between_two_backups_restores_the_older(ansible, small_redis: RedisServer, method,
                                                                        tmp_path):
    server = small_redis
    component = f"cache-{uuid.uuid4().hex[:8]}"
    repository = {"repository": str(tmp_path / "repository"), "component": component}
    backup_args = {**server.options, **repository, "method": method, "compression_level": 1}
    names = sample_names(LAYOUT, step=1)
    names[0] += [b"written-after-A"]
    first = ansible.module("resilience.dr.redis_backup", backup_args)
    assert not first["failed"], first["msg"]
    in_a = snapshot(server.connect, names)
    time.sleep(1.5)  # an RDB's consistency point is its LASTSAVE, to the second
    _change_after_a(server)
    second = ansible.module("resilience.dr.redis_backup", backup_args)
    assert not second["failed"], second["msg"]
    in_b = snapshot(server.connect, names)

    args = {**server.options, **repository, "method": method}
    args.update(server.commands if method == "rdb" else {"flush": True})
    target_time = between(first, second)
    check, refused = ansible.sequence([
        ("resilience.dr.redis_restore", {**args, "target_time": target_time}, {"check": True}),
        ("resilience.dr.redis_restore", {**args, "target_time": before(first)}),
    ])
    assert_restored_a(check, first)
    assert check["changed"] and first["backup_id"] in check["msg"] and "check mode: would restore" in check["msg"]
    assert check["executed_commands"] == []
    assert_too_early(refused, component, first, second)
    assert_same_data(in_b, snapshot(server.connect, names))

    apply, again = ansible.sequence([
        ("resilience.dr.redis_restore", {**args, "target_time": target_time}),
        ("resilience.dr.redis_restore", {**args, "target_time": target_time}),
    ])
    assert_restored_a(apply, first)
    assert apply["changed"] is True and apply["verified"]
    assert_same_data(in_a, snapshot(server.connect, names))
    assert server.connect(0).get(b"written-after-A") is None
    assert_restored_a(again, first)
    assert again["changed"] is False


# ---------------------------------------------------------------------- files

def test_files_restore_to_a_time_between_two_backups_restores_the_older(ansible, tmp_path):
    tree = tmp_path / "uploads"
    (tree / "2026").mkdir(parents=True)
    (tree / "2026" / "kept.txt").write_text("kept\n")
    (tree / "changed.txt").write_text("as in A\n")
    (tree / "deleted-after-A.txt").write_text("gone after A\n")
    component = f"uploads-{uuid.uuid4().hex[:8]}"
    repository = {"repository": str(tmp_path / "repository"), "component": component}
    first = ansible.module("resilience.dr.files_backup", {**repository, "path": str(tree), "compression_level": 1})
    assert not first["failed"], first["msg"]
    in_a = listing(tree)
    (tree / "changed.txt").write_text("changed after A, longer\n")
    os.unlink(tree / "deleted-after-A.txt")
    (tree / "2026" / "added-after-A.txt").write_text("new\n")
    second = ansible.module("resilience.dr.files_backup", {**repository, "path": str(tree), "compression_level": 1})
    assert not second["failed"], second["msg"]
    in_b = listing(tree)

    args = {**repository, "path": str(tree), "keep_previous": False}
    target_time = between(first, second)
    check, refused, clashing = ansible.sequence([
        ("resilience.dr.files_restore", {**args, "target_time": target_time}, {"check": True}),
        ("resilience.dr.files_restore", {**args, "target_time": before(first)}),
        ("resilience.dr.files_restore", {**args, "target_time": "yesterday"}),
    ])
    assert_restored_a(check, first)
    assert check["changed"] and first["backup_id"] in check["msg"] and "check mode: would restore" in check["msg"]
    assert sorted(check["differences"]["extra"]) == ["2026/added-after-A.txt"]
    assert check["differences"]["missing"] == ["deleted-after-A.txt"]
    assert_too_early(refused, component, first, second)
    assert clashing["failed"] and "target_time 'yesterday' is not an ISO 8601 time" in clashing["msg"]
    assert listing(tree) == in_b, "check mode and the refusals leave the tree as it was"

    apply, again = ansible.sequence([
        ("resilience.dr.files_restore", {**args, "target_time": target_time}),
        ("resilience.dr.files_restore", {**args, "target_time": target_time}),
    ])
    assert_restored_a(apply, first)
    assert apply["changed"] is True
    assert listing(tree) == in_a
    assert (tree / "changed.txt").read_text() == "as in A\n"
    assert_restored_a(again, first)
    assert again["changed"] is False


# ---------------------------------------------------------------------- roles

@pytest.mark.parametrize("kind, component", [("redis", "sessions"), ("files", "uploads")])
def test_recovery_roles_pass_their_target_time_to_the_module(ansible, lab, kind, component):
    """A malformed time is refused by the module itself, naming the option: the role variable got there."""
    plan = yaml.safe_load((LAB_DIR / "dr_plan.yml").read_text())["dr_plan"]
    run = ansible.tasks([
        {"name": "Resolve the plan", "ansible.builtin.include_role": {"name": "resilience.dr.plan"}},
        {"name": "Recover", "ansible.builtin.include_role": {"name": f"resilience.dr.{kind}_recovery"},
         "vars": {f"{kind}_recovery_component": component, f"{kind}_recovery_target_time": "after lunch"}},
    ], {"dr_plan": plan}, check=True)
    assert not run.ok
    assert "target_time 'after lunch' is not an ISO 8601 time" in run.stdout, run.tail()
