# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd units as text: unit names for schedules and command lines for ExecStart.

The backup role installs one service and timer per backup schedule of the
plan (and one each for the restore test and the RPO check). Their names must
be valid unit names, readable in `systemctl list-timers`, and the same on
every run for the same schedule, so that a second run changes nothing and a
schedule the plan no longer has can be found and removed. Their command
lines must reach the playbook exactly as given, whatever the plan file's path
or the extra variables hold: systemd splits ExecStart on its own quoting
rules (not a shell's), expands `%` specifiers and `$VARIABLES`.
"""

from __future__ import annotations

import hashlib
import re
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError

# The longest a schedule's part of a unit name gets (a unit name may have 255 characters in all).
SLUG_LENGTH = 40
# Words systemd takes as they are in a command line; anything else is quoted.
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
_UNIT_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


def slug(text: str) -> str:
    """A schedule as a word for a unit name: lower case letters and digits, runs of anything else as one '-'.

    daily -> daily, "*-*-* 02:00:00" -> 02-00-00, "Mon..Fri 04:00" -> mon-fri-04-00, "*:0/15" -> 0-15.
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:SLUG_LENGTH].strip("-")


def unit_names(prefix: str, schedules: t.Sequence[str]) -> dict[str, str]:
    """The unit name (without .service/.timer) of each distinct schedule: prefix-slug.

    A schedule whose slug is empty, or the same as an earlier schedule's, also gets the first eight hex digits
    of its SHA-256, so every name is unique and depends only on the prefix and the schedule itself.
    """
    if not _UNIT_NAME.match(prefix or ""):
        raise ConfigurationError(f"{prefix!r} cannot start a systemd unit name; use letters, digits, '_', '.', ':' and '-'")
    names: dict[str, str] = {}
    used: set[str] = set()
    for schedule in schedules:
        if schedule in names:
            continue
        word = slug(schedule)
        if not word or f"{prefix}-{word}" in used:
            digest = hashlib.sha256(schedule.encode()).hexdigest()[:8]
            word = f"{word}-{digest}" if word else digest
        names[schedule] = f"{prefix}-{word}"
        used.add(names[schedule])
    return names


def _word(argument: str) -> str:
    if any(ord(character) < 32 or ord(character) == 127 for character in argument):
        raise ConfigurationError(f"the command line argument {argument!r} holds a control character (a line break?)")
    if not _PLAIN_WORD.match(argument):
        argument = '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'
    # Specifiers (%n) and environment variables ($HOME) are expanded in every word, quoted or not.
    return argument.replace("%", "%%").replace("$", "$$")


def command_line(argv: t.Sequence[t.Any]) -> str:
    """An argument list as the value of ExecStart= that systemd runs as exactly that list."""
    if not argv or not str(argv[0]).startswith("/"):
        raise ConfigurationError(
            f"the command {list(argv)!r} must start with the absolute path of the program (systemd looks "
            "programs up in its own PATH, not the one of the user who installs the unit)"
        )
    return " ".join(_word(str(argument)) for argument in argv)
