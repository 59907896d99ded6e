# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis during a security incident: a longer ACL LOG (acllog-max-len, at run time), the application's ACL
users turned off (ACL SETUSER <user> off, kept across restarts, their connections ended), and all of it put
back on closing.

Each step is planned first (what would change, in words), then applied, so check mode lists the same steps.
"""

from __future__ import annotations

import functools
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._credentials import redis_persist_acl
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._incident import record as _record
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, config_get

ACLLOG_SETTING = "acllog-max-len"


def user_enabled(target: RedisTarget, client: t.Any, user: str) -> bool:
    """Whether the ACL user is on; a user the server does not have is an error naming it."""
    found = target.call(f"ACL GETUSER {user}", lambda: client.acl_getuser(user))
    if not found:
        raise ConfigurationError(f"Redis at {target.address} has no ACL user {user}; check dr_plan.security.revoke_logins")
    flags = [flag.decode() if isinstance(flag, bytes) else str(flag) for flag in found.get("flags") or []]
    return "on" in flags


def plan_incident(target: RedisTarget, client: t.Any, acllog_max_len: int | None, users: t.Sequence[str],
                  recorded: t.Any) -> tuple[list[tuple[str, t.Any]], dict[str, t.Any]]:
    """The steps of the incident mode and the record after them (earlier records kept)."""
    record = _record.read(recorded, target.address)
    steps: list[tuple[str, t.Any]] = []
    if acllog_max_len:
        current = config_get(target, client, ACLLOG_SETTING)
        if int(current) < acllog_max_len:
            _record.keep_first(record, ACLLOG_SETTING, {"value": current})
            steps.append((f"keep the last {acllog_max_len} ACL LOG entries (acllog-max-len was {current})",
                          ("config", ACLLOG_SETTING, str(acllog_max_len))))
    responder = target.user or "default"
    if responder in users:
        raise ConfigurationError(
            f"Redis at {target.address}: dr_plan.security.revoke_logins names {responder}, the ACL user this run "
            "connects as (the responders' login); list only the application's users")
    for user in users:
        if user_enabled(target, client, user):
            _record.add_user(record, user)
            steps.append((f"turn ACL user {user} off and end its connections", ("off", user, None)))
    return steps, record


def plan_close(target: RedisTarget, client: t.Any, logging: bool, users: t.Sequence[str] | None,
               recorded: t.Any) -> tuple[list[tuple[str, t.Any]], dict[str, t.Any]]:
    """The steps that put back what the record holds (every user, or those of users) and what is left of it."""
    record = _record.read(recorded, target.address)
    steps: list[tuple[str, t.Any]] = []
    if logging:
        for name, before in sorted(record["settings"].items()):
            if config_get(target, client, name) != str(before["value"]):
                steps.append((f"set {name} back to {before['value']}", ("config", name, str(before["value"]))))
        record["settings"] = {}
    allow = _record.users_to_allow(record, users)
    for user in allow:
        if not user_enabled(target, client, user):
            steps.append((f"turn ACL user {user} on again", ("on", user, None)))
    record["users"] = [user for user in record["users"] if user not in allow]
    return steps, record


def apply(target: RedisTarget, client: t.Any, steps: t.Sequence[tuple[str, t.Any]], persist: bool) -> dict[str, t.Any]:
    """Take the planned steps; an ACL change is kept across restarts when persist. The connections ended and the
    file the ACL was saved to."""
    ended = 0
    acl_changed = False
    for _words, (kind, name, value) in steps:
        if kind == "config":
            target.call(f"CONFIG SET {name}", functools.partial(client.config_set, name, value))
            continue
        answer = target.call(f"ACL SETUSER {name} {kind}", functools.partial(
            client.execute_command, "ACL", "SETUSER", name, kind))
        if answer not in (True, b"OK", "OK"):
            raise SourceUnavailable(f"Redis at {target.address}: ACL SETUSER {name} {kind} answered {answer!r}",
                                    server=target.address)
        acl_changed = True
        if kind == "off":
            kill = functools.partial(client.execute_command, "CLIENT", "KILL", "USER", name)
            ended += int(target.call(f"CLIENT KILL USER {name}", kill) or 0)
    config_file = ""
    if acl_changed and persist:
        config_file = redis_persist_acl(target, client, "the change of the ACL users")
    return {"sessions_ended": ended, "config_file": config_file}
