#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_write_freeze
short_description: Make a PostgreSQL database refuse writes before its last backup, or let it write again
version_added: 0.1.0
description:
  - The write freeze of a failback (playbook C(resilience.dr.failback)) - after it, nothing the database
    acknowledges can be missing from its final backup.
  - O(state=frozen) sets C(default_transaction_read_only = on) on the database (C(ALTER DATABASE ... SET)) and
    records the freeze in the database setting C(resilience_dr.write_freeze) (the previous
    C(default_transaction_read_only) and the start of the freeze, as JSON), both in one transaction; then it ends
    every other session of the database (C(pg_terminate_backend)) and waits until they are gone, so that no
    transaction opened before the freeze can still commit. New sessions are read-only - a write fails with
    C(cannot execute INSERT in a read-only transaction) - and reads, C(pg_dump) and the logical backup still work.
  - Refuses to freeze a database with prepared transactions (they could commit later), changing nothing.
  - O(state=thawed) puts C(default_transaction_read_only) back exactly as the record says it was, removes the
    record, and ends the sessions that started during the freeze (they stay read-only for their whole life), so
    clients reconnect and can write. The record lives on the server, so a thaw works even when the run that froze
    the database died. A thaw of a database that does not exist changes nothing and says so (it connects to the
    C(postgres) database to find out).
  - Limits - the freeze stops applications, not a determined writer. A session can still run
    C(SET default_transaction_read_only = off) (or C(BEGIN READ WRITE)) and write; block such clients (for
    example stop them, as the failback does with the site's services). Settings of a role in the database
    (C(ALTER ROLE ... IN DATABASE ... SET)) take precedence over the database's own. The freeze is per database -
    other databases of the cluster keep writing.
  - Connects with psycopg2, so no password is ever in a process's arguments or environment.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.postgres
attributes:
  check_mode:
    support: full
    details: Reads the database's settings and counts the sessions that would be ended; changes nothing.
  diff_mode:
    support: full
    details: The database's C(default_transaction_read_only) and whether it is frozen, before and after.
  platform:
    platforms: posix
options:
  db:
    description: The database whose writes are frozen or thawed.
    type: str
    required: true
  state:
    description:
      - V(frozen) - the database refuses writes. Freezing a frozen database changes nothing (its record is kept).
      - V(thawed) - the database takes writes as before the freeze. Thawing a database that is not frozen changes
        nothing.
    type: str
    choices: [frozen, thawed]
    default: frozen
  terminate_sessions:
    description:
      - End the sessions that could still write (O(state=frozen)) or that are read-only because they started
        during the freeze (O(state=thawed)). Without it a freeze does not stop a transaction already open.
    type: bool
    default: true
notes:
  - The connection's user must own the database (or be a superuser) and may end other sessions only as a
    superuser or with the role C(pg_signal_backend).
requirements:
  - psycopg2
seealso:
  - module: resilience.dr.redis_write_freeze
"""

EXAMPLES = r"""
- name: Freeze the writes of orders before the final backup of the failback
  resilience.dr.pg_write_freeze:
    login_host: db2.internal
    login_password: "{{ vault_postgres_admin_password }}"
    db: orders
    state: frozen

- name: Let the secondary's orders database write again (reuse of a retired secondary)
  resilience.dr.pg_write_freeze:
    login_host: db2.internal
    login_password: "{{ vault_postgres_admin_password }}"
    db: orders
    state: thawed
"""

RETURN = r"""
db:
  description: The database.
  returned: always
  type: str
state:
  description: The state asked for.
  returned: always
  type: str
  sample: frozen
before:
  description: The database before the run - C(frozen) and its C(default_transaction_read_only) setting (null when not set).
  returned: always
  type: dict
  sample: {"frozen": false, "default_transaction_read_only": null}
after:
  description: The database after the run (in check mode - what it would be).
  returned: always
  type: dict
  sample: {"frozen": true, "default_transaction_read_only": "on"}
previous:
  description: The C(default_transaction_read_only) the freeze replaced (null - not set), which a thaw restores.
  returned: when the database was or is frozen
  type: str
frozen_at:
  description: When the freeze started (UTC, ISO 8601), as recorded on the server.
  returned: when the database was or is frozen
  type: str
  sample: "2026-11-23T04:00:00.123456Z"
sessions:
  description: Sessions of the database that would be ended (check mode) or were found.
  returned: always
  type: int
sessions_ended:
  description: Sessions of the database ended (0 in check mode).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils import _write_freeze
from ansible_collections.resilience.dr.plugins.module_utils._module import require_libraries, run_module
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres


def _view(frozen: bool, setting: str | None) -> dict:
    return {"frozen": frozen, "default_transaction_read_only": setting}


def main() -> None:
    argument_spec = _postgres.postgres_connection_argument_spec()
    argument_spec.update(
        db=dict(type="str", required=True),
        state=dict(type="str", choices=["frozen", "thawed"], default="frozen"),
        terminate_sessions=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_libraries(module, _postgres.require_psycopg2)
    params = module.params
    connection_params = _postgres.ConnectionParams.from_params(params)
    database, wanted = params["db"], params["state"]
    where = connection_params.where

    def work() -> dict:
        if wanted == "thawed":
            # A database that does not exist holds no freeze: a site that never served has nothing to thaw.
            with _postgres.connected(connection_params, "postgres") as maintenance:
                if _postgres.database_properties(maintenance, database) is None:
                    return {"db": database, "state": wanted, "changed": False, "before": None, "after": None,
                            "sessions": 0, "sessions_ended": 0,
                            "msg": f"PostgreSQL at {where} has no database {database}: nothing to thaw"}
        with _postgres.connected(connection_params, database) as connection:
            _write_freeze.pg_writable_session(connection)
            state = _write_freeze.pg_state(_write_freeze.pg_settings(connection, database, where))
            before = _view(state["frozen"], state["setting"])
            freeze = wanted == "frozen"
            changed = state["frozen"] != freeze
            since = None if freeze else state["frozen_at"]
            sessions = len(_write_freeze.pg_sessions(connection, database, since)) if changed else 0
            result: dict = {"db": database, "state": wanted, "changed": changed, "before": before,
                            "sessions": sessions, "sessions_ended": 0}
            if freeze:
                after = _view(True, "on") if changed else before
            else:
                after = _view(False, state["previous"]) if changed else before
            if state["frozen"]:
                result.update(previous=state["previous"], frozen_at=state["frozen_at"])
            if changed and not module.check_mode:
                if freeze:
                    result.update(_write_freeze.pg_freeze(connection, database, where, state,
                                                          params["terminate_sessions"]))
                    result["previous"] = state["setting"]
                else:
                    result.update(_write_freeze.pg_thaw(connection, database, where, state,
                                                        params["terminate_sessions"]))
                now = _write_freeze.pg_state(_write_freeze.pg_settings(connection, database, where))
                after = _view(now["frozen"], now["setting"])
            elif changed and freeze:
                result["previous"] = state["setting"]
            result["after"] = after
            if module._diff:
                result["diff"] = {"before": before, "after": after}
            return result

    run_module(module, work)


if __name__ == "__main__":
    main()
