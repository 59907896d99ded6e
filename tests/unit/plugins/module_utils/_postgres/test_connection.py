# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection settings and the client programs: where they are, and whether they are new enough for the server."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import DependencyMissing
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    ConnectionParams,
    check_client_version,
    major_version,
    program,
    program_version,
)


def test_password_stays_out_of_argv_and_goes_to_the_environment():
    params = ConnectionParams.from_params({"login_host": "db1", "login_port": 5433, "login_user": "backup",
                                           "login_password": "s3cret"})
    assert params.environment()["PGPASSWORD"] == "s3cret"
    assert params.where == "db1:5433"
    assert params.with_port(5440).where == "db1:5440"
    socket = ConnectionParams.from_params({"login_unix_socket": "/run/postgresql", "login_port": 5432})
    assert socket.where == "/run/postgresql/.s.PGSQL.5432" and socket.environment()["PGHOST"] == "/run/postgresql"


def test_pg_dump_older_than_the_server_is_refused_naming_both_versions_and_the_package():
    with pytest.raises(DependencyMissing) as refused:
        check_client_version("15.10", 170002, "pg_dump", path="/usr/bin/pg_dump", where="db1:5432")
    message = refused.value.message
    assert "pg_dump 15.10 (/usr/bin/pg_dump) is older than PostgreSQL 17" in message
    assert "the server db1:5432 is PostgreSQL 17" in message and "Nothing was changed" in message
    assert "postgresql-client-17" in message and "postgresql17" in message and "pg_bin_dir" in message


@pytest.mark.parametrize("server_version_num", [130016, 140013, 150010, 160006, 170002])
def test_the_17_client_reads_every_supported_server(server_version_num):
    check_client_version("17.2", server_version_num, "pg_dump")
    check_client_version("17.2", server_version_num, "pg_restore", dumped_by="17.2")


def test_pg_restore_must_read_the_archive_the_backup_holds():
    # The server is 15, but a pg_dump 17 archive has a header pg_restore 15 cannot read.
    with pytest.raises(DependencyMissing) as refused:
        check_client_version("15.10", 150010, "pg_restore", where="db2:5432", dumped_by="17.2")
    assert "pg_restore 15.10 is older than PostgreSQL 17" in refused.value.message
    assert "the backup was dumped by pg_dump 17.2" in refused.value.message
    check_client_version("15.10", 150010, "pg_restore", dumped_by="15.10")


def test_pg_restore_older_than_the_target_server_is_refused():
    with pytest.raises(DependencyMissing, match=r"pg_restore 16\.4 is older than PostgreSQL 17: the server is PostgreSQL 17"):
        check_client_version("16.4", 170002, "pg_restore", dumped_by="16.4")


def test_a_client_version_that_cannot_be_read_is_left_to_the_program():
    check_client_version("unknown", 170002, "pg_dump")
    assert major_version("17beta1") == 17 and major_version("9.6.24") == 9 and major_version("") is None


def test_program_version_reads_what_the_client_prints(tmp_path):
    script = tmp_path / "pg_restore"
    script.write_text("#!/bin/sh\necho 'pg_restore (PostgreSQL) 17.2 (Debian 17.2-1.pgdg120+1)'\n")
    script.chmod(0o755)
    assert program_version(CommandRunner({}), program("pg_restore", str(tmp_path))) == "17.2"
