#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: redis_credential
short_description: Keep the clients of a Redis server as evidence, give an ACL user a new password, end its connections
version_added: 0.1.0
description:
  - The Redis steps of a security incident (role C(resilience.dr.security_incident)).
  - With O(evidence_file), writes C(CLIENT LIST) (every connected client - address, user, age, last command)
    to that file, mode 0600, before anything is reset.
  - With O(password), replaces every password of the ACL user O(user) by that one with C(ACL SETUSER <user> resetpass)
    and the password's SHA-256 (the hashed form of ACL rules), so the server never receives the password itself;
    keeps the change across restarts (O(persist)), and ends the user's connections (C(CLIENT KILL USER)).
  - Connects with redis-py, so no password is ever in a process's arguments or environment.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.redis
attributes:
  check_mode:
    support: full
    details: Checks that the user exists and counts its connections; writes and changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  user:
    description: The ACL user whose password is rotated (and whose connections are ended).
    type: str
    required: true
  password:
    description:
      - The new password of O(user). Without it nothing is rotated.
      - Every run with a password changes the user, so the module always reports a change then.
    type: str
  persist:
    description:
      - Keep the new password across restarts - C(ACL SAVE) when the server has an C(aclfile), else
        C(CONFIG REWRITE). A server without a configuration file is an error (the password would be lost at the
        next restart). RV(config_file) names the file written; it holds password hashes, keep it private.
    type: bool
    default: true
  terminate_sessions:
    description: End the connections of O(user) after its password is changed.
    type: bool
    default: true
  evidence_file:
    description: File to write the server's clients to (one a line), mode 0600; replaced if it exists.
    type: path
  validate_certs:
    description: Check the server's certificate when O(tls=true).
    type: bool
    default: true
seealso:
  - module: resilience.dr.pg_credential
"""

EXAMPLES = r"""
- name: Keep the Redis clients as evidence
  resilience.dr.redis_credential:
    login_host: cache1.internal
    login_password: "{{ vault_redis_admin_password }}"
    user: shopfront
    evidence_file: /var/lib/dr-evidence/sessions-client-list.txt

- name: Rotate the application's Redis password and end its connections
  resilience.dr.redis_credential:
    login_host: cache1.internal
    login_password: "{{ vault_redis_admin_password }}"
    user: shopfront
    password: "{{ new_password }}"
"""

RETURN = r"""
user:
  description: The ACL user.
  returned: always
  type: str
sessions:
  description: Connections of O(user) found before anything was ended.
  returned: always
  type: int
sessions_ended:
  description: Connections of O(user) ended (0 in check mode).
  returned: when O(password) is given
  type: int
rotated:
  description: Whether the password was changed (false in check mode).
  returned: always
  type: bool
config_file:
  description: The file the new password was saved to (the C(aclfile) or the configuration file).
  returned: when O(password) is given, O(persist=true) and not in check mode
  type: str
evidence_file:
  description: The evidence file written (not in check mode).
  returned: when O(evidence_file) is given
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils import _credentials
from ansible_collections.resilience.dr.plugins.module_utils._module import run_module
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget, connection_argument_spec


def main() -> None:
    argument_spec = connection_argument_spec()
    argument_spec.update(
        user=dict(type="str", required=True),
        password=dict(type="str", no_log=True),
        persist=dict(type="bool", default=True),
        terminate_sessions=dict(type="bool", default=True),
        evidence_file=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params

    def work() -> dict:
        target = RedisTarget.from_params(params)
        client = target.client()
        user = params["user"]
        result: dict = {"user": user, "rotated": False, "changed": False}
        _credentials.redis_require_user(target, client, user)
        result["sessions"] = _credentials.redis_user_sessions(target, client, user)
        if params["evidence_file"]:
            clients = _credentials.redis_sessions(target, client)
            result["evidence_file"] = params["evidence_file"]
            result["changed"] = True
            if not module.check_mode:
                _credentials.write_evidence(params["evidence_file"], clients)
        if params["password"]:
            result["changed"] = True
            result["sessions_ended"] = 0
            if not module.check_mode:
                result.update(_credentials.redis_rotate(target, client, user, params["password"],
                                                        params["terminate_sessions"], params["persist"]))
                if not params["persist"]:
                    result.pop("config_file", None)
                result["rotated"] = True
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
