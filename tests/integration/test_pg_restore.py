# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore method logical against the lab's PostgreSQL 15: the round trip of
a pgbench database with every common type, idempotence, the refusals, and a
corrupted backup that must leave the target untouched."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .pg_fixtures import (  # noqa: F401  # pylint: disable=unused-import
    Pg,
    cleanup_databases,
    cleanup_roles,
    pg,
    seed_database,
    unique,
)

from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

BACKUP = "resilience.dr.pg_backup"
RESTORE = "resilience.dr.pg_restore"


def _backup(ansible, pg: Pg, repository: Path, component: str, database: str) -> dict:
    result = ansible.module(BACKUP, {**pg.login, "repository": str(repository), "component": component, "db": database})
    assert not result["failed"], result["msg"]
    return result


def test_round_trip_restores_every_type_and_role(ansible, pg: Pg, unique, cleanup_databases, cleanup_roles, tmp_path):
    source, target, role = f"rs_{unique}", f"rs_{unique}_copy", f"rs_reader_{unique}"
    cleanup_databases.extend([source, target])
    cleanup_roles.append(role)
    seed_database(pg, source, role)
    repository, component = tmp_path / "repository", f"orders-{unique}"
    backup = _backup(ansible, pg, repository, component, source)
    expected = pg.content_checksum(source)
    # The disaster: the database and its role are gone.
    pg.drop_database(source)
    pg.drop_role(role)
    args = {**pg.login, "repository": str(repository), "component": component, "target_db": target, "jobs": 2}

    check = ansible.module(RESTORE, args, check=True, diff=True)
    assert pg.databases(target) == [], "check mode must not create the target"
    assert pg.execute("postgres", "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)) == []
    apply, again, check_again = ansible.sequence([
        (RESTORE, args, {"diff": True}), (RESTORE, args), (RESTORE, args, {"check": True}),
    ])

    assert not check["failed"], check["msg"]
    assert check["changed"] is True and check["backup_id"] == backup["backup_id"]
    assert check["action"] == "create" and check["roles_created"] == [role]
    assert check["diff"]["before"]["exists"] is False
    assert not apply["failed"], apply["msg"]
    assert apply["changed"] is True and apply["backup_id"] == backup["backup_id"]
    assert apply["verified"]["tables"] == 5 and apply["verified"]["checksums"] == 5
    assert apply["verified"]["rows"] == backup["rows"] and apply["verified"]["large_objects"] == 1
    # With jobs: 2 each table is checked as soon as pg_restore reports its data loaded.
    assert apply["verified"]["checked_while_loading"] >= 1
    assert apply["roles_created"] == [role]
    assert pg.content_checksum(target) == expected
    # The role came back, with its grant on the restored table.
    assert pg.execute(target, "SELECT has_table_privilege(%s, 'every_type', 'SELECT')", (role,)) == [(True,)]
    assert pg.execute(target, "SELECT label_length('four'), count(*) FROM big_accounts")[0][0] == 4
    assert apply["diff"]["after"]["restored_backup_id"] == backup["backup_id"]
    assert not again["failed"], again["msg"]
    assert again["changed"] is False and again["backup_id"] == backup["backup_id"]
    assert check_again["changed"] is False
    assert again["verified"]["checksums"] == 5, "unchanged is decided by comparing the data"
    assert pg.databases(f"{target}_") == [], "no temporary or previous database is left"

    # A row changed after the restore: the marker still names the backup, yet the data differs.
    pg.execute(target, "UPDATE pgbench_accounts SET filler = 'changed' WHERE aid = 1")
    drifted, settled = ansible.sequence([(RESTORE, {**args, "clean": True}), (RESTORE, {**args, "clean": True})])
    assert not drifted["failed"], drifted["msg"]
    assert drifted["changed"] is True and "pgbench_accounts" in drifted["drift"], drifted.get("drift")
    assert pg.content_checksum(target) == expected
    assert settled["changed"] is False, settled.get("drift")


def test_restore_refuses_non_empty_target_and_clean_swaps(ansible, pg: Pg, unique, cleanup_databases, tmp_path):
    database = f"rn_{unique}"
    cleanup_databases.append(database)
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, "CREATE TABLE orders (id int PRIMARY KEY, note text); "
                         "INSERT INTO orders SELECT i, 'backed up' FROM generate_series(1, 100) i")
    repository, component = tmp_path / "repository", f"rn-{unique}"
    backup = _backup(ansible, pg, repository, component, database)
    pg.execute(database, "UPDATE orders SET note = 'changed after the backup'; CREATE TABLE later (id int)")
    args = {**pg.login, "repository": str(repository), "component": component, "target_db": database}

    refused, swapped = ansible.sequence([(RESTORE, args), (RESTORE, {**args, "clean": True})])

    assert refused["failed"]
    assert f"database {database}" in refused["msg"] and "public.orders" in refused["msg"]
    assert "clean: true" in refused["msg"]
    assert not swapped["failed"], swapped["msg"]
    assert swapped["changed"] is True and swapped["action"] == "replace"
    assert pg.execute(database, "SELECT DISTINCT note FROM orders") == [("backed up",)]
    assert pg.execute(database, "SELECT to_regclass('later')") == [(None,)]
    previous = swapped["previous_db"]
    assert previous.startswith(f"{database}_before_")
    assert pg.execute(previous, "SELECT DISTINCT note FROM orders") == [("changed after the backup",)]
    comment = pg.execute("postgres", "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                         (database,))[0][0]
    assert f"restored backup {backup['backup_id']} of component {component}" in comment


def _interrupt_between_the_renames(pg: Pg, database: str, outcome: dict) -> None:
    """Holds the restored database's catalog row, so the second rename of the swap waits after the first one;
    then ends the restoring session there, as a lost connection would, and lets the row go."""
    deadline = time.monotonic() + 120
    while not pg.databases(f"{database}_restoring_") and time.monotonic() < deadline:
        time.sleep(0.05)
    blocker = pg.connect()
    try:
        blocker.autocommit = False
        with blocker.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s FOR UPDATE", (f"{database}_restoring_%",))
            outcome["restoring"] = [row[0] for row in cursor.fetchall()]
        while time.monotonic() < deadline:
            waiting = pg.execute("postgres", "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                             "AND query LIKE %s", (f"ALTER DATABASE \"{database}_restoring_%RENAME%",))
            if waiting:
                outcome["terminated"] = pg.execute("postgres", "SELECT pg_terminate_backend(%s)", (waiting[0][0],))
                return
            time.sleep(0.05)
    finally:
        blocker.rollback()
        blocker.close()


