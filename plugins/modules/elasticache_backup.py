#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: elasticache_backup
short_description: Take a tagged manual ElastiCache (Redis OSS) snapshot, wait for it, optionally copy it
version_added: 0.1.0
description:
  - Takes the manual snapshot O(snapshot_name) of O(replication_group_id) or O(cache_cluster_id), unless a snapshot
    of that name exists (then only its tags are brought in line), and waits (O(wait)) until it is available,
    reporting each status change in RV(progress).
  - With O(target_snapshot_name), also copies it (in the same region; ElastiCache copies across regions only through
    an S3 export), re-encrypted with O(kms_key_id) when given.
  - community.aws.elasticache_snapshot creates a snapshot too, but neither tags it (the tags let a restore find the
    newest snapshot of a component) nor waits for it; its copy is an export to an S3 bucket.
  - See docs/elasticache.md in the collection for incident examples and the IAM permissions.
author: resilience.dr maintainers (@resilience-dr)
options:
  snapshot_name:
    description: The snapshot's name.
    type: str
    required: true
  replication_group_id:
    description: The replication group to snapshot (cluster mode disabled or enabled).
    type: str
  cache_cluster_id:
    description: The cache cluster to snapshot (a single-node Redis OSS cluster, or one member of a group).
    type: str
  target_snapshot_name:
    description: The name of a copy of the snapshot to make in the same region.
    type: str
  kms_key_id:
    description: The KMS key the copy is encrypted with.
    type: str
  tags:
    description: Tags of the snapshot and the copy (the backup role tags them with its plan and component).
    type: dict
  wait:
    description: Wait until the snapshot (and the copy) is available. A copy always waits for its source first.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait.
    type: int
    default: 1800
attributes:
  check_mode:
    description: Reads the snapshots and the source and reports the actions a run would take in RV(actions).
    support: full
  diff_mode:
    description: Shows the snapshot and the copy before and after.
    support: full
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Snapshot the sessions cache before the release
  resilience.dr.elasticache_backup:
    replication_group_id: sessions
    snapshot_name: "sessions-before-{{ release_version | replace('.', '-') }}"
    tags: {reason: pre-deploy}
"""

RETURN = r"""
snapshot_name: {description: The snapshot's name., returned: always, type: str, sample: sessions-20261123t040000z}
backup_id: {description: "The snapshot's name (what every backup module returns as its backup).", returned: always, type: str,
            sample: sessions-20261123t040000z}
actions:
  description: What the run did (or would do, in check mode); empty when nothing changed.
  returned: always
  type: list
  elements: str
  sample: ["create snapshot sessions-20261123t040000z of replication group sessions"]
snapshot:
  description: The snapshot's facts (snapshot_name, arn, region, status, source, replication_group_id, cache_cluster_id,
    engine, engine_version, cache_node_type, kms_key_id, snapshot_create_time, tags); null when it does not exist yet.
  returned: always
  type: dict
  sample: {snapshot_name: sessions-20261123t040000z, status: available, replication_group_id: sessions}
copy: {description: The copy's facts (same keys); null without O(target_snapshot_name)., returned: always, type: dict,
       sample: {snapshot_name: sessions-20261123t040000z-copy, status: available}}
consistency_point:
  description: When the snapshot's data was taken (C(time)), when ElastiCache reports it.
  returned: when known
  type: dict
  sample: {time: "2026-11-23T04:00:12Z"}
progress:
  description: Each status change seen while waiting, with the seconds since the module started.
  returned: always
  type: list
  elements: dict
  sample: [{resource: ElastiCache snapshot sessions-20261123t040000z in us-east-1, status: creating, at_s: 0.8}]
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import aws_client  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._elasticache.api import ElastiCache  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._elasticache.snapshot import IAM_HINT, BackupRequest, run  # noqa: E402
from ansible_collections.resilience.dr.plugins.module_utils._module import mask_options, run_module  # noqa: E402


def argument_spec() -> dict:
    return dict(
        snapshot_name=dict(type="str", required=True),
        replication_group_id=dict(type="str"),
        cache_cluster_id=dict(type="str"),
        target_snapshot_name=dict(type="str"),
        kms_key_id=dict(type="str", no_log=False),
        tags=dict(type="dict"),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
    )


def main() -> None:
    module = AnsibleAWSModule(argument_spec=argument_spec(), supports_check_mode=True,
                              mutually_exclusive=[("replication_group_id", "cache_cluster_id")])
    mask_options(module, "access_key")  # a secret of the DR plan, like secret_key

    def work() -> dict:
        api = ElastiCache(aws_client(module, "elasticache"), str(module.region), IAM_HINT)
        return run(api, BackupRequest.from_params(module.params), check_mode=module.check_mode, diff=module._diff)

    run_module(module, work)


if __name__ == "__main__":
    main()
