#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: elasticache_restore
short_description: Restore an ElastiCache (Redis OSS) snapshot into a new replication group or cache cluster
version_added: 0.1.0
description:
  - Creates the new replication group (O(target=replication_group), the default) or cache cluster
    (O(target=cache_cluster)) O(target_id) seeded from the snapshot O(snapshot_name), or from the newest available
    snapshot carrying O(snapshot_tags), and waits (O(wait)) until it is available, reporting each status change in
    RV(progress). ElastiCache restores a snapshot only into a new cluster; point the application at RV(endpoint).
  - Idempotent on O(target_id). The new group or cluster is tagged C(resilience.dr:restored-from) in the call that
    creates it; a later run that finds it restored from the same snapshot changes nothing, and one restored from
    anything else (or not by this module) is refused.
  - community.aws.elasticache creates cache clusters but cannot seed one from a snapshot or make a replication group.
  - See docs/elasticache.md in the collection for incident examples and the IAM permissions.
author: resilience.dr maintainers (@resilience-dr)
options:
  target:
    description: What to create.
    type: str
    choices: [replication_group, cache_cluster]
    default: replication_group
  target_id:
    description: The new replication group's or cache cluster's id.
    type: str
    required: true
  snapshot_name:
    description: The snapshot to restore.
    type: str
  snapshot_tags:
    description:
      - Restore the newest available snapshot of the region carrying all of these tags (the backup role's snapshots
        of a component carry C(resilience-dr-plan) and C(resilience-dr-component)).
    type: dict
  restore_time:
    description:
      - With O(snapshot_tags), restore the newest snapshot taken at or before this time (ISO 8601 with a zone).
        ElastiCache restores snapshots only, never a point in time between them; a snapshot whose time ElastiCache
        does not report is not chosen.
    type: str
  cache_node_type:
    description: The node type of the new group or cluster (e.g. C(cache.r7g.large)); defaults to the snapshot's.
    type: str
  num_cache_clusters:
    description: With O(target=replication_group), the number of nodes (a primary and its replicas).
    type: int
    default: 1
  engine_version:
    description: The Redis OSS version; defaults to the snapshot's.
    type: str
  cache_subnet_group_name:
    description: The cache subnet group of the new group or cluster.
    type: str
  security_group_ids:
    description: The VPC security groups of the new group or cluster.
    type: list
    elements: str
  cache_parameter_group_name:
    description: The parameter group of the new group or cluster.
    type: str
  kms_key_id:
    description: With O(target=replication_group), the KMS key the new group is encrypted at rest with.
    type: str
  tags:
    description: Tags of the new group or cluster, besides the one this module records.
    type: dict
  wait:
    description: Wait until the new group or cluster is available.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 3600
attributes:
  check_mode:
    description: Reads the snapshot and the target and reports the plan, changing nothing.
    support: full
  diff_mode:
    description: Shows the target (id, kind, snapshot restored from) before and after.
    support: full
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Bring the sessions cache back from its newest snapshot as a new replication group
  resilience.dr.elasticache_restore:
    snapshot_tags: {resilience-dr-plan: shop, resilience-dr-component: sessions}
    target_id: sessions-restored
    num_cache_clusters: 2
    cache_subnet_group_name: sessions
  register: sessions
"""

RETURN = r"""
target_id: {description: The new group's or cluster's id., returned: always, type: str, sample: sessions-restored}
action: {description: C(restore) or C(none)., returned: always, type: str, sample: restore}
plan: {description: What the run did or would do (in words)., returned: always, type: str,
       sample: restore snapshot sessions-20261123t040000z into new replication group sessions-restored}
backup_id: {description: The snapshot restored., returned: always, type: str, sample: sessions-20261123t040000z}
snapshot:
  description: The snapshot's facts (as elasticache_backup returns them, without tags).
  returned: always
  type: dict
  sample: {snapshot_name: sessions-20261123t040000z, status: available}
consistency_point:
  description: When the snapshot's data was taken (C(time)), when ElastiCache reports it.
  returned: when known
  type: dict
  sample: {time: "2026-11-23T04:00:12Z"}
restored:
  description: The new group's or cluster's facts (kind, id, arn, region, status, endpoint, port, member_clusters,
    cache_node_type); null before it exists.
  returned: always
  type: dict
  sample: {kind: replication_group, id: sessions-restored, status: available, port: 6379}
endpoint: {description: The primary (or configuration) endpoint's address., returned: always, type: str,
           sample: master.sessions-restored.abcdef.use1.cache.amazonaws.com}
port: {description: The port., returned: always, type: int, sample: 6379}
status: {description: The new group's or cluster's status., returned: always, type: str, sample: available}
progress:
  description: Each status change seen while waiting, with the seconds since the module started.
  returned: always
  type: list
  elements: dict
  sample: [{resource: replication group sessions-restored in us-east-1, status: creating, at_s: 1.1}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._elasticache.api import ElastiCache  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._elasticache.restore import IAM_HINT, RestoreRequest, run  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402


def argument_spec() -> dict:
    return dict(
        target=dict(type="str", default="replication_group", choices=["replication_group", "cache_cluster"]),
        target_id=dict(type="str", required=True),
        snapshot_name=dict(type="str"),
        snapshot_tags=dict(type="dict"),
        restore_time=dict(type="str"),
        cache_node_type=dict(type="str"),
        num_cache_clusters=dict(type="int", default=1),
        engine_version=dict(type="str"),
        cache_subnet_group_name=dict(type="str"),
        security_group_ids=dict(type="list", elements="str"),
        cache_parameter_group_name=dict(type="str"),
        kms_key_id=dict(type="str", no_log=False),
        tags=dict(type="dict"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=3600),
    )


def main() -> None:
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True,
                              required_one_of=[("snapshot_name", "snapshot_tags")],
                              mutually_exclusive=[("snapshot_name", "snapshot_tags")])
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key

    def work() -> dict:
        api = ElastiCache(aws_client(module, "elasticache"), str(module.region), IAM_HINT)
        return run(api, RestoreRequest.from_params(module.params), check_mode=module.check_mode, diff=module._diff)

    run_module(module, work)


if __name__ == "__main__":
    main()
