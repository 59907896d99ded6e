#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: evidence_collect
short_description: Collect the evidence of a security incident on the host of one component
version_added: 0.1.0
description:
  - Runs on the host of one component (delegate to it) and writes that component's evidence into
    O(directory)C(/<component>/) (directories 0700, files 0600) - for PostgreSQL C(pg_stat_activity) and the
    refused logins found in the server's current log file (C(pg_current_logfile()), where this user may locate
    and read it); for Redis C(CLIENT LIST) and C(ACL LOG); and the log files O(logs) of this host.
  - Each piece is returned with what it is, the component, this host, what it was read from, when it was
    collected (UTC) and its size and SHA-256, computed here; M(resilience.dr.evidence_store) checks them again
    before it stores the pieces in the repository as an encrypted evidence set.
  - The connection's password is replaced by C(********) in the text this module writes (sessions, clients);
    log files are copied as they are.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Lists the pieces that would be collected (without times or checksums); nothing is read or written.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  component:
    description: The plan's name of the component whose evidence this is.
    type: str
    required: true
  kind:
    description: The component's kind; V(files) (or any other) collects only O(logs).
    type: str
    choices: [postgresql, redis, files, rds, s3]
    required: true
  connection:
    description:
      - How to reach the server, as in the plan's component C(connection) - C(login_host), C(login_port),
        C(login_user), C(login_password), and C(login_unix_socket), C(db) (PostgreSQL) or C(tls) (Redis).
    type: dict
  logs:
    description: Log files of this host to copy into the evidence.
    type: list
    elements: path
    default: []
  directory:
    description: The private staging directory of this incident on this host (created 0700).
    type: path
    required: true
requirements:
  - psycopg2 (PostgreSQL)
  - redis (Redis)
seealso:
  - module: resilience.dr.evidence_store
"""

EXAMPLES = r"""
- name: Collect the evidence of orders-db on its host
  resilience.dr.evidence_collect:
    component: orders-db
    kind: postgresql
    connection:
      login_host: db1.internal
      login_user: postgres
      login_password: "{{ vault_orders_db_password }}"
    logs: [/var/log/shopfront/api.log]
    directory: /var/lib/resilience-dr/evidence/incident-20261123
  delegate_to: db1.internal
  register: collected
"""

RETURN = r"""
pieces:
  description: Each piece collected (in check mode, each that would be, without C(collected_at), C(size), C(sha256)).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: orders-db/pg_stat_activity.csv, what: pg_stat_activity, component: orders-db, host: db1,
       source: "db1.internal:5432", collected_at: "2026-11-23T04:12:00.120000Z", size: 2311, sha256: "9f2c..."}
host:
  description: The host the pieces were collected on.
  returned: always
  type: str
directory:
  description: O(directory).
  returned: always
  type: str
warnings:
  description: What could not be collected (a log file this user may not read), also shown as warnings.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._evidence.collect import Collector
from ansible_collections.resilience.dr.plugins.module_utils._evidence.sources import collect
from ansible_collections.resilience.dr.plugins.module_utils._module import run_module


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            component=dict(type="str", required=True),
            kind=dict(type="str", required=True, choices=["postgresql", "redis", "files", "rds", "s3"]),
            connection=dict(type="dict", no_log=False),
            logs=dict(type="list", elements="path", default=[]),
            directory=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    password = (params["connection"] or {}).get("login_password")
    if password:
        module.no_log_values.add(str(password))

    def work() -> dict:
        collector = Collector(params["directory"], params["component"], check_mode=module.check_mode)
        # Ansible shows the result's warnings as warnings.
        return collect(collector, params["kind"], params["connection"], params["logs"])

    run_module(module, work)


if __name__ == "__main__":
    main()