def test_a_connection_lost_between_the_swap_renames_keeps_the_live_database(
        ansible, pg: Pg, unique, cleanup_databases, tmp_path):
    database = f"rl_{unique}"
    cleanup_databases.append(database)
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, "CREATE TABLE orders (id int PRIMARY KEY, note text); "
                         "INSERT INTO orders SELECT i, 'backed up' FROM generate_series(1, 100) i")
    repository, component = tmp_path / "repository", f"rl-{unique}"
    backup = _backup(ansible, pg, repository, component, database)
    restored = pg.content_checksum(database)
    pg.execute(database, "UPDATE orders SET note = 'live data'")
    live = pg.content_checksum(database)
    outcome: dict = {}
    fault = threading.Thread(target=_interrupt_between_the_renames, args=(pg, database, outcome))
    fault.start()
    try:
        result = ansible.module(RESTORE, {**pg.login, "repository": str(repository), "component": component,
                                          "target_db": database, "clean": True})
    finally:
        fault.join()

    assert outcome.get("terminated") == [(True,)], outcome
    assert result["failed"]
    temporary = outcome["restoring"][0]
    message = result["msg"]
    assert f"giving the restored database {temporary} the name {database}" in message, message
    assert "was rolled back" in message and f"{database} still holds the data it had before" in message, message
    assert f"{backup['backup_id']}" in message and f"is in the database {temporary}" in message, message
    assert result["restored_db"] == temporary
    # Nothing lost: the live name holds the live data (and accepts connections), the verified restore is kept.
    assert pg.content_checksum(database) == live
    assert pg.content_checksum(temporary) == restored
    assert pg.databases(f"{database}_before_") == []

    # Running the restore again completes it.
    again = ansible.module(RESTORE, {**pg.login, "repository": str(repository), "component": component,
                                     "target_db": database, "clean": True})
    assert not again["failed"], again["msg"]
    assert pg.content_checksum(database) == restored
    assert pg.content_checksum(again["previous_db"]) == live


