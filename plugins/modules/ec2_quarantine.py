#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_quarantine
short_description: Swap the security groups of EC2 instances for a quarantine group during a security incident, and back
version_added: 0.1.0
description:
  - The AWS isolation step of a security incident (role C(resilience.dr.security_incident)).
  - With O(state=quarantined), every network interface of the instances in O(instance_ids) gets the security
    group O(quarantine_group_id) alone (C(ModifyNetworkInterfaceAttribute)), which should allow no inbound traffic
    except the responders'. The groups each interface had are returned in RV(recorded).
  - With O(state=released), each interface recorded in O(recorded) gets its groups back.
  - An interface that already has the quarantine group alone is left as it is; an earlier record is kept, so a
    second run never records the quarantine group as an interface's own.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details: Reads the instances and returns the changes it would make in RV(actions); changes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  instance_ids:
    description: The instances to quarantine or release.
    type: list
    elements: str
    required: true
  state:
    description: V(quarantined) swaps in the quarantine group; V(released) puts back what O(recorded) holds.
    type: str
    choices: [quarantined, released]
    default: quarantined
  quarantine_group_id:
    description: The security group that replaces the instances' groups. Required with O(state=quarantined).
    type: str
  recorded:
    description: The RV(recorded) of the previous run (network interface id to its security group ids).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Quarantine the API servers
  resilience.dr.ec2_quarantine:
    region: eu-west-1
    instance_ids: [i-0123456789abcdef0]
    quarantine_group_id: sg-0aaaabbbbccccdddd
  register: api_quarantine

- name: Lift the quarantine
  resilience.dr.ec2_quarantine:
    region: eu-west-1
    instance_ids: [i-0123456789abcdef0]
    state: released
    recorded: "{{ api_quarantine.recorded }}"
"""

RETURN = r"""
actions:
  description: The changes made (in check mode, the changes that would be made), in words.
  returned: always
  type: list
  elements: str
  sample: ["quarantine i-0123456789abcdef0 (eni-0a1b2c3d): security groups sg-01, sg-02 replaced by sg-0aaa"]
recorded:
  description: Each quarantined network interface's security group ids before the quarantine (empty once released).
  returned: always
  type: dict
  sample: {"eni-0a1b2c3d": ["sg-01", "sg-02"]}
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._incident import ec2 as _ec2  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402


def main() -> None:
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_ids=dict(type="list", elements="str", required=True),
            state=dict(type="str", choices=["quarantined", "released"], default="quarantined"),
            quarantine_group_id=dict(type="str"),
            recorded=dict(type="dict", default={}),
        ),
        required_if=[("state", "quarantined", ["quarantine_group_id"])],
        supports_check_mode=True,
    )
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key
    params = module.params

    def work() -> dict:
        ec2 = _ec2.Ec2(aws_client(module, "ec2"), str(module.region))
        steps, recorded = _ec2.plan(ec2, params["instance_ids"], params["state"], params["quarantine_group_id"],
                                    params["recorded"])
        if not module.check_mode:
            _ec2.apply(ec2, steps)
        return {"changed": bool(steps), "actions": [step[0] for step in steps], "recorded": recorded}

    run_module(module, work)


if __name__ == "__main__":
    main()
