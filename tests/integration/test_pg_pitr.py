# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup method physical and pg_restore point-in-time recovery with the
lab's pgBackRest: markers committed several times a second before, during and
after the backup; a restore to a time T between two markers must hold every
marker up to T and none after it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import typing as t
from datetime import timedelta
from pathlib import Path

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._timing import format_time, parse_time

from .pg_fixtures import Pg, RowWriter, cleanup_databases, pg, unique  # noqa: F401  # pylint: disable=unused-import

BACKUP = "resilience.dr.pg_backup"
RESTORE = "resilience.dr.pg_restore"
MARKER_INTERVAL = 0.3


@pytest.fixture
def restore_dir(lab: dict[str, t.Any], unique: str) -> t.Iterator[Path]:  # noqa: F811
    """A data directory the postgres user can reach; its cluster is stopped and it is removed afterwards."""
    parent = Path(lab["lab_dir"]) / "test-restores"
    parent.mkdir(mode=0o755, exist_ok=True)
    path = parent / f"pitr-{unique}"
    yield path
    for directory in [path, *parent.glob(f"pitr-{unique}.before-*")]:
        if (directory / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(directory),
                            "-m", "immediate", "-w", "stop"], capture_output=True, check=False)
        shutil.rmtree(directory, ignore_errors=True)


