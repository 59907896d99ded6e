#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: restore_sandbox
short_description: A throwaway PostgreSQL cluster, redis-server or directory to test a restore in
version_added: 0.1.0
description:
  - O(state=present) makes a new sandbox for a restore test and returns where it is (RV(sandbox)). Each sandbox is
    a new directory (mode 0700, owned by O(os_user)) under O(base_dir) that shares nothing writable with
    production.
  - O(kind=postgresql) runs C(initdb) there and starts the cluster on a free port (or O(port)) with no TCP listener
    (C(listen_addresses = '')), its socket in the sandbox directory, archiving off and trust authentication for
    the local superuser C(postgres); only O(os_user) and root can reach it.
  - O(kind=redis) starts C(redis-server) on 127.0.0.1 and a free port, with the data in the sandbox directory,
    nothing saved on its own, and O(password) as C(requirepass). O(started=false) writes its configuration only,
    for a restore that swaps a snapshot in before the server starts (RV(sandbox.start_command)).
  - O(kind=directory) makes the directory only, with a free port for a server a restore starts there itself
    (a physical PostgreSQL restore into RV(sandbox.data_dir) on RV(sandbox.port)).
  - O(kind=database) uses a PostgreSQL server kept for restore tests (the connection options) instead of a cluster of
    its own - for a host without the server binaries. O(state=present) names a new scratch database
    (C(<database>_restore_test_<time>_<random>), RV(sandbox.database)) for the restore to create; O(state=absent) drops
    it (C(DROP DATABASE ... WITH (FORCE))). Only a database whose name holds C(_restore_test_) is ever dropped.
  - O(state=absent) stops every PostgreSQL cluster (a C(postmaster.pid) in O(path) or one level down) and the
    redis-server of the sandbox at O(path), then deletes the directory. A directory without the sandbox marker
    file is refused and left alone.
  - Each O(state=present) makes a new sandbox; remove each one with O(state=absent), in an C(always:) section.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.postgres
attributes:
  check_mode:
    support: full
    details: Makes and removes nothing; O(state=absent) says what it would stop.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  kind:
    description: What the sandbox holds.
    type: str
    choices: [postgresql, redis, directory, database]
    default: directory
  state:
    description: V(present) makes a new sandbox; V(absent) stops what runs in the sandbox at O(path) and deletes it.
    type: str
    choices: [present, absent]
    default: present
  path:
    description:
      - The sandbox to remove (RV(sandbox.path) of the run that made it). Required with O(state=absent), except for
        O(kind=database).
    type: path
  database:
    description:
      - O(kind=database) - with O(state=present) the start of the scratch database's name (the component's database);
        with O(state=absent) the scratch database to drop (RV(sandbox.database)).
    type: str
  db:
    description: Database to connect to for dropping the scratch database (O(kind=database)).
    type: str
    default: postgres
  base_dir:
    description:
      - Directory the sandbox is made in. It needs room for the restored data. The default is the system's
        temporary directory.
    type: path
  os_user:
    description:
      - Operating-system user that owns the sandbox and runs its server (needs root unless it is the user running the
        module). The default is V(postgres) for O(kind=postgresql) when run as root, else the user running the module.
    type: str
  port:
    description: TCP port for the sandbox's server. The default is a free port.
    type: int
  pg_bin_dir:
    description:
      - Directory of C(initdb) and C(pg_ctl). The default is the newest C(/usr/lib/postgresql/<major>/bin), else PATH.
        The sandbox cluster must be of the backed-up server's major version or newer.
    type: path
  redis_server:
    description: Path of C(redis-server). The default is the one on PATH.
    type: path
  password:
    description: C(requirepass) of the sandbox redis-server (O(kind=redis)).
    type: str
  started:
    description: Start the sandbox's server (O(kind=redis)); V(false) writes its configuration only.
    type: bool
    default: true
  start_timeout:
    description: Seconds to wait for the sandbox's server to start.
    type: int
    default: 60
requirements:
  - PostgreSQL server binaries (O(kind=postgresql)), redis-server (O(kind=redis)), psycopg2 (O(kind=database))
  - setpriv (util-linux) to run the server as O(os_user) when run as root
seealso:
  - module: resilience.dr.pg_restore
  - module: resilience.dr.redis_restore
  - module: resilience.dr.restore_test_record
"""

EXAMPLES = r"""
- name: Start a throwaway cluster to test the newest backup of orders-db in
  resilience.dr.restore_sandbox:
    kind: postgresql
    base_dir: /var/tmp
  become: true
  register: sandbox

