#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_incident_mode
short_description: Keep a longer ACL LOG and turn the application's ACL users off on a Redis server during a security incident, and put it back
version_added: 0.1.0
description:
  - The Redis steps of isolating and closing a security incident (role C(resilience.dr.security_incident)).
  - With O(state=incident) and O(logging), raises C(acllog-max-len) to O(acllog_max_len) (C(CONFIG SET), at run
    time only), so C(ACL LOG) keeps the refused logins and commands of the incident.
  - With O(state=incident), each ACL user of O(users) that is on is turned off (C(ACL SETUSER <user> off)) and
    its connections are ended (C(CLIENT KILL USER)). The user this module connects as (the responders') is
    refused in O(users).
  - The values before the incident and the users turned off are returned in RV(recorded); hand that back in
    O(recorded) to the next run. An incident run keeps what an earlier one recorded.
  - With O(state=closed), sets C(acllog-max-len) back and turns the recorded users (all, or those in O(users))
    on again. A user that was off before the incident stays off.
  - With O(persist), a change of the ACL users is kept across restarts (C(ACL SAVE) with an C(aclfile), else
    C(CONFIG REWRITE)); the file written is returned in RV(config_file).
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.redis
attributes:
  check_mode:
    support: full
    details: Reads the settings and users and returns the steps it would take in RV(actions); changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  state:
    description: V(incident) raises logging and turns users off; V(closed) puts back what O(recorded) holds.
    type: str
    choices: [incident, closed]
    default: incident
  logging:
    description: Act on C(acllog-max-len) (raise it, or put it back).
    type: bool
    default: true
  acllog_max_len:
    description: The length C(ACL LOG) keeps during the incident (a longer one is left alone).
    type: int
    default: 1024
  users:
    description:
      - With O(state=incident), the ACL users turned off.
      - With O(state=closed), the recorded users to turn on again; all of them when not given.
    type: list
    elements: str
  recorded:
    description: The RV(recorded) of the previous run of this module on this server (empty for none).
    type: dict
    default: {}
  persist:
    description: Keep a change of the ACL users across restarts.
    type: bool
    default: true
  validate_certs:
    description: Verify the server's TLS certificate (with O(tls)).
    type: bool
    default: true
requirements:
  - redis (redis-py)
seealso:
  - module: resilience.dr.pg_incident_mode
  - module: resilience.dr.redis_credential
"""

EXAMPLES = r"""
- name: Keep a longer ACL LOG and turn the application's Redis user off
  resilience.dr.redis_incident_mode:
    login_host: cache1.internal
    login_password: "{{ vault_redis_admin_password }}"
    users: [shopfront]
  register: sessions_incident

- name: Close the incident - ACL LOG length and users as they were
  resilience.dr.redis_incident_mode:
    login_host: cache1.internal
    login_password: "{{ vault_redis_admin_password }}"
    state: closed
    recorded: "{{ sessions_incident.recorded }}"
"""

RETURN = r"""
actions:
  description: The steps taken (in check mode, the steps that would be taken), in words.
  returned: always
  type: list
  elements: str
  sample: ["keep the last 1024 ACL LOG entries (acllog-max-len was 128)", "turn ACL user shopfront off and end its connections"]
recorded:
  description:
    - What is still to be put back - C(settings) (C(acllog-max-len) before the incident) and C(users) (the ACL
      users turned off). Empty once closed.
  returned: always
  type: dict
  sample: {"settings": {"acllog-max-len": {"value": "128"}}, "users": ["shopfront"]}
sessions_ended:
  description: Connections of the users turned off that were ended (0 in check mode).
  returned: always
  type: int
config_file:
  description: The file the ACL users were saved to (empty when nothing was saved).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._incident import redis as _incident
from ansible_collections.resilience.dr.plugins.module_utils._module import require_libraries, run_module
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, connection_argument_spec, require_redis


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        state=dict(type="str", choices=["incident", "closed"], default="incident"),
        logging=dict(type="bool", default=True),
        acllog_max_len=dict(type="int", default=1024),
        users=dict(type="list", elements="str"),
        recorded=dict(type="dict", default={}),
        persist=dict(type="bool", default=True),
        validate_certs=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_libraries(module, require_redis)
    params = module.params

    def work() -> dict:
        target = RedisTarget.from_params(params)
        client = target.client()
        if params["state"] == "incident":
            steps, recorded = _incident.plan_incident(target, client, params["acllog_max_len"] if params["logging"] else None,
                                                      params["users"] or [], params["recorded"])
        else:
            steps, recorded = _incident.plan_close(target, client, params["logging"], params["users"], params["recorded"])
        result: dict = {"changed": bool(steps), "actions": [step[0] for step in steps], "recorded": recorded,
                        "sessions_ended": 0, "config_file": ""}
        if steps and not module.check_mode:
            result.update(_incident.apply(target, client, steps, params["persist"]))
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
