# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup method logical against the lab's PostgreSQL 15 (physical: test_pg_pitr.py)."""

from __future__ import annotations

import contextlib
import threading
import time
import typing as t
from pathlib import Path

from .pg_fixtures import (  # noqa: F401  # pylint: disable=unused-import
    Pg,
    cleanup_databases,
    cleanup_roles,
    kill,
    pg,
    pg_dump_pids,
    seed_database,
    unique,
)

from ansible_collections.resilience.dr.plugins.module_utils._postgres.verify import RowsDigest
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

BACKUP = "resilience.dr.pg_backup"


def backups(repository: Path, component: str) -> list[t.Any]:
    return open_repository({"repository": str(repository)}).list_backups(component) if repository.exists() else []


def test_backup_check_apply_again(ansible, pg: Pg, unique, cleanup_databases, cleanup_roles, tmp_path):
    database, role = f"bk_{unique}", f"bk_reader_{unique}"
    cleanup_databases.append(database)
    cleanup_roles.append(role)
    seed_database(pg, database, role)
    repository = tmp_path / "repository"
    args = {**pg.login, "repository": str(repository), "component": f"orders-{unique}", "db": database, "jobs": 2}

    check, apply, again, check_again = ansible.sequence([
        (BACKUP, args, {"check": True}), (BACKUP, args), (BACKUP, args), (BACKUP, args, {"check": True}),
    ])

    assert not check["failed"], check["msg"]
    assert check["changed"] is True and check["backup_id"] is None
    assert check["database"] == database and check["tables"] == 5
    assert not apply["failed"], apply["msg"]
    assert apply["changed"] is True and apply["backup_id"]
    assert apply["rows"] == 100000 + 1 + 10 + 2001 + 400  # accounts, branches, tellers, every_type, history (200 x 2 clients)
    assert apply["checksummed_tables"] == 5 and apply["large_objects"] == 1
    assert apply["consistency_point"]["lsn"] and apply["server_version"].startswith("15")
    assert all("PGPASSWORD=***" in command and pg.facts["password"] not in command
               for command in apply["executed_commands"])
    # Every run takes a new backup: a backup is never "already there".
    assert again["changed"] is True and again["backup_id"] != apply["backup_id"]
    assert check_again["changed"] is True and check_again["backup_id"] is None
    stored = backups(repository, f"orders-{unique}")
    assert [entry.backup_id for entry in stored] == [apply["backup_id"], again["backup_id"]]
    manifest = stored[0].manifest
    assert manifest.source["system_identifier"] == apply["system_identifier"]
    assert manifest.source["database"] == database
    assert "globals.sql" in [record.name for record in manifest.files]
    globals_sql = open_repository({"repository": str(repository)}).read_bytes(stored[0], "globals.sql").decode()
    assert f"CREATE ROLE {role}" in globals_sql
    verification = open_repository({"repository": str(repository)}).verification_data(stored[0])
    assert verification["tables"]["public.pgbench_accounts"]["rows"] == 100000
    # The checksums are the dumped rows' own digests, taken while they were stored: no second read of the tables.
    assert verification["checksum_method"] == "copy-sha256-v1"
    with contextlib.closing(pg.connect(database)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', 'UTC', false), set_config('extra_float_digits', '3', false), "
                       "set_config('bytea_output', 'hex', false), set_config('DateStyle', 'ISO, YMD', false)")
        rows = RowsDigest()
        cursor.copy_expert("COPY public.pgbench_branches (bid, bbalance, filler) TO STDOUT", rows)
    assert verification["tables"]["public.pgbench_branches"]["checksum"] == rows.hexdigest()


def test_backup_compresses_at_level_1_unless_told_otherwise(ansible, pg: Pg, unique, cleanup_databases, cleanup_roles,
                                                            tmp_path):
    database, role = f"bk_level_{unique}", f"bk_level_reader_{unique}"
    cleanup_databases.append(database)
    cleanup_roles.append(role)
    seed_database(pg, database, role)
    repository = tmp_path / "repository"
    args = {**pg.login, "repository": str(repository), "component": f"orders-{unique}", "db": database}

    default, explicit = ansible.sequence([(BACKUP, args), (BACKUP, {**args, "compression_level": 3})])

    assert not default["failed"] and not explicit["failed"], default["msg"] or explicit["msg"]
    stored = {entry.backup_id: entry for entry in backups(repository, f"orders-{unique}")}
    assert stored[default["backup_id"]].manifest.compression["level"] == 1
    assert stored[explicit["backup_id"]].manifest.compression["level"] == 3
    reader = open_repository({"repository": str(repository)})
    assert reader.verification_data(stored[explicit["backup_id"]])["tables"] == \
        reader.verification_data(stored[default["backup_id"]])["tables"]


