# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EC2 quarantine during a security incident: every network interface of the named instances gets the quarantine
security group alone, and its own groups are recorded; the closing run gives each interface its recorded groups back.

The record maps each network interface id to its security group ids before the quarantine; an earlier record is
kept, so a second quarantine run never records the quarantine group as the interface's own.

An instance with one network interface has its groups replaced with ModifyInstanceAttribute and read from the
instance (its SecurityGroups are its interface's); an interface of an instance with several is changed with
ModifyNetworkInterfaceAttribute, as AWS requires. The lab's moto server adds the groups of the second call to an
interface's instead of replacing them, so only the first path is tested against it.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._aws.errors import BotoCoreError, ClientError, failure
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError

IAM_HINT = ("the credentials need ec2:DescribeInstances, ec2:DescribeSecurityGroups, ec2:ModifyInstanceAttribute and "
            "ec2:ModifyNetworkInterfaceAttribute")

# One change: its words, the interface (id, as found) and the groups it gets.
Step = t.Tuple[str, t.Tuple[str, t.Dict[str, t.Any]], t.List[str]]


class Ec2:
    """One region's EC2 API, with errors that say what failed and what to do."""

    def __init__(self, client: t.Any, region: str) -> None:
        self.client = client
        self.region = region

    def call(self, what: str, method: str, **kwargs: t.Any) -> t.Any:
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except (ClientError, BotoCoreError) as error:
            raise failure(error, f"EC2 in {self.region}", what, IAM_HINT) from None

    def interfaces(self, instance_ids: t.Sequence[str]) -> dict[str, dict[str, t.Any]]:
        """Each network interface of the instances: its instance, security group ids, and whether it is the instance's only
        one (then changed through the instance)."""
        answer = self.call(f"describe the instances {', '.join(instance_ids)}", "describe_instances",
                           InstanceIds=list(instance_ids))
        found: dict[str, dict[str, t.Any]] = {}
        seen = set()
        for reservation in answer.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                seen.add(instance["InstanceId"])
                interfaces = instance.get("NetworkInterfaces", [])
                for interface in interfaces:
                    groups = instance.get("SecurityGroups", []) if len(interfaces) == 1 else interface.get("Groups", [])
                    found[interface["NetworkInterfaceId"]] = {
                        "instance": instance["InstanceId"], "only": len(interfaces) == 1,
                        "groups": sorted(group["GroupId"] for group in groups),
                    }
        missing = [instance for instance in instance_ids if instance not in seen]
        if missing:
            raise ConfigurationError(f"EC2 in {self.region} has no instance {', '.join(missing)}; check "
                                     "dr_plan.security.quarantine.security_groups")
        return found

    def require_group(self, group_id: str) -> None:
        self.call(f"find the quarantine security group {group_id}", "describe_security_groups", GroupIds=[group_id])

    def set_groups(self, interface: str, found: dict[str, t.Any], groups: t.Sequence[str]) -> None:
        what = f"set the security groups of {found['instance']} ({interface}) to {', '.join(groups)}"
        if found["only"]:
            self.call(what, "modify_instance_attribute", InstanceId=found["instance"], Groups=list(groups))
        else:
            self.call(what, "modify_network_interface_attribute", NetworkInterfaceId=interface, Groups=list(groups))


def plan(ec2: Ec2, instance_ids: t.Sequence[str], state: str, quarantine_group: str | None,
         recorded: dict[str, t.Any]) -> tuple[list[Step], dict[str, list[str]]]:
    """The interfaces to change (words, interface as found, groups) and the record after the change."""
    record = {str(key): list(value) for key, value in (recorded or {}).items()}
    interfaces = ec2.interfaces(instance_ids)
    steps = []
    if state == "quarantined":
        if not quarantine_group:
            raise ConfigurationError("quarantine_group_id is required to quarantine instances")
        ec2.require_group(quarantine_group)
        for interface, found in sorted(interfaces.items()):
            if found["groups"] == [quarantine_group]:
                continue
            record.setdefault(interface, found["groups"])
            steps.append((f"quarantine {found['instance']} ({interface}): security groups "
                          f"{', '.join(found['groups']) or 'none'} replaced by {quarantine_group}",
                          (interface, found), [quarantine_group]))
        return steps, record
    for interface, found in sorted(interfaces.items()):
        if interface not in record:
            continue
        groups = sorted(record.pop(interface))
        if found["groups"] != groups:
            steps.append((f"lift the quarantine of {found['instance']} ({interface}): security groups "
                          f"{', '.join(groups)} back", (interface, found), groups))
    return steps, record


def apply(ec2: Ec2, steps: t.Sequence[Step]) -> None:
    for _words, (interface, found), groups in steps:
        ec2.set_groups(interface, found, groups)
