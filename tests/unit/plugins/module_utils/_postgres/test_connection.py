# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The PostgreSQL logic that needs no server: globals planning, naming, markers,
RPO arithmetic, recovery targets, pgBackRest records, connection settings."""

from __future__ import annotations

import time
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DependencyMissing, VerificationFailed
from ansible_collections.resilience.dr.plugins.module_utils._postgres import globals_script, logical_backup, logical_restore, physical_restore, rpo
from ansible_collections.resilience.dr.plugins.module_utils._postgres.connection import (
    ConnectionParams,
    check_client_version,
    choose_pg_backup,
    major_version,
    program,
    program_version,
)
from ansible_collections.resilience.dr.plugins.module_utils._postgres.verify import RowsDigest, compare_table, sequence_behind
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

GLOBALS = (Path(__file__).parent / "fixtures" / "pg_globals.sql").read_text()


def test_globals_create_only_missing_roles_and_never_reset_existing_passwords():
    plan = globals_script.plan_globals(GLOBALS, existing_roles={"postgres", "shopfront"}, existing_tablespaces=set())
    assert plan.roles_created == ["App Reader", "app_owner"]
    assert plan.roles_kept == ["postgres", "shopfront"]
    assert not [statement for statement in plan.run if "ROLE postgres" in statement or "shopfront" in statement]
    assert 'ALTER ROLE "App Reader" SET search_path TO \'app, public\'' in plan.run
    assert 'GRANT app_owner TO "App Reader" GRANTED BY postgres' in plan.run
    assert not [statement for statement in plan.run if statement.startswith("\\")]


def test_globals_grant_to_an_existing_role_is_skipped():
    plan = globals_script.plan_globals(GLOBALS, existing_roles={"postgres", "shopfront", "App Reader"},
                                    existing_tablespaces=set())
    assert plan.roles_created == ["app_owner"]
    assert not [statement for statement in plan.run if statement.startswith("GRANT")]


def test_split_statements_respects_quotes_dollar_quotes_and_comments():
    script = "SET a = 'x;y'; -- c; d\nCREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n" \
             "COMMENT ON ROLE \"r;1\" IS E'it\\'s; fine'"
    assert globals_script.split_statements(script) == [
        "SET a = 'x;y'", "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
        "COMMENT ON ROLE \"r;1\" IS E'it\\'s; fine'",
    ]


def test_describe_hides_passwords():
    text = globals_script.describe("ALTER ROLE app WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:abc'")
    assert "SCRAM" not in text and "PASSWORD '***'" in text


def test_derived_names_fit_postgresql_identifiers():
    name = logical_restore.derived_name("x" * 70, "_restoring_abc123")
    assert len(name.encode()) == 63 and name.endswith("_restoring_abc123")
    assert logical_restore.derived_name("é" * 40, "_before_20261123T040000").endswith("_before_20261123T040000")
    assert len(logical_restore.derived_name("é" * 40, "_before_20261123T040000").encode()) <= 63


def test_marker_round_trip():
    text = logical_restore.marker_text("20261123T040000Z-k3f9ab", "orders-db", "2026-11-23T05:00:00Z")
    assert logical_restore.read_marker(f"notes before. {text}") == {
        "backup_id": "20261123T040000Z-k3f9ab", "component": "orders-db", "restored_at": "2026-11-23T05:00:00Z"}
    assert logical_restore.read_marker("a comment of the application") is None
    assert logical_restore.read_marker(None) is None


def test_conninfo_quotes_unusual_database_names():
    assert logical_restore.conninfo("orders") == "orders"
    assert logical_restore.conninfo("it's a db") == "dbname='it\\'s a db'"


def test_password_stays_out_of_argv_and_goes_to_the_environment():
    params = ConnectionParams.from_params({"login_host": "db1", "login_port": 5433, "login_user": "backup",
                                           "login_password": "s3cret"})
    assert params.environment()["PGPASSWORD"] == "s3cret"
    assert params.where == "db1:5433"
    assert params.with_port(5440).where == "db1:5440"
    socket = ConnectionParams.from_params({"login_unix_socket": "/run/postgresql", "login_port": 5432})
    assert socket.where == "/run/postgresql/.s.PGSQL.5432" and socket.environment()["PGHOST"] == "/run/postgresql"


@pytest.mark.parametrize("recorded, restored, behind", [
    ({"last_value": 10, "increment": 1}, {"last_value": 10}, False),
    ({"last_value": 10, "increment": 1}, {"last_value": 9}, True),
    ({"last_value": -10, "increment": -1}, {"last_value": -12}, False),
    ({"last_value": None, "increment": 1}, {"last_value": None}, False),
    ({"last_value": 3, "increment": 1}, None, True),
])
def test_sequence_behind(recorded, restored, behind):
    assert sequence_behind(recorded, restored) is behind


SEGMENT = 16 * 1024 * 1024


class _Stderr:
    """Stands in for a running pg_restore whose stderr grows between looks."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)
        self.written = b""

    def grow(self) -> None:
        self.written += self.pieces.pop(0)

    def read_stderr(self, offset: int = 0) -> bytes:
        return self.written[offset:]


