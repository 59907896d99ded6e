# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_rpo_info against the lab's primary, whose WAL pgBackRest archives."""

from __future__ import annotations

import time

from .pg_fixtures import Pg, pg, unique  # noqa: F401  # pylint: disable=unused-import
from .test_pg_pitr import wait_archived

from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

RPO = "resilience.dr.pg_rpo_info"


def test_rpo_info_reports_archive_state_and_newest_backup(ansible, pg: Pg, unique, tmp_path):  # noqa: F811
    repository, component = tmp_path / "repository", f"rpo-{unique}"
    with open_repository({"repository": str(repository)}).new_backup(component, kind="postgresql",
                                                                     method="logical") as session:
        session.add_bytes("globals.sql", b"-- nothing\n")
    wait_archived(pg, "postgres")
    args = {**pg.login, "repository": str(repository), "component": component}

    check, info = ansible.sequence([(RPO, args, {"check": True}), (RPO, args)])

    for result in (check, info):
        assert not result["failed"], result["msg"]
        assert result["changed"] is False
    assert info["archive_mode"] == "on" and info["archive_failing"] is False
    assert info["last_archived_wal"] and info["last_archived_time"]
    # Archived a moment ago, and the lab archives at least every 10 s while anything is written.
    assert info["rpo_seconds"] is not None and 0 <= info["rpo_seconds"] <= 30
    assert info["newest_backup"]["backup_id"] == session.backup_id
    assert 0 <= info["newest_backup_age_s"] <= 60


def test_rpo_info_reports_failing_archive(ansible, pg: Pg):  # noqa: F811
    pg.execute("postgres", "ALTER SYSTEM SET archive_command = 'false'")
    pg.execute("postgres", "SELECT pg_reload_conf()")
    try:
        time.sleep(1)
        failed_before = pg.execute("postgres", "SELECT failed_count FROM pg_stat_archiver")[0][0]
        pg.execute("postgres", "CREATE TEMP TABLE rpo_probe AS SELECT 1; SELECT pg_switch_wal()")
        deadline = time.monotonic() + 30
        while pg.execute("postgres", "SELECT failed_count FROM pg_stat_archiver")[0][0] == failed_before:
            assert time.monotonic() < deadline, "archiving did not fail"
            time.sleep(0.5)
        pg.execute("postgres", "CREATE TEMP TABLE rpo_probe AS SELECT 1")
        info = ansible.module(RPO, pg.login)
    finally:
        pg.execute("postgres", "ALTER SYSTEM RESET archive_command")
        pg.execute("postgres", "SELECT pg_reload_conf()")
        time.sleep(1)
        wait_archived(pg, "postgres")
    assert not info["failed"], info["msg"]
    assert info["archive_failing"] is True
    assert info["failed_count"] > failed_before and info["last_failed_wal"]
    assert info["unarchived_bytes"] > 0 and info["rpo_seconds"] >= 1


def test_rpo_info_names_unreachable_server(ansible, pg: Pg, lab):  # noqa: F811
    port = lab["port_base"] + 6
    result = ansible.module(RPO, {**pg.login, "login_port": port})
    assert result["failed"]
    assert f"127.0.0.1:{port}" in result["msg"] and "login_port" in result["msg"]
