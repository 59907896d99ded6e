# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an incident changed, recorded so that the closing run puts it back.

A component's record is a mapping: `settings` (each changed setting's value
before the incident, and whether it was set by ALTER SYSTEM / at run time)
and `users` (the logins the incident turned off). A second incident run keeps
what the first recorded: the values before the incident, never the incident's
own.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError


def empty() -> dict[str, t.Any]:
    return {"settings": {}, "users": []}


def read(recorded: t.Any, where: str) -> dict[str, t.Any]:
    """A record handed back by the role (None or {} for none), checked for its shape."""
    if not recorded:
        return empty()
    if not isinstance(recorded, dict) or not isinstance(recorded.get("settings", {}), dict) \
            or not isinstance(recorded.get("users", []), list):
        raise ConfigurationError(
            f"the incident record of {where} is not a mapping with settings and users; it comes from the incident "
            "file the security_incident role writes: restore that file, or fix or remove the entry by hand")
    return {"settings": dict(recorded.get("settings") or {}), "users": [str(user) for user in recorded.get("users") or []]}


def keep_first(record: dict[str, t.Any], setting: str, value: dict[str, t.Any]) -> None:
    """Record a setting's value before the incident, unless an earlier run recorded it already."""
    record["settings"].setdefault(setting, value)


def add_user(record: dict[str, t.Any], user: str) -> None:
    if user not in record["users"]:
        record["users"].append(user)


def users_to_allow(record: dict[str, t.Any], users: t.Sequence[str] | None) -> list[str]:
    """The recorded users to let in again: all of them, or those of users that the incident turned off."""
    if users is None:
        return list(record["users"])
    return [user for user in record["users"] if user in users]