def test_pg_restore_progress_is_followed_by_line_and_left_out_of_errors():
    command = _Stderr(
        b"pg_restore: creating TABLE \"public.orders\"\npg_restore: launching item 3371 TABLE DATA ord",
        b"ers\npg_restore: finished item 3371 TABLE DATA orders\n"
        b"pg_restore: error: could not execute query: ERROR:  role \"app\" does not exist\n"
        b"Command was: ALTER TABLE public.orders OWNER TO app;\n",
    )
    output = logical_restore._Output()  # pylint: disable=protected-access
    command.grow()
    assert output.follow(command) == ['pg_restore: creating TABLE "public.orders"']
    command.grow()
    lines = output.follow(command)
    assert lines[:2] == ["pg_restore: launching item 3371 TABLE DATA orders", "pg_restore: finished item 3371 TABLE DATA orders"]
    assert output.follow(command) == []
    assert output.kept == ['pg_restore: error: could not execute query: ERROR:  role "app" does not exist',
                           "Command was: ALTER TABLE public.orders OWNER TO app;"]
    finished = logical_restore._TableChecks.FINISHED  # pylint: disable=protected-access
    assert finished.fullmatch(lines[1]).group(1) == "orders"
    assert finished.fullmatch("pg_restore: finished item 12 TABLE DATA order lines").group(1) == "order lines"
    assert not finished.fullmatch("pg_restore: finished item 12 SEQUENCE SET orders_id_seq")


def test_a_table_that_differs_is_named():
    compare_table("public.orders", {"rows": 3, "checksum": "abc"}, {"rows": 3, "checksum": "abc"}, "restore")
    compare_table("public.big", {"rows": 3, "checksum": None}, {"rows": 3, "checksum": None}, "restore")
    with pytest.raises(VerificationFailed, match="table public.orders has 2 rows after the restore, the backup recorded 3"):
        compare_table("public.orders", {"rows": 3, "checksum": "abc"}, {"rows": 2, "checksum": "abd"}, "restore")
    with pytest.raises(VerificationFailed, match="content of table public.orders differs"):
        compare_table("public.orders", {"rows": 3, "checksum": "abc"}, {"rows": 3, "checksum": "abd"}, "restore")


def test_rpo_is_zero_when_nothing_was_written_after_the_last_archived_segment():
    now = datetime(2026, 11, 23, 4, 0, 30, tzinfo=timezone.utc)
    end = rpo.segment_end("000000010000000000000042", SEGMENT)
    assert end == 0x43 * SEGMENT
    assert rpo.exposure(now=now, current_lsn=end, last_archived_wal="000000010000000000000042",
                            last_archived_time=now - timedelta(seconds=300), segment_size=SEGMENT) == (0, 0)


def test_rpo_counts_from_the_last_archived_segment_when_wal_is_pending():
    now = datetime(2026, 11, 23, 4, 0, 30, tzinfo=timezone.utc)
    current = rpo.parse_lsn("1/43001000")
    seconds, pending = rpo.exposure(now=now, current_lsn=current, last_archived_wal="000000010000000100000042",
                                        last_archived_time=now - timedelta(seconds=12.7), segment_size=SEGMENT)
    assert seconds == 12 and pending == 0x1000


