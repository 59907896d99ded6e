#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: secret_keys
short_description: Set some keys of a JSON secret in AWS Secrets Manager (a new version), leaving the rest alone
version_added: 0.1.0
description:
  - Reads the secret O(secret_id), a JSON object such as the connection secrets of RDS (C(host), C(port),
    C(username), C(password), ...), sets the keys in O(keys) - for example C(host) to the endpoint of an RDS instance
    just restored - and writes the result as a new version of the secret (C(AWSCURRENT)). The other keys are kept.
  - A secret that already holds these values gets no new version. No value of the secret is ever returned, shown in
    the diff or logged; RV(changed_keys) names the keys that changed.
  - M(community.aws.secretsmanager_secret) does not do this job - it writes the whole value it is given (so the
    playbook would have to read the password to write it back), and it manages the secret as a whole - left out, its
    O(community.aws.secretsmanager_secret#module:description), O(community.aws.secretsmanager_secret#module:resource_policy),
    rotation and replica options reset what the secret has (a replicated, rotated secret of a DR plan would lose its
    replication, rotation or policy).
  - See docs/ecs.md in the collection for the use after an RDS restore.
author: resilience.dr maintainers (@resilience-dr)
options:
  secret_id:
    description: The secret's name or ARN.
    type: str
    required: true
  keys:
    description: The keys to set and their values (strings, numbers, booleans).
    type: dict
    required: true
attributes:
  check_mode:
    description: Reads the secret and reports which keys would change; writes nothing.
    support: full
  diff_mode:
    description: Names the keys that change, without their values.
    support: partial
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Point the orders-db secret at the restored instance
  resilience.dr.secret_keys:
    region: us-west-2
    secret_id: shopfront/orders-db
    keys:
      host: "{{ restored.endpoint }}"
      port: "{{ restored.port }}"
"""

RETURN = r"""
changed_keys: {description: The keys whose value changed (or would change in check mode)., returned: always, type: list, elements: str, sample: [host]}
arn: {description: The secret's ARN., returned: always, type: str, sample: "arn:aws:secretsmanager:us-west-2:111122223333:secret:shopfront/orders-db-Ab12Cd"}
name: {description: The secret's name., returned: always, type: str, sample: shopfront/orders-db}
version_id:
  description: The secret's current version afterwards (the new one when it changed); null in check mode when it would change.
  returned: always
  type: str
  sample: 5bdb6fd2-20aa-4ac4-8910-1a4f27837143
previous_version_id: {description: The version that was current before., returned: always, type: str, sample: c6f93449-81a5-41f1-b72a-f378e2725da3}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._secret_keys import set_keys  # noqa: E402


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(secret_id=dict(type="str", required=True), keys=dict(type="dict", required=True, no_log=False)),
        supports_check_mode=True,
    )
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params

    def work() -> dict:
        client = aws_client(module, "secretsmanager")
        return set_keys(client, str(module.region), params["secret_id"], dict(params["keys"]),
                        check_mode=module.check_mode, diff=module._diff)

    run_module(module, work)


if __name__ == "__main__":
    main()
