# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restoring the globals (roles, memberships, tablespaces) of a logical backup.

`pg_dumpall --globals-only` writes a script that creates every role and then
resets its attributes and password. Run as it is against a server where the
roles exist, it would put back the passwords of the day of the backup, for
example undoing a rotation after a leaked credential. So the restore creates
only what is missing:

- statements about a role (CREATE/ALTER/COMMENT ON ROLE, role settings) run
  only for roles that do not exist yet, which are then created with the
  attributes, password and settings of the backup;
- GRANT/REVOKE statements run only when they grant to a role created now;
- statements about a tablespace run only when the tablespace does not exist;
- session SETs run; psql meta-commands (\\restrict) are skipped.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass, field

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError

_IDENTIFIER = re.compile(r'"((?:[^"]|"")*)"|([A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)')
_WORD = re.compile(r"[A-Za-z_]+")


def split_statements(script: str) -> list[str]:
    """SQL statements of a script, without comments and psql meta-commands; quotes are respected."""
    return [text for _line, text in numbered_statements(script) if not text.startswith("\\")]


def numbered_statements(script: str) -> list[tuple[int, str]]:
    """(line, text) of each SQL statement and psql meta-command (text starting with a backslash) of a script."""
    statements: list[tuple[int, str]] = []
    current: list[str] = []
    start_line = 1
    position, length = 0, len(script)
    while position < length:
        char = script[position]
        at_start = not "".join(current).strip()
        if at_start and not char.isspace() and not script.startswith("--", position):
            start_line = script.count("\n", 0, position) + 1
        if at_start and char == "\\":  # a psql meta-command takes the rest of its line
            end = script.find("\n", position)
            end = length if end < 0 else end
            statements.append((start_line, script[position:end].strip()))
            position = end + 1
            current = []
            continue
        if script.startswith("--", position):
            end = script.find("\n", position)
            position = length if end < 0 else end + 1
            current.append("\n")
            continue
        if char in ("'", '"'):
            escaped = char == "'" and position > 0 and script[position - 1] in "eE" and (
                position == 1 or not (script[position - 2].isalnum() or script[position - 2] == "_"))
            end = position + 1
            while end < length:
                if escaped and script[end] == "\\":
                    end += 2
                    continue
                if script[end] == char:
                    if end + 1 < length and script[end + 1] == char:
                        end += 2
                        continue
                    break
                end += 1
            current.append(script[position:end + 1])
            position = end + 1
            continue
        if char == "$":
            match = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", script[position:])
            if match:
                tag = match.group(0)
                end = script.find(tag, position + len(tag))
                end = length if end < 0 else end + len(tag)
                current.append(script[position:end])
                position = end
                continue
        if char == ";":
            statement = "".join(current).strip()
            if statement:
                statements.append((start_line, statement))
            current = []
            position += 1
            continue
        current.append(char)
        position += 1
    rest = "".join(current).strip()
    if rest:
        statements.append((start_line, rest))
    return statements


def read_identifier(text: str, position: int = 0) -> tuple[str | None, int]:
    """The identifier at position (unquoted ones fold to lower case) and the position after it."""
    match = _IDENTIFIER.match(text, position)
    if not match:
        return None, position
    if match.group(1) is not None:
        return match.group(1).replace('""', '"'), match.end()
    return match.group(2).lower(), match.end()


def _words(statement: str, count: int) -> list[str]:
    return [word.upper() for word in _WORD.findall(statement[:80])[:count]]


def _subject(statement: str, keyword: str) -> str | None:
    """The name following `keyword` (ROLE, TABLESPACE) in the statement's head."""
    match = re.search(rf"\b{keyword}\s+", statement, re.IGNORECASE)
    if not match:
        return None
    name, _end = read_identifier(statement, match.end())
    return name


def _grantee(statement: str) -> str | None:
    """The role after the top-level TO (GRANT) or FROM (REVOKE), outside quotes."""
    keyword = "TO" if statement.upper().startswith("GRANT") else "FROM"
    position, length = 0, len(statement)
    while position < length:
        char = statement[position]
        if char in ("'", '"'):
            end = statement.find(char, position + 1)
            position = length if end < 0 else end + 1
            continue
        match = re.compile(rf"\s{keyword}\s+", re.IGNORECASE).match(statement, position)
        if match:
            name, _end = read_identifier(statement, match.end())
            return name
        position += 1
    return None


