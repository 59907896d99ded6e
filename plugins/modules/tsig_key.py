#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tsig_key
short_description: Replace the TSIG key a DNS server accepts updates with, and prove the old one is refused
version_added: 0.1.0
description:
  - Writes a key statement with O(new_secret) for O(tsig_key_name) to O(key_file), the file the DNS server includes
    (BIND - C(include "/etc/bind/dr-failover.key";)), atomically and with its owner, group and mode set before it
    becomes visible.
  - Runs O(reload_command) (an argument list, by default C(rndc reload)) so the server reads the key again.
  - With O(verify=true), sends the server an update signed with the new key, which must be accepted, and one signed
    with the old key O(tsig_key_secret), which must be refused, waiting up to O(verify_timeout) seconds. The update
    only asserts that the zone's apex exists and changes nothing.
  - Every run replaces the key (that is what it is for), so it always reports a change; check mode reports what it
    would write and run without doing it.
  - Neither secret is ever in the result, argv or a log.
author: resilience.dr maintainers (@resilience-dr)
options:
  server:
    description: The DNS server (the zone's primary) that takes updates.
    type: str
    required: true
  port:
    description: Its port.
    type: int
    default: 53
  zone:
    description: A zone the key may update, for the verification.
    type: str
    required: true
  tsig_key_name:
    description: The key's name, as the server's key statement and update policy name it.
    type: str
    required: true
  tsig_algorithm:
    description: The key's algorithm.
    type: str
    default: hmac-sha256
    choices: [hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512]
  tsig_key_secret:
    description: The secret in use until now (base64), to prove the server refuses it afterwards.
    type: str
  new_secret:
    description: The new secret (base64), for example C(lookup('ansible.builtin.password', '/dev/null', length=32) | b64encode).
    type: str
    required: true
  key_file:
    description: The file holding the key statement, which the server includes. Replaced whole.
    type: path
    required: true
  owner:
    description: The key file's owner (default the user running the module).
    type: str
  group:
    description: The key file's group, the group the server runs as (BIND - V(bind)).
    type: str
  mode:
    description: The key file's mode; the server's group must be able to read it, nobody else.
    type: str
    default: "0640"
  reload_command:
    description: The program and its arguments that make the server read its keys again.
    type: list
    elements: str
    default: [rndc, reload]
  verify:
    description: Prove the new key is accepted and the old one (O(tsig_key_secret)) refused.
    type: bool
    default: true
  verify_timeout:
    description: Seconds to wait for the server to take the new key.
    type: int
    default: 30
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports the key file and the reload command; writes, runs and sends nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - dnspython
notes:
  - The plan and the application must learn the new secret too; the security_incident role writes it where the plan
    says (C(dr_plan.security.tsig_key)).
"""

EXAMPLES = r"""
- name: Replace the DNS failover TSIG key on the primary name server
  resilience.dr.tsig_key:
    server: ns1.example.com
    zone: example.com
    tsig_key_name: dr-failover
    tsig_key_secret: "{{ vault_dr_tsig_secret }}"
    new_secret: "{{ new_tsig_secret }}"
    key_file: /etc/bind/dr-failover.key
    group: bind
  no_log: true
"""

RETURN = r"""
key_name:
  description: The key replaced.
  returned: always
  type: str
  sample: dr-failover
key_file:
  description: The file written (not in check mode).
  returned: always
  type: str
rotated:
  description: Whether the key file was replaced and the server reloaded (false in check mode).
  returned: always
  type: bool
verified:
  description: The outcome of the verification; V(old_key_answer) is how the server refused the old key.
  returned: when O(verify=true) and not in check mode
  type: dict
  sample: {new_key_accepted: true, old_key_refused: true, old_key_answer: BADSIG}
executed_commands:
  description: The reload command run.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._commands import CommandRunner
from ansible_collections.resilience.dr.plugins.module_utils._dns import query, tsig_key
from ansible_collections.resilience.dr.plugins.module_utils._dns.rfc2136 import TSIG_ALGORITHMS
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._module import require_libraries, run_module


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            server=dict(type="str", required=True),
            port=dict(type="int", default=53),
            zone=dict(type="str", required=True),
            tsig_key_name=dict(type="str", required=True, no_log=False),
            tsig_algorithm=dict(type="str", default="hmac-sha256", choices=list(TSIG_ALGORITHMS)),
            tsig_key_secret=dict(type="str", no_log=True),
            new_secret=dict(type="str", required=True, no_log=True),
            key_file=dict(type="path", required=True),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="str", default="0640"),
            reload_command=dict(type="list", elements="str", default=["rndc", "reload"]),
            verify=dict(type="bool", default=True),
            verify_timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )
    require_libraries(module, query.require_dnspython)
    params = module.params
    runner = CommandRunner()

    def work() -> dict:
        name = params["tsig_key_name"]
        if params["new_secret"] == params["tsig_key_secret"]:
            raise ConfigurationError(f"new_secret of the TSIG key {name} is the secret in use; choose a new one")
        try:
            mode = int(params["mode"], 8)
        except ValueError:
            raise ConfigurationError(f"mode {params['mode']!r} is not an octal file mode such as 0640") from None
        statement = tsig_key.key_statement(name, params["tsig_algorithm"], params["new_secret"])
        result: dict = {"changed": True, "key_name": name, "key_file": params["key_file"], "rotated": False,
                        "executed_commands": runner.executed_commands}
        if module.check_mode:
            result["executed_commands"] = [runner.describe(params["reload_command"])]
            return result
        tsig_key.write_key_file(params["key_file"], statement, params["owner"], params["group"], mode)
        runner.run(params["reload_command"], what="the DNS server's reload command", timeout=60)
        result["rotated"] = True
        if params["verify"]:
            server = tsig_key.Server(params["server"], params["port"], params["zone"])
            result["verified"] = tsig_key.verify(server, name, params["tsig_algorithm"], params["new_secret"],
                                                 params["tsig_key_secret"], params["verify_timeout"])
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