def test_corrupted_backup_fails_naming_the_file_and_leaves_target(ansible, pg: Pg, unique, cleanup_databases, tmp_path):
    database = f"rc_{unique}"
    cleanup_databases.append(database)
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, "CREATE TABLE orders (id int PRIMARY KEY, note text); "
                         "INSERT INTO orders SELECT i, md5(i::text) FROM generate_series(1, 5000) i")
    repository, component = tmp_path / "repository", f"rc-{unique}"
    backup = _backup(ansible, pg, repository, component, database)
    pg.execute(database, "INSERT INTO orders VALUES (0, 'after the backup')")
    before = pg.content_checksum(database)
    entry = open_repository({"repository": str(repository)}).find(component, backup["backup_id"])
    largest = max((record for record in entry.manifest.files if record.name.startswith("data/")),
                  key=lambda record: record.size)
    stored = repository / component / backup["backup_id"] / largest.path
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))

    result = ansible.module(RESTORE, {**pg.login, "repository": str(repository), "component": component,
                                      "target_db": database, "clean": True})

    assert result["failed"]
    assert largest.name in result["msg"] and backup["backup_id"] in result["msg"]
    assert pg.content_checksum(database) == before
    assert pg.databases(f"{database}_") == [], "the half-restored database is dropped"


def test_restore_that_differs_from_the_backup_fails_naming_the_table(ansible, pg: Pg, unique, cleanup_databases, tmp_path):
    source, target = f"rd_{unique}", f"rd_{unique}_copy"
    cleanup_databases.extend([source, target])
    pg.execute("postgres", f'CREATE DATABASE "{source}"')
    # A generated column computed from a database setting, which pg_dump does not carry: the restored
    # rows differ from the backed-up ones although pg_restore succeeds.
    pg.execute("postgres", f'ALTER DATABASE "{source}" SET app.shift = 1')
    pg.execute(source, """
        CREATE FUNCTION shifted(value int) RETURNS int IMMUTABLE LANGUAGE sql
          AS $$ SELECT value + coalesce(current_setting('app.shift', true), '0')::int $$;
        CREATE TABLE plain_rows AS SELECT i AS id FROM generate_series(1, 2000) i;
        CREATE TABLE shifted_rows (id int PRIMARY KEY, shifted int GENERATED ALWAYS AS (shifted(id)) STORED);
        INSERT INTO shifted_rows (id) SELECT generate_series(1, 2000)""")
    repository, component = tmp_path / "repository", f"rd-{unique}"
    _backup(ansible, pg, repository, component, source)

    result = ansible.module(RESTORE, {**pg.login, "repository": str(repository), "component": component,
                                      "target_db": target, "jobs": 2})

    assert result["failed"]
    assert "public.shifted_rows" in result["msg"] and "differs from the backup" in result["msg"]
    assert pg.databases(target) == [], "nothing unverified takes the target's name"
    assert pg.databases(f"{target}_") == [], "the half-restored database is dropped"


def test_restore_wrong_backup_id_and_wrong_password(ansible, pg: Pg, unique, tmp_path):
    repository = tmp_path / "repository"
    repository.mkdir()
    missing, wrong_password = ansible.sequence([
        (RESTORE, {**pg.login, "repository": str(repository), "component": f"none-{unique}",
                   "backup_id": "20261123T040000Z-abcdef", "target_db": f"none_{unique}"}),
        (RESTORE, {**pg.login, "login_password": "wrong", "repository": str(repository), "component": f"none-{unique}",
                   "target_db": f"none_{unique}"}),
    ])
    assert missing["failed"] and "20261123T040000Z-abcdef" in missing["msg"] and "backup_info" in missing["msg"]
    assert wrong_password["failed"]
    # Without any backup there is nothing to connect for: the repository answers first.
    assert f"none-{unique}" in wrong_password["msg"]