# ---------------------------------------------------------------------- what a globals file may hold

# A logical backup's globals file is run as a superuser, and anyone who can
# write to the repository can replace it (backups are encrypted to public
# keys, not authenticated). So every statement is parsed and must have one of
# the shapes `pg_dumpall --globals-only` (PostgreSQL 13-17) writes; anything
# else (COPY ... TO PROGRAM, DO, CREATE FUNCTION, SELECT, a second statement
# hidden in a literal, a psql meta-command other than \restrict) refuses the
# whole file before any statement runs.

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")+")
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<mark>[,=().])
""", re.VERBOSE)
SESSION_SETTINGS = {
    "default_transaction_read_only": {"off", "false"},
    "client_encoding": None,
    "standard_conforming_strings": {"on", "true"},  # the quoting this parser assumes
}
# Role settings that load code into the role's sessions.
FORBIDDEN_ROLE_SETTINGS = {"session_preload_libraries", "local_preload_libraries", "shared_preload_libraries",
                           "dynamic_library_path"}
ROLE_FLAGS = {f"{prefix}{flag}" for flag in ("SUPERUSER", "INHERIT", "CREATEROLE", "CREATEDB", "LOGIN", "REPLICATION",
                                             "BYPASSRLS") for prefix in ("", "NO")}
META_COMMAND = re.compile(r"^\\(restrict|unrestrict)\s+[A-Za-z0-9]+$")


class NotAllowed(ValueError):
    """A statement that has none of the shapes pg_dumpall --globals-only writes."""


class _Tokens:
    """The tokens of one statement: (kind, text); words upper-cased, identifiers as their names."""

    def __init__(self, statement: str) -> None:
        self.items: list[tuple[str, str]] = []
        position = 0
        while position < len(statement):
            match = _TOKEN.match(statement, position)
            if not match:
                raise NotAllowed(f"{statement[position:position + 10]!r} is not part of any statement pg_dumpall "
                                 "writes (no E'' or dollar quoting, operators, comments or backslashes)")
            position = match.end()
            kind = match.lastgroup or ""
            text = match.group(0)
            if kind == "space":
                continue
            if kind == "string":
                text = text[1:-1].replace("''", "'")
            elif kind == "quoted":
                text = text[1:-1].replace('""', '"')
            self.items.append((kind, text))
        self.index = 0

    def peek(self, *words: str) -> bool:
        if self.index >= len(self.items):
            return False
        kind, text = self.items[self.index]
        return kind in ("word", "mark") and text.upper() in words

    def accept(self, *words: str) -> bool:
        if self.peek(*words):
            self.index += 1
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise NotAllowed(f"expected {' or '.join(words)} {self._where()}")

    def take(self, *kinds: str) -> str:
        if self.index < len(self.items) and self.items[self.index][0] in kinds:
            self.index += 1
            return self.items[self.index - 1][1]
        raise NotAllowed(f"expected a {' or '.join(kinds)} {self._where()}")

    def name(self) -> str:
        """An identifier: a word (folded to lower case) or a quoted name."""
        text = self.take("word", "quoted")
        return text.lower() if self.items[self.index - 1][0] == "word" else text

    def names(self) -> list[str]:
        found = [self.name()]
        while self.accept(","):
            found.append(self.name())
        return found

    def setting_name(self) -> str:
        parts = [self.name()]
        while self.accept("."):
            parts.append(self.name())
        return ".".join(parts)

    def end(self) -> None:
        if self.index != len(self.items):
            raise NotAllowed(f"unexpected {self._where()}")

    def _where(self) -> str:
        if self.index >= len(self.items):
            return "at the end"
        return f"at {self.items[self.index][1][:20]!r}"


def _role_options(tokens: _Tokens) -> None:
    while tokens.index < len(tokens.items):
        if tokens.accept(*ROLE_FLAGS):
            continue
        if tokens.accept("CONNECTION"):
            tokens.expect("LIMIT")
            tokens.take("number")
        elif tokens.accept("ENCRYPTED", "PASSWORD"):
            if tokens.items[tokens.index - 1][1].upper() == "ENCRYPTED":
                tokens.expect("PASSWORD")
            if not tokens.accept("NULL"):
                tokens.take("string")
        elif tokens.accept("VALID"):
            tokens.expect("UNTIL")
            tokens.take("string")
        else:
            raise NotAllowed(f"not a role attribute {tokens._where()}")  # pylint: disable=protected-access


def _setting_values(tokens: _Tokens) -> None:
    tokens.take("string", "word", "number", "quoted")
    while tokens.accept(","):
        tokens.take("string", "word", "number", "quoted")


def _grant_tail(tokens: _Tokens, keyword: str) -> None:
    """TO/FROM grantees [WITH options] [GRANTED BY role]."""
    tokens.expect(keyword)
    tokens.names()
    if tokens.accept("WITH"):
        while True:
            tokens.expect("ADMIN", "INHERIT", "SET", "GRANT")
            tokens.expect("OPTION", "TRUE", "FALSE")
            if not tokens.accept(","):
                break
    if tokens.accept("GRANTED"):
        tokens.expect("BY")
        tokens.name()


def _privileges(tokens: _Tokens) -> None:
    while True:
        if tokens.accept("ALL"):
            tokens.accept("PRIVILEGES")
        elif tokens.accept("ALTER"):
            tokens.expect("SYSTEM")
        else:
            tokens.expect("CREATE", "SET")
        if not tokens.accept(","):
            return


def _grant(tokens: _Tokens, revoke: bool) -> None:
    if revoke:
        tokens.accept("GRANT")  # REVOKE GRANT OPTION FOR ...
        if tokens.items[tokens.index - 1][1].upper() == "GRANT":
            tokens.expect("OPTION")
            tokens.expect("FOR")
    start = tokens.index
    try:  # privileges ON TABLESPACE/PARAMETER
        _privileges(tokens)
        tokens.expect("ON")
    except NotAllowed:  # role membership: GRANT role TO member
        tokens.index = start
        tokens.names()
        _grant_tail(tokens, "FROM" if revoke else "TO")
        return
    if tokens.accept("TABLESPACE"):
        tokens.names()
    else:
        tokens.expect("PARAMETER")
        tokens.setting_name()
        while tokens.accept(","):
            tokens.setting_name()
    _grant_tail(tokens, "FROM" if revoke else "TO")


def _alter_role(tokens: _Tokens) -> None:
    tokens.name()
    if tokens.accept("IN"):
        tokens.expect("DATABASE")
        tokens.name()
        tokens.expect("SET")
    elif not tokens.accept("SET"):
        tokens.accept("WITH")
        if tokens.index == len(tokens.items):
            raise NotAllowed("ALTER ROLE without attributes")
        _role_options(tokens)
        return
    setting = tokens.setting_name()
    if setting in FORBIDDEN_ROLE_SETTINGS:
        raise NotAllowed(f"the role setting {setting} loads libraries into the role's sessions")
    tokens.expect("TO", "=")
    _setting_values(tokens)


def _tablespace(tokens: _Tokens, create: bool) -> None:
    tokens.name()
    if create:
        if tokens.accept("OWNER"):
            tokens.name()
        tokens.expect("LOCATION")
        tokens.take("string")
        return
    if tokens.accept("OWNER"):
        tokens.expect("TO")
        tokens.name()
        return
    tokens.expect("SET")
    tokens.expect("(")
    while True:
        tokens.name()
        tokens.expect("=")
        tokens.take("string", "word", "number")
        if not tokens.accept(","):
            break
    tokens.expect(")")


def _text_on_object(tokens: _Tokens) -> None:
    """ON ROLE|TABLESPACE <name> IS NULL|'<text>': the rest of COMMENT and of SECURITY LABEL."""
    tokens.expect("ON")
    tokens.expect("ROLE", "TABLESPACE")
    tokens.name()
    tokens.expect("IS")
    if not tokens.accept("NULL"):
        tokens.take("string")


def check_statement(statement: str) -> None:
    """Raise NotAllowed unless the statement has a shape pg_dumpall --globals-only writes."""
    if statement.startswith("\\"):
        if META_COMMAND.match(statement):
            return
        raise NotAllowed("the only psql meta-commands pg_dumpall writes are \\restrict and \\unrestrict")
    tokens = _Tokens(statement)
    if tokens.accept("SET"):
        name = tokens.setting_name()
        if name not in SESSION_SETTINGS:
            raise NotAllowed(f"pg_dumpall sets only {', '.join(SESSION_SETTINGS)} (not {name})")
        tokens.expect("=", "TO")
        value = tokens.take("word", "string", "number")
        allowed = SESSION_SETTINGS[name]
        if allowed is not None and value.lower() not in allowed:
            raise NotAllowed(f"{name} can only be {' or '.join(sorted(allowed))} here")
    elif tokens.accept("CREATE"):
        if tokens.accept("ROLE"):
            tokens.name()
            tokens.accept("WITH")
            _role_options(tokens)
        else:
            tokens.expect("TABLESPACE")
            _tablespace(tokens, create=True)
    elif tokens.accept("ALTER"):
        if tokens.accept("ROLE", "USER"):
            _alter_role(tokens)
        else:
            tokens.expect("TABLESPACE")
            _tablespace(tokens, create=False)
    elif tokens.accept("COMMENT"):
        _text_on_object(tokens)
    elif tokens.accept("SECURITY"):
        tokens.expect("LABEL")
        if tokens.accept("FOR"):
            tokens.name()
        _text_on_object(tokens)
    elif tokens.accept("GRANT", "REVOKE"):
        _grant(tokens, revoke=tokens.items[0][1].upper() == "REVOKE")
    else:
        raise NotAllowed("pg_dumpall --globals-only writes only SET, CREATE/ALTER ROLE, GRANT/REVOKE, "
                         "CREATE/ALTER TABLESPACE, COMMENT ON and SECURITY LABEL statements")
    tokens.end()


def check_script(script: str, what: str) -> list[tuple[int, str]]:
    """The numbered statements of a globals file, each checked; IntegrityError names the first refused one."""
    statements = numbered_statements(script)
    for number, (line, statement) in enumerate(statements, start=1):
        try:
            check_statement(statement)
        except NotAllowed as error:
            raise IntegrityError(
                f"{what}: statement {number} (line {line}) `{describe(statement)}` is refused: {error}. A globals "
                "file holds only the statements pg_dumpall --globals-only writes; this one was forged or damaged by "
                "someone who can write to the repository, and none of its statements was run. Restore with "
                "restore_globals: false (the roles must then exist), or restore another backup, and find out who "
                "changed this one", line=line, statement=describe(statement)) from None
    return statements


@dataclass
class GlobalsPlan:
    """What restoring the globals would do on one server."""

    run: list[str] = field(default_factory=list)
    roles_created: list[str] = field(default_factory=list)
    roles_kept: list[str] = field(default_factory=list)
    tablespaces_created: list[str] = field(default_factory=list)
    skipped: int = 0


def plan_globals(script: str, existing_roles: t.Collection[str], existing_tablespaces: t.Collection[str],
                 what: str = "the globals file") -> GlobalsPlan:
    """What to run of a globals file; every statement is checked first (check_script), so a refused file runs nothing."""
    plan = GlobalsPlan()
    created: set[str] = set()
    for _line, statement in check_script(script, what):
        if statement.startswith("\\"):
            continue  # \restrict and \unrestrict matter to psql only
        words = _words(statement, 3)
        head = words[0] if words else ""
        if head == "SET":
            plan.run.append(statement)
            continue
        if head in ("GRANT", "REVOKE"):
            if _grantee(statement) in created:
                plan.run.append(statement)
            else:
                plan.skipped += 1
            continue
        if "TABLESPACE" in words[:3]:
            name = _subject(statement, "TABLESPACE")
            if name is not None and name not in existing_tablespaces:
                plan.run.append(statement)
                if head == "CREATE":
                    plan.tablespaces_created.append(name)
            else:
                plan.skipped += 1
            continue
        if "ROLE" in words[:3] or "USER" in words[:2]:
            name = _subject(statement, "ROLE") or _subject(statement, "USER")
            if name is None:
                plan.skipped += 1
            elif name in existing_roles:
                if head == "CREATE" and name not in plan.roles_kept:
                    plan.roles_kept.append(name)
                plan.skipped += 1
            else:
                if head == "CREATE":
                    created.add(name)
                    plan.roles_created.append(name)
                plan.run.append(statement)
            continue
        plan.run.append(statement)
    return plan


def describe(statement: str) -> str:
    """A statement for an error message: its head, never a password."""
    text = re.sub(r"PASSWORD\s+'(?:[^']|'')*'", "PASSWORD '***'", statement, flags=re.IGNORECASE)
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:117] + "..."