def test_rpo_unknown_without_an_archived_segment():
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    assert rpo.exposure(now=now, current_lsn=5, last_archived_wal=None, last_archived_time=None,
                            segment_size=SEGMENT) == (None, None)
    assert rpo.segment_end("00000002.history", SEGMENT) is None


def test_wal_segment_size_setting():
    assert rpo._size_bytes("16MB") == SEGMENT
    assert rpo._size_bytes("1GB") == 1024 ** 3


def test_recovery_target_is_normalised_to_utc():
    assert physical_restore.recovery_target("2026-11-23T05:12:00+01:00", None, None) == {
        "type": "time", "target": "2026-11-23 04:12:00.000000+00"}
    assert physical_restore.recovery_target("2026-11-23 04:12:00", None, None)["target"] == "2026-11-23 04:12:00.000000+00"
    assert physical_restore.recovery_target(None, "0/3000060", None) == {"type": "lsn", "target": "0/3000060"}
    assert physical_restore.recovery_target(None, None, "before-migration") == {"type": "name", "target": "before-migration"}
    assert physical_restore.recovery_target(None, None, None) == {"type": "latest", "target": None}
    with pytest.raises(ConfigurationError, match="target_time"):
        physical_restore.recovery_target("yesterday", None, None)


def test_pgbackrest_record():
    record = physical_restore.backup_record({
        "label": "20261123-040000F", "type": "full", "prior": None,
        "timestamp": {"start": 1795406400, "stop": 1795406420},
        "lsn": {"start": "0/42000028", "stop": "0/43000088"},
        "archive": {"start": "000000010000000000000042", "stop": "000000010000000000000043"},
        "info": {"size": 171642821, "repository": {"delta": 25561354}},
    })
    assert record["label"] == "20261123-040000F" and record["stop_lsn"] == "0/43000088"
    assert record["start_time"] == "2026-11-23T04:00:00Z" and record["stop_time"] == "2026-11-23T04:00:20Z"
    assert record["repository_size"] == 25561354


def test_stanza_missing():
    assert physical_restore.stanza_missing({"status": {"code": 1, "message": "missing stanza path"}})
    assert not physical_restore.stanza_missing({"status": {"code": 0, "message": "ok"}})


def test_data_directory_state(tmp_path):
    assert physical_restore.directory_state(str(tmp_path / "new")) == {"exists": False, "empty": True, "running": False}
    assert physical_restore.directory_state(str(tmp_path))["empty"] is True
    (tmp_path / "PG_VERSION").write_text("15\n")
    (tmp_path / "postmaster.pid").write_text("999999999\n")
    state = physical_restore.directory_state(str(tmp_path))
    assert state["empty"] is False and state["running"] is False


def test_archiving_stays_on_only_when_the_cluster_is_rebuilt_in_its_own_data_directory(tmp_path):
    own = str(tmp_path / "main")
    source = {"data_directory": own + "/"}
    assert physical_restore.archive_mode_for("auto", own, source) == "preserve"
    # A copy elsewhere must not push a new timeline into the archive of the cluster it came from.
    assert physical_restore.archive_mode_for("auto", str(tmp_path / "recovered"), source) == "off"
    assert physical_restore.archive_mode_for("auto", own, {}) == "off"
    assert physical_restore.archive_mode_for("auto", own, None) == "off"
    assert physical_restore.archive_mode_for("preserve", str(tmp_path / "recovered"), source) == "preserve"
    assert physical_restore.archive_mode_for("off", own, source) == "off"
    with pytest.raises(ConfigurationError, match="archive_mode"):
        physical_restore.archive_mode_for("on", own, source)


def test_next_wal_segment_rolls_over_the_log_number():
    size = 16 * 1024 * 1024
    assert physical_restore.next_segment("000000010000000000000009", size) == "00000001000000000000000A"
    assert physical_restore.next_segment("0000000200000003000000FF", size) == "000000020000000400000000"
    assert physical_restore.next_segment("000000010000000000000001", 64 * 1024 * 1024) == "000000010000000000000002"
    assert physical_restore.next_segment("00000001000000000000003F", 64 * 1024 * 1024) == "000000010000000100000000"


