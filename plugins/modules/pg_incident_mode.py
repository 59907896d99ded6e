#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_incident_mode
short_description: Log more and refuse the application's logins on a PostgreSQL server during a security incident, and put it back
version_added: 0.1.0
description:
  - The PostgreSQL steps of isolating and closing a security incident (role C(resilience.dr.security_incident)).
  - With O(state=incident) and O(logging), turns on C(log_connections) and C(log_disconnections) and raises
    C(log_statement) to C(ddl) (a higher level is left alone) with C(ALTER SYSTEM) and C(pg_reload_conf()).
  - With O(state=incident), each role of O(users) that may log in gets C(NOLOGIN) and its sessions are ended.
    The role this module connects as (the responders') is refused in O(users).
  - The values before the incident and the roles turned off are returned in RV(recorded); hand that back in
    O(recorded) to the next run. An incident run keeps what an earlier one recorded.
  - With O(state=closed), sets every recorded setting back (C(ALTER SYSTEM SET) to its value if C(ALTER SYSTEM)
    had set it, else C(ALTER SYSTEM RESET)) and gives the recorded roles (all, or those in O(users)) C(LOGIN)
    again. A role that had no login before the incident is never given one.
  - Connects with psycopg2; the connection's user must be a superuser (C(ALTER SYSTEM)).
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.postgres
attributes:
  check_mode:
    support: full
    details: Reads the settings and roles and returns the steps it would take in RV(actions); changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  db:
    description: Database to connect to.
    type: str
    default: postgres
  state:
    description: V(incident) raises logging and refuses logins; V(closed) puts back what O(recorded) holds.
    type: str
    choices: [incident, closed]
    default: incident
  logging:
    description: Act on the logging settings (raise them, or put them back).
    type: bool
    default: true
  users:
    description:
      - With O(state=incident), the roles whose logins are refused.
      - With O(state=closed), the recorded roles to let in again; all of them when not given.
    type: list
    elements: str
  recorded:
    description: The RV(recorded) of the previous run of this module on this server (empty for none).
    type: dict
    default: {}
requirements:
  - psycopg2
seealso:
  - module: resilience.dr.redis_incident_mode
  - module: resilience.dr.pg_credential
"""

EXAMPLES = r"""
- name: Log every connection and DDL statement and refuse the application's login
  resilience.dr.pg_incident_mode:
    login_host: db1.internal
    login_password: "{{ vault_postgres_admin_password }}"
    users: [shopfront, reporting]
  register: orders_db_incident

- name: Close the incident - logging and logins as they were
  resilience.dr.pg_incident_mode:
    login_host: db1.internal
    login_password: "{{ vault_postgres_admin_password }}"
    state: closed
    recorded: "{{ orders_db_incident.recorded }}"
"""

RETURN = r"""
actions:
  description: The steps taken (in check mode, the steps that would be taken), in words.
  returned: always
  type: list
  elements: str
  sample: ["set log_connections = on (was off)", "refuse logins of role shopfront (NOLOGIN) and end its sessions"]
recorded:
  description:
    - What is still to be put back - C(settings) (each setting's value before the incident and whether
      C(ALTER SYSTEM) had set it) and C(users) (the roles turned off). Empty lists and mappings once closed.
  returned: always
  type: dict
  sample: {"settings": {"log_connections": {"value": "off", "altered": false}}, "users": ["shopfront"]}
sessions_ended:
  description: Sessions of the refused roles ended (0 in check mode).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._incident import postgres as _incident
from ansible_collections.resilience.dr.plugins.module_utils._module import require_libraries, run_module
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres


def main() -> None:
    argument_spec = _postgres.postgres_connection_argument_spec()
    argument_spec.update(
        db=dict(type="str", default="postgres"),
        state=dict(type="str", choices=["incident", "closed"], default="incident"),
        logging=dict(type="bool", default=True),
        users=dict(type="list", elements="str"),
        recorded=dict(type="dict", default={}),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_libraries(module, _postgres.require_psycopg2)
    params = module.params
    connection_params = _postgres.ConnectionParams.from_params(params)

    def work() -> dict:
        where = connection_params.where
        with _postgres.connected(connection_params, params["db"]) as connection:
            if params["state"] == "incident":
                steps, recorded = _incident.plan_incident(connection, where, params["logging"], params["users"] or [],
                                                          params["recorded"])
            else:
                steps, recorded = _incident.plan_close(connection, where, params["logging"], params["users"],
                                                       params["recorded"])
            ended = 0 if module.check_mode else _incident.apply(connection, where, steps)
        return {"changed": bool(steps), "actions": [step[0] for step in steps], "recorded": recorded,
                "sessions_ended": ended}

    run_module(module, work)


if __name__ == "__main__":
    main()