def test_backup_fails_on_wrong_password(ansible, pg: Pg, tmp_path):
    result = ansible.module(BACKUP, {**pg.login, "login_password": "wrong", "repository": str(tmp_path / "r"),
                                     "component": "wrong-password", "db": "postgres"})
    assert result["failed"]
    assert "password authentication failed" in result["msg"]
    assert f"127.0.0.1:{pg.port}" in result["msg"] and "login_password" in result["msg"]
    assert backups(tmp_path / "r", "wrong-password") == []


def test_backup_fails_on_missing_database(ansible, pg: Pg, unique, tmp_path):
    result = ansible.module(BACKUP, {**pg.login, "repository": str(tmp_path / "r"), "component": "missing",
                                     "db": f"missing_{unique}"})
    assert result["failed"]
    assert f"missing_{unique}" in result["msg"] and "does not exist" in result["msg"]


def test_killed_pg_dump_leaves_no_backup(ansible, pg: Pg, unique, cleanup_databases, tmp_path):
    database = f"bk_kill_{unique}"
    cleanup_databases.append(database)
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, "CREATE TABLE held (id int); INSERT INTO held VALUES (1)")
    repository = tmp_path / "repository"
    outcome: dict[str, t.Any] = {}
    runner = threading.Thread(target=lambda: outcome.update(ansible.module(BACKUP, {
        **pg.login, "repository": str(repository), "component": f"killed-{unique}", "db": database})))
    blocker = pg.connect(database)
    blocker.autocommit = False
    locker = threading.Thread(target=lambda: blocker.cursor().execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE"))
    runner.start()
    try:
        # Once the module's snapshot transaction holds its lock on the table, an exclusive lock request
        # queues behind it, and pg_dump's own LOCK TABLE queues behind that: pg_dump is surely running
        # (and waiting) when it is killed.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not pg.execute(database, """
                SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.relation = 'held'::regclass AND a.application_name = 'resilience.dr'"""):
            time.sleep(0.02)
        locker.start()
        pids: list[int] = []
        while not pids and time.monotonic() < deadline:
            pids = pg_dump_pids(database)
            time.sleep(0.1)
        assert pids, "pg_dump never started"
        time.sleep(0.5)
        for pid in pids:
            kill(pid)
        runner.join(120)
    finally:
        pg.execute("postgres", "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                   "AND application_name <> 'resilience.dr' AND pid <> pg_backend_pid()", (database,))
        if locker.is_alive() or locker.ident:
            locker.join(30)
        blocker.rollback()
        blocker.close()
        runner.join(120)
    assert outcome["failed"]
    assert "pg_dump" in outcome["msg"] and "signal 9" in outcome["msg"]
    assert backups(repository, f"killed-{unique}") == []
    component_dir = repository / f"killed-{unique}"
    assert not component_dir.exists() or [path.name for path in component_dir.iterdir()] == []


def test_backup_of_a_table_locked_past_lock_wait_timeout_fails_and_stores_nothing(ansible, pg: Pg, unique,
                                                                                  cleanup_databases, tmp_path):
    database = f"bk_locked_{unique}"
    cleanup_databases.append(database)
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, "CREATE TABLE held (id int); INSERT INTO held VALUES (1)")
    repository = tmp_path / "repository"
    holder = pg.connect(database)
    holder.autocommit = False
    try:
        holder.cursor().execute("LOCK TABLE held IN ACCESS EXCLUSIVE MODE")  # a schema change that takes its time
        started = time.monotonic()
        result = ansible.module(BACKUP, {**pg.login, "repository": str(repository), "component": f"locked-{unique}",
                                         "db": database, "lock_wait_timeout": 2})
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert result["failed"]
    assert "lock_wait_timeout (2 s)" in result["msg"] and database in result["msg"] and "pg_locks" in result["msg"]
    assert waited < 60
    assert backups(repository, f"locked-{unique}") == []
