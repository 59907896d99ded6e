# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_restore's globals against the lab's PostgreSQL 15: what pg_dumpall writes (roles with passwords,
memberships, settings, comments) comes back; a forged globals file is refused and its statements never run."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psycopg2

from .pg_fixtures import Pg, cleanup_databases, cleanup_roles, pg, unique  # noqa: F401  # pylint: disable=unused-import

from ansible_collections.resilience.dr.plugins.module_utils._postgres.logical_backup import GLOBALS_FILE
from ansible_collections.resilience.dr.plugins.module_utils._repository.manifest import VERIFICATION_DATA_NAME
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

BACKUP = "resilience.dr.pg_backup"
RESTORE = "resilience.dr.pg_restore"


def _seed(pg: Pg, database: str, login: str, member: str) -> None:  # pylint: disable=redefined-outer-name
    pg.execute("postgres", f'CREATE DATABASE "{database}"')
    pg.execute(database, "CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 50)")
    pg.execute("postgres", f"""
        CREATE ROLE "{login}" LOGIN PASSWORD 'pw of {login}' CONNECTION LIMIT 3 VALID UNTIL '2031-01-01';
        CREATE ROLE "{member}" NOLOGIN;
        GRANT "{login}" TO "{member}" WITH ADMIN OPTION;
        ALTER ROLE "{login}" SET search_path TO 'app', 'public';
        COMMENT ON ROLE "{login}" IS 'reads orders; ''quoted''';
    """)
    pg.execute(database, f'GRANT SELECT ON orders TO "{login}"')


def _forge(repository: Path, component: str, backup_id: str, globals_sql: bytes) -> str:
    """A copy of a real backup whose globals.sql is replaced, written as anyone who can write to the repository could."""
    store = open_repository({"repository": str(repository), "compression_level": 1})
    entry = store.find(component, backup_id)
    manifest = entry.manifest
    with store.new_backup(component, kind=manifest.kind, method=manifest.method) as forged:
        for record in manifest.files:
            if record.name != VERIFICATION_DATA_NAME:
                forged.add_bytes(record.name, globals_sql if record.name == GLOBALS_FILE else store.read_bytes(entry, record.name))
        forged.verification = store.verification_data(entry)
        forged.source, forged.consistency_point = dict(manifest.source), dict(manifest.consistency_point)
        forged.tools, forged.extra = dict(manifest.tools), dict(manifest.extra)
    return forged.backup_id


