#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pg_credential
short_description: Keep the sessions of a PostgreSQL server as evidence, give a role a new password, end its sessions
version_added: 0.1.0
description:
  - The PostgreSQL steps of a security incident (role C(resilience.dr.security_incident)).
  - With O(evidence_file), writes C(pg_stat_activity) (every session - pid, user, database, client address,
    start, state, query) as CSV to that file, mode 0600, before anything is reset.
  - With O(password), gives the role O(user) that password and ends the role's sessions
    (C(pg_terminate_backend)). The server receives a SCRAM-SHA-256 verifier computed here
    (C(ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$4096:...')), never the password itself, so a statement log
    does not show it; the role name is quoted as an identifier.
  - Connects with psycopg2, so no password is ever in a process's arguments or environment.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.postgres
attributes:
  check_mode:
    support: full
    details: Checks that the role exists and counts its sessions; writes and changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  db:
    description: Database to connect to.
    type: str
    default: postgres
  user:
    description: The role whose password is rotated (and whose sessions are ended).
    type: str
    required: true
  password:
    description:
      - The new password of O(user) (ASCII). Without it nothing is rotated.
      - Every run with a password changes the role (a new salt), so the module always reports a change then.
    type: str
  terminate_sessions:
    description: End the sessions of O(user) after its password is changed.
    type: bool
    default: true
  evidence_file:
    description: File to write the server's sessions to (CSV with a header), mode 0600; replaced if it exists.
    type: path
requirements:
  - psycopg2
seealso:
  - module: resilience.dr.redis_credential
"""

EXAMPLES = r"""
- name: Keep the database sessions as evidence
  resilience.dr.pg_credential:
    login_host: db1.internal
    login_password: "{{ vault_postgres_admin_password }}"
    user: shopfront
    evidence_file: /var/lib/dr-evidence/orders-db-pg_stat_activity.csv

- name: Rotate the application's database password and end its sessions
  resilience.dr.pg_credential:
    login_host: db1.internal
    login_password: "{{ vault_postgres_admin_password }}"
    user: shopfront
    password: "{{ new_password }}"
"""

RETURN = r"""
user:
  description: The role.
  returned: always
  type: str
sessions:
  description: Sessions of O(user) found before anything was ended.
  returned: always
  type: int
sessions_ended:
  description: Sessions of O(user) ended (0 in check mode).
  returned: when O(password) is given
  type: int
rotated:
  description: Whether the password was changed (false in check mode).
  returned: always
  type: bool
evidence_file:
  description: The evidence file written (not in check mode).
  returned: when O(evidence_file) is given
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils import _credentials
from ansible_collections.resilience.dr.plugins.module_utils._module import require_libraries, run_module
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres


def main() -> None:
    argument_spec = _postgres.postgres_connection_argument_spec()
    argument_spec.update(
        db=dict(type="str", default="postgres"),
        user=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        terminate_sessions=dict(type="bool", default=True),
        evidence_file=dict(type="path"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_libraries(module, _postgres.require_psycopg2)
    params = module.params
    connection_params = _postgres.ConnectionParams.from_params(params)

    def work() -> dict:
        user = params["user"]
        result: dict = {"user": user, "rotated": False, "changed": False}
        with _postgres.connected(connection_params, params["db"]) as connection:
            _credentials.pg_require_role(connection, connection_params, user)
            result["sessions"] = _credentials.pg_user_sessions(connection, user)
            if params["evidence_file"]:
                sessions = _credentials.pg_sessions(connection, connection_params.where)
                result["evidence_file"] = params["evidence_file"]
                result["changed"] = True
                if not module.check_mode:
                    _credentials.write_evidence(params["evidence_file"], sessions)
            if params["password"]:
                result["changed"] = True
                result["sessions_ended"] = 0
                if not module.check_mode:
                    result["sessions_ended"] = _credentials.pg_rotate(
                        connection, connection_params.where, user, params["password"], params["terminate_sessions"])
                    result["rotated"] = True
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