def test_unarchived_wal_finds_ready_segments_and_the_one_being_written(tmp_path):
    wal = tmp_path / "pg_wal"
    (wal / "archive_status").mkdir(parents=True)
    for name in ["000000010000000000000003", "000000010000000000000004", "000000010000000000000005",
                 "000000010000000000000006", "000000010000000000000007"]:
        (wal / name).write_bytes(b"\0" * 1024)
    (wal / "00000001.history").write_text("")
    (wal / "archive_status" / "000000010000000000000003.done").write_text("")
    (wal / "archive_status" / "000000010000000000000004.ready").write_text("")
    (wal / "archive_status" / "000000010000000000000002.partial.done").write_text("")
    # 1 kB segments: 0x100000000 / 1024 segments per log number, so the next one after 4 is 5; 6 and 7 are recycled.
    assert physical_restore.unarchived_wal(str(wal)) == {"ready": ["000000010000000000000004"],
                                                     "current": "000000010000000000000005"}


def test_unarchived_wal_without_status_or_directory_is_nothing(tmp_path):
    assert physical_restore.unarchived_wal(str(tmp_path / "missing")) == {"ready": [], "current": None}
    (tmp_path / "pg_wal" / "archive_status").mkdir(parents=True)
    (tmp_path / "pg_wal" / "000000010000000000000003").write_bytes(b"")
    assert physical_restore.unarchived_wal(str(tmp_path / "pg_wal")) == {"ready": [], "current": None}


@pytest.mark.parametrize("content, end", [
    (b"1\tx\n2\ty\n\\.\n\n\n", 8),        # pg_dump's layout: rows, the end-of-data line, blank lines
    (b"\\.\n\n\n", 0),                      # an empty table
    (b"1\tx\\.\n\\.\n", 6),                 # a row ending in an escaped dot is still a row
    (b"1\tx\n2\ty\n", None),                # no end-of-data line
    (b"1\tx\n2\ty\\.\n", None),             # the dot belongs to a row
])
def test_the_rows_of_a_data_file_end_before_the_end_of_data_line(content, end):
    assert logical_backup.rows_end(content[-64:], len(content)) == end


def test_rows_of_a_data_file_are_counted_and_hashed_as_a_copy_hands_them_over():
    rows = b"1\tx\\ny\n2\t\\N\n3\tz\n"
    from_file, from_copy = RowsDigest(), RowsDigest()
    buffer = bytearray(rows + b"\\.\n\n")
    from_file.add(buffer, len(rows))
    for line in rows.splitlines(keepends=True):
        from_copy.write(line)
    assert (from_file.rows, from_file.hexdigest()) == (from_copy.rows, from_copy.hexdigest()) == (3, from_copy.hexdigest())
    other = RowsDigest()
    other.write(rows.replace(b"z", b"Z"))
    assert other.rows == 3 and other.hexdigest() != from_copy.hexdigest()


def test_a_table_differing_only_in_a_generated_column_is_named():
    want = {"rows": 2, "checksum": "a" * 32, "row_checksum": "b" * 32}
    compare_table("public.t", want, {"rows": 2, "checksum": "a" * 32, "row_checksum": "b" * 32}, "restore")
    with pytest.raises(VerificationFailed, match="public.t differs .*row_checksum"):
        compare_table("public.t", want, {"rows": 2, "checksum": "a" * 32, "row_checksum": "c" * 32}, "restore")


@pytest.mark.parametrize("piece", [1, 7, 64, 65, 1000])
def test_rows_of_a_data_file_read_while_it_grows_are_those_a_copy_hands_over(piece):
    rows = b"".join(b"%d\trow number %d with some text\\n\n" % (number, number) for number in range(40))
    content = rows + b"\\.\n\n\n"
    followed = logical_backup._DataFileRows()  # pylint: disable=protected-access
    for start in range(0, len(content), piece):
        buffer = bytearray(content[start:start + piece])
        followed.add(buffer, len(buffer))
    expected = RowsDigest()
    expected.write(rows)
    assert followed.result() == (40, expected.hexdigest())
    truncated = logical_backup._DataFileRows()  # pylint: disable=protected-access
    truncated.add(bytearray(rows), len(rows))
    assert truncated.result() == (None, None), "a file without its end-of-data line has no digest"