def test_globals_pg_dumpall_wrote_come_back_with_passwords_memberships_and_settings(
        ansible, pg: Pg, unique, cleanup_databases, cleanup_roles, tmp_path):  # pylint: disable=redefined-outer-name
    database, login, member = f"gl_{unique}", f"gl_login_{unique}", f"Gl Member;{unique}"
    cleanup_databases.append(database)
    cleanup_roles.extend([member, login])
    _seed(pg, database, login, member)
    repository, component = tmp_path / "repository", f"gl-{unique}"
    backup = ansible.module(BACKUP, {**pg.login, "repository": str(repository), "component": component, "db": database})
    assert not backup["failed"], backup["msg"]
    pg.drop_database(database)
    pg.drop_role(member)
    pg.drop_role(login)

    restored = ansible.module(RESTORE, {**pg.login, "repository": str(repository), "component": component})

    assert not restored["failed"], restored["msg"]
    assert sorted(restored["roles_created"]) == sorted([login, member])
    assert pg.execute("postgres", "SELECT rolcanlogin, rolconnlimit, rolvaliduntil::date::text FROM pg_roles "
                                  "WHERE rolname = %s", (login,)) == [(True, 3, "2031-01-01")]
    assert pg.execute("postgres", "SELECT m.admin_option FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                                  "JOIN pg_roles g ON g.oid = m.member WHERE r.rolname = %s AND g.rolname = %s",
                      (login, member)) == [(True,)]
    assert pg.execute("postgres", "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
                                  "WHERE r.rolname = %s", (login,)) == [(["search_path=app, public"],)]
    assert pg.execute("postgres", "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
                      (login,)) == [("reads orders; 'quoted'",)]
    # The password of the backup works again.
    with contextlib.closing(psycopg2.connect(host=pg.facts["host"], port=pg.port, user=login,
                                             password=f"pw of {login}", dbname=database)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM orders")
            assert cursor.fetchone() == (50,)


def test_a_forged_globals_file_is_refused_naming_the_statement_and_its_program_never_runs(
        ansible, pg: Pg, unique, cleanup_databases, cleanup_roles, tmp_path):  # pylint: disable=redefined-outer-name
    database, login, member = f"gf_{unique}", f"gf_login_{unique}", f"gf_member_{unique}"
    cleanup_databases.append(database)
    cleanup_roles.extend([member, login])
    _seed(pg, database, login, member)
    repository, component = tmp_path / "repository", f"gf-{unique}"
    backup = ansible.module(BACKUP, {**pg.login, "repository": str(repository), "component": component, "db": database})
    assert not backup["failed"], backup["msg"]
    real = open_repository({"repository": str(repository)}).read_bytes(
        open_repository({"repository": str(repository)}).find(component, backup["backup_id"]), GLOBALS_FILE)
    # /tmp is writable by the server's account: this COPY, run as a superuser, would leave the file behind.
    witness = Path(f"/tmp/resilience-dr-forged-{unique}")
    control = Path(f"/tmp/resilience-dr-control-{unique}")
    pg.execute("postgres", f"COPY (SELECT 1) TO PROGRAM 'touch {control}'")
    assert control.exists(), "the lab's server runs COPY ... TO PROGRAM: the test can see it happen"
    control.unlink()
    line = real.count(b"\n") + 1
    forged_id = _forge(repository, component, backup["backup_id"],
                       real + f"COPY (SELECT 1) TO PROGRAM 'touch {witness}';\n".encode())
    pg.drop_database(database)
    pg.drop_role(member)
    pg.drop_role(login)

    try:
        refused = ansible.module(RESTORE, {**pg.login, "repository": str(repository), "component": component,
                                           "backup_id": forged_id})
    finally:
        planted = witness.exists()
        with contextlib.suppress(FileNotFoundError):
            witness.unlink()

    assert refused["failed"] and not planted
    assert f"backup {forged_id} of component {component}: file globals.sql" in refused["msg"]
    assert f"(line {line}) `COPY (SELECT 1) TO PROGRAM 'touch {witness}'` is refused" in refused["msg"]
    assert "none of its statements was run" in refused["msg"]
    # Nothing of the file ran: the roles it would create are still missing, the database too.
    assert pg.execute("postgres", "SELECT rolname FROM pg_roles WHERE rolname IN (%s, %s)", (login, member)) == []
    assert pg.databases(database) == []


def test_a_statement_hidden_in_a_string_never_runs_whatever_the_server_s_quoting(
        ansible, pg: Pg, unique, cleanup_databases, cleanup_roles, tmp_path):  # pylint: disable=redefined-outer-name
    # Where backslashes escape quotes (standard_conforming_strings off), the text after VALID UNTIL would be a
    # second statement; the restore reads the file with standard quoting, where it is a string.
    database, login, member = f"gh_{unique}", f"gh_login_{unique}", f"gh_member_{unique}"
    cleanup_databases.append(database)
    cleanup_roles.extend([member, login, f"gh_hidden_{unique}"])
    _seed(pg, database, login, member)
    repository, component = tmp_path / "repository", f"gh-{unique}"
    backup = ansible.module(BACKUP, {**pg.login, "repository": str(repository), "component": component, "db": database})
    assert not backup["failed"], backup["msg"]
    witness = Path(f"/tmp/resilience-dr-hidden-{unique}")
    hidden = (f"CREATE ROLE gh_hidden_{unique};\nALTER ROLE gh_hidden_{unique} WITH LOGIN PASSWORD 'x\\' VALID UNTIL "
              f"'; COPY (SELECT 1) TO PROGRAM $$touch {witness}$$; --';\n")
    forged_id = _forge(repository, component, backup["backup_id"], hidden.encode())
    pg.execute("postgres", "ALTER DATABASE postgres SET standard_conforming_strings = off")
    try:
        result = ansible.module(RESTORE, {**pg.login, "repository": str(repository), "component": component,
                                          "backup_id": forged_id, "target_db": f"{database}_copy"})
    finally:
        pg.execute("postgres", "ALTER DATABASE postgres RESET standard_conforming_strings")
        planted = witness.exists()
        with contextlib.suppress(FileNotFoundError):
            witness.unlink()
    assert not planted
    assert result["failed"] and "VALID UNTIL" in result["msg"] and "PASSWORD '***'" in result["msg"], result["msg"]
