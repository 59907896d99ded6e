# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The allow-list of a globals file: only what pg_dumpall --globals-only writes is ever run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._postgres import globals_script

FIXTURES = Path(__file__).parent / "fixtures"
GLOBALS = (FIXTURES / "pg_globals.sql").read_text()
# pg_dumpall 15 of the lab: a role with a password, connection limit, expiry and comment, a role setting, a
# membership with ADMIN OPTION, a name holding a semicolon, \restrict and \unrestrict.
REAL_GLOBALS = (FIXTURES / "pg15_globals_memberships.sql").read_text()
# Shapes of pg_dumpall --globals-only 13 to 17 the lab's data does not make it write.
OTHER_VERSIONS = """
CREATE TABLESPACE fast OWNER postgres LOCATION '/srv/fast';
ALTER TABLESPACE fast SET (seq_page_cost='1.5', random_page_cost='1.1');
ALTER TABLESPACE fast OWNER TO app_owner;
COMMENT ON TABLESPACE fast IS 'SSD';
REVOKE ALL ON TABLESPACE fast FROM PUBLIC;
GRANT CREATE ON TABLESPACE fast TO app_owner;
GRANT app_owner TO "App Reader" WITH ADMIN OPTION, INHERIT FALSE, SET TRUE GRANTED BY postgres;
GRANT SET ON PARAMETER work_mem TO app_owner;
GRANT ALTER SYSTEM ON PARAMETER auto_explain.log_min_duration TO app_owner;
ALTER ROLE app_owner IN DATABASE shop SET work_mem TO '8MB';
ALTER ROLE app_owner WITH NOLOGIN CONNECTION LIMIT -1 PASSWORD NULL VALID UNTIL 'infinity';
SECURITY LABEL FOR selinux ON ROLE app_owner IS 'system_u:object_r:sepgsql_t:s0';
COMMENT ON ROLE app_owner IS NULL;
"""


@pytest.mark.parametrize("script", [GLOBALS, REAL_GLOBALS, OTHER_VERSIONS], ids=["fixture", "pg15", "other-versions"])
def test_globals_that_pg_dumpall_writes_are_accepted(script):
    statements = globals_script.check_script(script, "globals")
    assert len(statements) == len(globals_script.numbered_statements(script)) > 5


def test_real_globals_create_the_missing_roles_with_their_memberships_and_settings():
    plan = globals_script.plan_globals(REAL_GLOBALS, existing_roles={"postgres", "shopfront"}, existing_tablespaces=set())
    assert plan.roles_created == ["Sig Test;2", "sigtest_r1"]
    assert 'GRANT sigtest_r1 TO "Sig Test;2" WITH ADMIN OPTION GRANTED BY postgres' in plan.run
    assert "COMMENT ON ROLE sigtest_r1 IS 'a comment; with ''quotes'''" in plan.run
    assert "ALTER ROLE sigtest_r1 SET search_path TO 'a', 'b'" in plan.run
    assert not [statement for statement in plan.run if statement.startswith("\\")]


@pytest.mark.parametrize("forged, named, reason", [
    ("COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'", "COPY (SELECT 1) TO PROGRAM", "writes only SET"),
    ("DO $$BEGIN PERFORM 1; END$$", "DO $$BEGIN", "dollar quoting"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "CREATE FUNCTION", "expected TABLESPACE"),
    ("SELECT pg_read_file('/etc/passwd')", "SELECT pg_read_file", "writes only SET"),
    ("COMMENT ON ROLE app IS 'x' || (SELECT 'y')", "COMMENT ON ROLE app", "not part of any statement"),
    ("ALTER ROLE app SET session_preload_libraries = 'evil'", "session_preload_libraries", "loads libraries"),
    ("\\! touch /tmp/x", "\\! touch /tmp/x", "meta-commands"),
    ("SET standard_conforming_strings = off", "standard_conforming_strings = off", "can only be on"),
    ("SET session_authorization = app", "SET session_authorization", "pg_dumpall sets only"),
    ("CREATE ROLE x WITH LOGIN /* hidden */", "CREATE ROLE x", "comments"),
    ("ALTER ROLE app WITH LOGIN PASSWORD E'x'", "ALTER ROLE app", "expected a string"),
])
def test_a_forged_globals_file_is_refused_naming_the_statement_and_its_line(forged, named, reason):
    script = "SET client_encoding = 'UTF8';\nCREATE ROLE app;\n\n" + forged + ";\nCREATE ROLE after;\n"
    with pytest.raises(IntegrityError) as raised:
        globals_script.plan_globals(script, existing_roles=set(), existing_tablespaces=set(),
                                    what="backup B: file globals.sql")
    message = raised.value.message
    assert message.startswith("backup B: file globals.sql: statement 3 (line 4) `"), message
    assert named in message and reason in message and "none of its statements was run" in message


def test_a_statement_hidden_in_a_string_is_one_string_to_the_parser():
    # With standard quoting (which the restore sets for its session) a backslash is a plain character: the
    # "second statement" is the text of VALID UNTIL, which PostgreSQL refuses as a date.
    statement = "ALTER ROLE r WITH PASSWORD 'x\\' VALID UNTIL 'y; COPY t TO PROGRAM ''id''; --'"
    assert globals_script.numbered_statements(statement + ";") == [(1, statement)]
    globals_script.check_statement(statement)


def test_a_forged_password_never_shows_in_the_refusal():
    script = "ALTER ROLE app WITH PASSWORD 'hunter2' CREATEDB; DROP ROLE app"
    with pytest.raises(IntegrityError) as raised:
        globals_script.check_script(script, "globals")
    assert "hunter2" not in raised.value.message and "DROP ROLE app" in raised.value.message


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