def wait_archived(pg: Pg, database: str, timeout: float = 60) -> None:
    """Switch to a new WAL segment and wait until the finished one is in the archive."""
    segment = pg.execute(database, "SELECT pg_walfile_name(pg_switch_wal())")[0][0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        archived = pg.execute(database, "SELECT last_archived_wal FROM pg_stat_archiver")[0][0]
        if archived and archived[8:] >= segment[8:]:
            return
        time.sleep(0.5)
    raise AssertionError(f"WAL segment {segment} was not archived within {timeout:g} s")


def test_pitr_restores_every_marker_up_to_target_and_none_after(ansible, lab, pg: Pg, unique, cleanup_databases,  # noqa: F811
                                                                 restore_dir, tmp_path):
    database = f"pitr_{unique}"
    cleanup_databases.append(database)
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, "CREATE TABLE markers (n bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
    facts = pg.facts
    repository, component = tmp_path / "repository", f"cluster-{unique}"
    port = lab["port_base"] + 5
    backup_args = {**pg.login, "repository": str(repository), "component": component, "method": "physical",
                   "stanza": facts["stanza"], "pgbackrest_config": facts["pgbackrest_config"], "type": "full"}
    writer = RowWriter(pg, database, "markers", MARKER_INTERVAL)
    writer.start()
    try:
        time.sleep(1)
        check, backup, check_again = ansible.sequence([
            (BACKUP, backup_args, {"check": True}), (BACKUP, backup_args), (BACKUP, backup_args, {"check": True}),
        ])
        time.sleep(2)
        # T lies between two markers committed after the backup.
        markers = pg.execute(database, "SELECT n, at FROM markers ORDER BY n")
        last_before, at_before = markers[-3]
        target = at_before + timedelta(seconds=MARKER_INTERVAL / 2)
        time.sleep(2)
    finally:
        writer.halt.set()
        writer.join(10)
    assert writer.error is None, writer.error
    wait_archived(pg, database)

    assert not check["failed"], check["msg"]
    assert check["changed"] is True and check["backup_id"] is None and check["stanza_created"] is False
    assert not backup["failed"], backup["msg"]
    assert backup["changed"] is True and backup["label"].endswith("F")
    point = backup["consistency_point"]
    assert point["label"] == backup["label"] and point["start_lsn"] and point["lsn"] and point["time"]
    assert check_again["changed"] is True and check_again["backup_id"] is None
    listed = ansible.module("resilience.dr.backup_info", {"repository": str(repository), "component": component})
    assert [item["method"] for item in listed["backups"]] == ["physical"]

    restore_args = {**pg.login, "repository": str(repository), "component": component, "method": "physical",
                    "data_dir": str(restore_dir), "port": port, "target_time": target.isoformat(sep=" ")}
    dry = ansible.module(RESTORE, restore_args, check=True, diff=True)
    assert not dry["failed"], dry["msg"]
    assert dry["changed"] is True and dry["backup_id"] == backup["backup_id"] and dry["label"] == backup["label"]
    assert not restore_dir.exists(), "check mode must not create the data directory"
    # Recovery cannot reach a time before the backup ended: refused naming the backup, nothing created.
    too_early = format_time(parse_time(point["time"]) - timedelta(hours=1))
    refused = ansible.module(RESTORE, {**restore_args, "target_time": too_early})
    assert refused["failed"] and f"target_time {too_early}" in refused["msg"]
    assert f"(backup {backup['backup_id']}), the only one" in refused["msg"], refused["msg"]
    assert not restore_dir.exists()

    apply, again, check_again = ansible.sequence([
        (RESTORE, restore_args, {"diff": True}), (RESTORE, restore_args), (RESTORE, restore_args, {"check": True}),
    ])

    assert not apply["failed"], apply["msg"]
    assert apply["changed"] is True and apply["recovery_target"]["type"] == "time"
    restored = pg.execute(database, "SELECT n FROM markers ORDER BY n", port=port)
    expected = [n for n, at in markers if at <= target]
    assert [n for (n,) in restored] == expected[:len(restored)] and restored[-1][0] == last_before
    assert len(restored) == len(expected), "every marker up to T is present"
    assert pg.execute(database, "SELECT count(*) FROM markers WHERE at > %s", (target,), port=port) == [(0,)]
    assert pg.execute(database, "SELECT pg_is_in_recovery()", port=port) == [(False,)]
    assert apply["recovered_to"] is not None
    # The restored server is started without the client's password (or any libpq variable) in its environment.
    postmaster = int((restore_dir / "postmaster.pid").read_text().splitlines()[0])
    environ = Path(f"/proc/{postmaster}/environ").read_bytes().split(b"\0")
    inherited = {entry.split(b"=", 1)[0] for entry in environ} & {b"PGPASSWORD", b"PGUSER", b"PGHOST", b"PGPORT", b"PGAPPNAME"}
    assert not inherited, f"the postmaster inherited the client's libpq variables {inherited}"
    assert pg.login["login_password"].encode() not in b"\0".join(environ)
    assert not again["failed"], again["msg"]
    assert again["changed"] is False and again["recovered_to"] == apply["recovered_to"]
    assert check_again["changed"] is False

    # Replacing that cluster with one recovered to the end of the archive moves the old directory aside.
    subprocess.run(["runuser", "-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(restore_dir),
                    "-m", "fast", "-w", "stop"], capture_output=True, check=True)
    latest_args = {key: value for key, value in restore_args.items() if key != "target_time"}
    refused, replaced = ansible.sequence([(RESTORE, latest_args), (RESTORE, {**latest_args, "replace": True})])
    assert refused["failed"] and "replace: true" in refused["msg"]
    assert not replaced["failed"], replaced["msg"]
    assert replaced["changed"] is True and replaced["recovery_target"]["type"] == "latest"
    previous = Path(replaced["previous_data_dir"])
    assert previous.name.startswith(f"{restore_dir.name}.before-") and (previous / "PG_VERSION").exists()
    everything = pg.execute(database, "SELECT n FROM markers ORDER BY n")
    assert pg.execute(database, "SELECT n FROM markers ORDER BY n", port=port) == everything
    assert len(everything) > len(expected), "the end of the archive holds the markers after T too"


def test_physical_restore_refuses_non_empty_data_dir(ansible, lab, pg: Pg, unique, restore_dir, tmp_path):  # noqa: F811
    # A physical backup record is enough to reach the check of the target; seed one through the library.
    from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

    repository, component = tmp_path / "repository", f"cluster-{unique}"
    store = open_repository({"repository": str(repository)})
    with store.new_backup(component, kind="postgresql", method="physical") as session:
        session.add_bytes("pgbackrest.json", b"{}")
        session.consistency_point = {"time": "2026-11-23T04:00:00Z", "label": "20261123-040000F"}
        session.extra = {"pgbackrest": {"label": "20261123-040000F", "stanza": pg.facts["stanza"],
                                        "config": pg.facts["pgbackrest_config"]}}
    restore_dir.mkdir(mode=0o700)
    (restore_dir / "PG_VERSION").write_text("15\n")

    result = ansible.module(RESTORE, {**pg.login, "repository": str(repository), "component": component,
                                      "method": "physical", "data_dir": str(restore_dir), "port": lab["port_base"] + 5})

    assert result["failed"]
    assert str(restore_dir) in result["msg"] and "replace: true" in result["msg"]
    assert sorted(os.listdir(restore_dir)) == ["PG_VERSION"]
