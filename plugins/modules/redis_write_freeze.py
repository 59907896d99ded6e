#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_write_freeze
short_description: Make a Redis server refuse writes before its last backup, or let it write again
version_added: 0.1.0
description:
  - The write freeze of a failback (playbook C(resilience.dr.failback)) - after it, nothing the server
    acknowledges can be missing from its final backup.
  - O(state=frozen) sets C(min-replicas-to-write) above any number of replicas the server can have (and
    C(min-replicas-max-lag) to 10 when it was 0, which turns the check off), in one C(CONFIG SET). Every write
    command, from every connection already open or new, then fails at once with
    C(NOREPLICAS Not enough good replicas to write.); reads, C(SCAN), C(DUMP) and C(BGSAVE) still work, so the
    final backup can be taken.
  - Why not C(CLIENT PAUSE WRITE) - it holds writes instead of refusing them, and lets them through when the pause
    ends or expires - a write acknowledged after the last backup, lost at failback. Nor an ACL change - it would
    touch every user's rules and the C(aclfile).
  - The frozen value records the previous settings (1000000000 + 2 x the previous C(min-replicas-to-write),
    + 1 when C(min-replicas-max-lag) was 0), so O(state=thawed) restores them exactly even when the run that froze
    the server died.
  - The freeze is not written to the configuration file - a restart of the server ends it.
  - Connects with redis-py, so no password is ever in a process's arguments or environment.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.redis
attributes:
  check_mode:
    support: full
    details: Reads the replica settings and says what would be set; changes nothing.
  diff_mode:
    support: full
    details: C(min-replicas-to-write) and C(min-replicas-max-lag) before and after.
  platform:
    platforms: posix
options:
  state:
    description:
      - V(frozen) - the server refuses writes. Freezing a frozen server changes nothing.
      - V(thawed) - the replica settings are back as before the freeze. Thawing a server that is not frozen changes
        nothing.
    type: str
    choices: [frozen, thawed]
    default: frozen
  validate_certs:
    description: Check the server's certificate when O(tls=true).
    type: bool
    default: true
notes:
  - Needs C(CONFIG GET) and C(CONFIG SET) (the C(@admin) category); a managed Redis that forbids them cannot be
    frozen this way.
  - A replica refuses writes already; freezing one is an error.
seealso:
  - module: resilience.dr.pg_write_freeze
"""

EXAMPLES = r"""
- name: Freeze the writes of the sessions cache before the final backup of the failback
  resilience.dr.redis_write_freeze:
    login_host: cache2.internal
    login_password: "{{ vault_redis_admin_password }}"
    state: frozen

- name: Let the secondary's Redis write again (reuse of a retired secondary)
  resilience.dr.redis_write_freeze:
    login_host: cache2.internal
    login_password: "{{ vault_redis_admin_password }}"
    state: thawed
"""

RETURN = r"""
state:
  description: The state asked for.
  returned: always
  type: str
  sample: frozen
before:
  description: C(frozen) and the replica settings before the run.
  returned: always
  type: dict
  sample: {"frozen": false, "min_replicas_to_write": 0, "min_replicas_max_lag": 10}
after:
  description: C(frozen) and the replica settings after the run (in check mode - what they would be).
  returned: always
  type: dict
  sample: {"frozen": true, "min_replicas_to_write": 1000000000, "min_replicas_max_lag": 10}
previous:
  description: The replica settings the freeze replaced, which a thaw restores.
  returned: always
  type: dict
  sample: {"min_replicas_to_write": 0, "min_replicas_max_lag": 10}
replicas:
  description: Replicas connected to the server.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils import _write_freeze
from ansible_collections.resilience.dr.plugins.module_utils._module import run_module
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, connection_argument_spec


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["frozen", "thawed"], default="frozen"),
        validate_certs=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    def work() -> dict:
        target = RedisTarget.from_params(params)
        client = target.client()
        state = _write_freeze.redis_state(target, client)
        freeze = params["state"] == "frozen"
        changed = state["frozen"] != freeze
        before = dict(state["current"], frozen=state["frozen"])
        if freeze and changed:
            _write_freeze.redis_check_freezable(target, state)
            after = dict(_write_freeze.redis_frozen_settings(state["previous"]), frozen=True)
        elif changed:
            after = dict(state["previous"], frozen=False)
        else:
            after = before
        if changed and not module.check_mode:
            _write_freeze.redis_apply(target, client, {key: value for key, value in after.items() if key != "frozen"})
            now = _write_freeze.redis_state(target, client)
            after = dict(now["current"], frozen=now["frozen"])
        result: dict = {"state": params["state"], "changed": changed, "before": before, "after": after,
                        "previous": state["previous"], "replicas": state["replicas"]}
        if module._diff:
            result["diff"] = {"before": before, "after": after}
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