- name: Restore orders-db into it (pg_restore checks the rows against the backup's checksums)
  resilience.dr.pg_restore:
    repository: /srv/backups
    component: orders-db
    target_db: orders
    login_unix_socket: "{{ sandbox.sandbox.socket_dir }}"
    login_port: "{{ sandbox.sandbox.port }}"
    login_user: "{{ sandbox.sandbox.login_user }}"
    encryption_identity_file: /etc/dr/age-identity.txt
  become: true

- name: Remove the sandbox, whatever happened
  resilience.dr.restore_sandbox:
    path: "{{ sandbox.sandbox.path }}"
    state: absent
  become: true
"""

RETURN = r"""
sandbox:
  description: The sandbox made (O(state=present)); in check mode the values it would have, without a path.
  returned: O(state=present)
  type: dict
  contains:
    kind:
      description: O(kind).
      type: str
    path:
      description: The sandbox directory, to give O(path) with O(state=absent).
      type: str
    host:
      description: Where to connect - the socket directory (V(postgresql)) or V(127.0.0.1).
      type: str
    port:
      description: The server's port.
      type: int
    data_dir:
      description: The data directory (a physical restore restores into it with O(kind=directory)).
      type: str
    socket_dir:
      description: Directory of the PostgreSQL socket (V(postgresql)).
      type: str
    login_user:
      description: The superuser of the sandbox cluster (V(postgresql)).
      type: str
    database:
      description: The scratch database to restore into (V(database)).
      type: str
    start_command:
      description: The command that starts the redis-server (V(redis)).
      type: list
      elements: str
    stop_command:
      description: A command that succeeds when the redis-server is stopped (V(redis)), for a restore that stops it first.
      type: list
      elements: str
stopped:
  description: What O(state=absent) stopped (or would stop).
  returned: O(state=absent)
  type: list
  elements: str
executed_commands:
  description: The commands run.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils import _sandbox
from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._module import run_module
from ansible_collections.resilience.dr.plugins.module_utils._postgres import connection as _postgres
from ansible_collections.resilience.dr.plugins.module_utils._timing import utc_now


def main() -> None:
    argument_spec = _postgres.postgres_connection_argument_spec()
    argument_spec.update(
        kind=dict(type="str", choices=list(_sandbox.KINDS), default="directory"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        path=dict(type="path"),
        base_dir=dict(type="path"),
        os_user=dict(type="str"),
        port=dict(type="int"),
        pg_bin_dir=dict(type="path"),
        redis_server=dict(type="path"),
        password=dict(type="str", no_log=True),
        started=dict(type="bool", default=True),
        start_timeout=dict(type="int", default=60),
        database=dict(type="str"),
        db=dict(type="str", default="postgres"),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    runner = CommandRunner()
    os_user = params["os_user"]
    if os_user is None and params["kind"] == "postgresql" and os.geteuid() == 0:
        os_user = _sandbox.PG_SUPERUSER

    def work() -> dict:
        if params["kind"] == "database":
            return scratch_database()
        if params["state"] == "absent" and not params["path"]:
            raise ConfigurationError("state absent needs path: the sandbox restore_sandbox returned (sandbox.path)")
        if params["state"] == "absent":
            result = _sandbox.remove(runner, params["path"], pg_bin_dir=params["pg_bin_dir"], check_mode=module.check_mode)
        elif module.check_mode:
            result = {"changed": True, "sandbox": _sandbox.Sandbox(params["kind"], "").as_dict(),
                      "msg": f"would make a {params['kind']} sandbox in {params['base_dir'] or 'the temporary directory'}"}
        else:
            sandbox = _sandbox.create(
                runner, kind=params["kind"], base_dir=params["base_dir"], os_user=os_user, port=params["port"],
                pg_bin_dir=params["pg_bin_dir"], redis_server=params["redis_server"], password=params["password"],
                started=params["started"], start_timeout=params["start_timeout"],
            )
            result = {"changed": True, "sandbox": sandbox.as_dict()}
        result["executed_commands"] = runner.executed_commands
        return result

    def scratch_database() -> dict:
        if not params["database"]:
            raise ConfigurationError("kind database needs database: the component's database (present) or the scratch "
                                     "database restore_sandbox returned (absent)")
        connection_params = _postgres.ConnectionParams.from_params(params)
        if params["state"] == "present":
            name = _sandbox.database_name(params["database"], utc_now())
            sandbox = _sandbox.Sandbox("database", "", host=connection_params.host, port=connection_params.port)
            return {"changed": True, "sandbox": {**sandbox.as_dict(), "database": name},
                    "executed_commands": []}
        _postgres.require_psycopg2()
        with _postgres.connected(connection_params, params["db"]) as connection:
            result = _sandbox.drop_database(connection, params["database"], connection_params.where, module.check_mode)
        result["executed_commands"] = []
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