class _StoredBackup:
    """Stands in for a backup being written: keeps what each add_* stored."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def add_chunks(self, name, chunks):
        self.files[name] = b"".join(bytes(chunk) for chunk in chunks)
        return types.SimpleNamespace(content_size=len(self.files[name]))

    def add_file(self, name, path):
        self.files[name] = Path(path).read_bytes()
        return types.SimpleNamespace(content_size=len(self.files[name]))


def test_a_data_file_is_stored_while_pg_dump_writes_it_and_only_complete(tmp_path):
    data_file, toc = tmp_path / "3339.dat", tmp_path / "toc.dat"
    rows = [b"%d\tsome text of row %d\n" % (number, number) for number in range(2000)]
    backup = _StoredBackup()
    uploader = logical_backup._Uploader(backup, str(tmp_path), workers=2)  # pylint: disable=protected-access
    with data_file.open("wb", buffering=0) as writing:
        for start in range(0, len(rows), 500):
            writing.write(b"".join(rows[start:start + 500]))
            uploader.observe([str(data_file)], {str(data_file)})  # still open: followed, not finished
            time.sleep(0.05)
        writing.write(b"\\.\n\n\n")
    toc.write_bytes(b"table of contents")
    uploader.observe([str(data_file), str(toc)], set(), final=True)
    uploader.finish()
    expected = RowsDigest()
    expected.write(b"".join(rows))
    assert backup.files["data/3339.dat"] == b"".join(rows) + b"\\.\n\n\n"
    assert uploader.dumped["3339.dat"] == (2000, expected.hexdigest())
    assert not data_file.exists() and toc.exists(), "stored data files are deleted; the table of contents stays for pg_restore --list"


def test_pg_dump_gives_up_on_a_locked_table_after_lock_wait_timeout():
    argv = logical_backup.dump_argv("/usr/bin/pg_dump", "/tmp/work/data", "00000003-1", jobs=4, lock_wait_timeout=300)
    assert "--lock-wait-timeout=300s" in argv
    assert argv[0] == "/usr/bin/pg_dump" and argv[-1] == "--file=/tmp/work/data"
    assert {"--format=directory", "--jobs=4", "--compress=0", "--snapshot=00000003-1"} <= set(argv)


def test_pg_dump_waits_for_locks_without_limit_at_lock_wait_timeout_zero():
    argv = logical_backup.dump_argv("pg_dump", "/tmp/work/data", "00000003-1", jobs=1, lock_wait_timeout=0)
    assert not [argument for argument in argv if argument.startswith("--lock-wait-timeout")]


def test_a_negative_lock_wait_timeout_is_refused_before_connecting():
    with pytest.raises(ConfigurationError, match="lock_wait_timeout"):
        logical_backup.logical_backup(None, None, component="orders-db", database="orders", lock_wait_timeout=-1)


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


def test_a_restore_of_one_method_never_picks_a_backup_of_the_other(tmp_path):
    repository = open_repository({"repository": str(tmp_path / "repository"), "compression_level": 1})
    ids = {}
    for method in ("logical", "physical"):  # the physical backup is the newer one
        with repository.new_backup("orders-db", kind="postgresql", method=method) as backup:
            backup.add_bytes("data/marker", method.encode())
        ids[method] = backup.backup_id
        time.sleep(1.1)  # backup ids carry the second they were taken
    assert choose_pg_backup(repository, "orders-db", None, "logical").entry.backup_id == ids["logical"]
    assert choose_pg_backup(repository, "orders-db", None, "physical").entry.backup_id == ids["physical"]
    with pytest.raises(ConfigurationError, match=rf"^backup {ids['physical']} of component orders-db is a postgresql "
                                                 r"backup \(method physical\), not a PostgreSQL logical backup; restore "
                                                 r"it with method physical"):
        choose_pg_backup(repository, "orders-db", ids["physical"], "logical")
