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

_IDENTIFIER = re.compile(r'"((?:[^"]|"")*)"|([A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*)')
_WORD = re.compile(r"[A-Za-z_]+")


def split_statements(script: str) -> list[str]:
    """SQL statements of a script, without comments and psql meta-commands; quotes are respected."""
    statements: list[str] = []
    current: list[str] = []
    position, length = 0, len(script)
    while position < length:
        char = script[position]
        at_start = not "".join(current).strip()
        if at_start and char == "\\":  # a psql meta-command takes the rest of its line
            end = script.find("\n", position)
            position = length if end < 0 else end + 1
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
                statements.append(statement)
            current = []
            position += 1
            continue
        current.append(char)
        position += 1
    rest = "".join(current).strip()
    if rest:
        statements.append(rest)
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


@dataclass
class GlobalsPlan:
    """What restoring the globals would do on one server."""

    run: list[str] = field(default_factory=list)
    roles_created: list[str] = field(default_factory=list)
    roles_kept: list[str] = field(default_factory=list)
    tablespaces_created: list[str] = field(default_factory=list)
    skipped: int = 0


def plan_globals(script: str, existing_roles: t.Collection[str], existing_tablespaces: t.Collection[str]) -> GlobalsPlan:
    plan = GlobalsPlan()
    created: set[str] = set()
    for statement in split_statements(script):
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
