#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_info
short_description: List the backups in a repository with their age, size and status
version_added: 0.1.0
description:
  - Lists the backups of one component or of all components in a backup repository (a local
    directory or an S3 prefix) with size, age, consistency point and verification status.
  - Backups without a manifest are reported with status C(incomplete) (or C(in_progress) while
    their writer holds the lock); they are never restored. A manifest that cannot be read gives
    status C(invalid).
  - Also summarises each component (newest backup and newest verified backup and their age), the
    figures an RPO gate checks before a failover.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.repository
attributes:
  check_mode:
    support: full
    details: The module only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  component:
    description:
      - Only list backups of this component (the plan's name for it, such as C(orders-db)).
    type: str
  backup_id:
    description:
      - Only this backup (requires O(component)); fails if it does not exist.
    type: str
  latest:
    description:
      - Only the newest usable (complete or verified) backup of each component.
    type: bool
    default: false
  status:
    description:
      - Only backups with one of these statuses.
    type: list
    elements: str
    choices: [verified, complete, failed_verification, in_progress, incomplete, invalid, untrusted]
    default: []
requirements:
  - zstandard
  - boto3 (for s3:// repositories)
seealso:
  - module: resilience.dr.backup_verify
  - module: resilience.dr.backup_prune
"""

EXAMPLES = r"""
- name: Show the newest backup of orders-db and how old it is
  resilience.dr.backup_info:
    repository: s3://acme-dr-backups/prod
    region: eu-west-1
    component: orders-db
    latest: true
  register: orders_backups

- name: Refuse to fail over when the newest verified backup is older than the RPO
  ansible.builtin.assert:
    that: orders_backups.components['orders-db'].newest_verified_age_s < 900
    fail_msg: "orders-db: newest verified backup is {{ orders_backups.components['orders-db'].newest_verified_age_s }}s old"

- name: List backups that never finished (a crashed backup host?)
  resilience.dr.backup_info:
    repository: /srv/backups
    status: [incomplete, invalid]
"""

RETURN = r"""
repository:
  description: The repository that was listed.
  returned: always
  type: str
  sample: s3://acme-dr-backups/prod
backups:
  description: The backups found, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    component:
      description: Component the backup belongs to.
      type: str
      sample: orders-db
    backup_id:
      description: Id of the backup (UTC time it started and a random suffix).
      type: str
      sample: 20261123T040000Z-k3f9ab
    status:
      description:
        - C(verified) (a verification passed), C(complete), C(failed_verification), C(in_progress),
          C(incomplete) (no manifest), C(invalid) (unreadable manifest) or C(untrusted) (with
          O(signing_public_keys) - unsigned, signed by another key, or changed after it was signed).
      type: str
      sample: verified
    size:
      description: Bytes stored (compressed and encrypted).
      type: int
      sample: 734003200
    content_size:
      description: Bytes of the backed-up data before compression.
      type: int
      returned: when the manifest is readable
    kind:
      description: What was backed up (postgresql, redis, files, ...).
      type: str
      returned: when the manifest is readable
    method:
      description: How it was backed up (logical, physical, rdb, online, tar, ...).
      type: str
      returned: when the manifest is readable
    started_at:
      description: When the backup started (UTC).
      type: str
      returned: when the manifest is readable
    finished_at:
      description: When the backup finished (UTC).
      type: str
      returned: when the manifest is readable
    age_s:
      description: Seconds since the backup finished.
      type: int
      returned: when the manifest is readable
    consistency_point:
      description: Up to where the data is consistent (time, LSN, LASTSAVE, ...).
      type: dict
      returned: when the manifest is readable
    encrypted:
      description: Whether the data files are age-encrypted.
      type: bool
      returned: when the manifest is readable
    recipients:
      description: The age public keys the backup was encrypted to.
      type: list
      elements: str
      returned: when the manifest is readable
    verification:
      description: The last verification (verified_at, verified_by, level, ok, error).
      type: dict
      returned: when the backup was verified
    origin:
      description: For a copied backup, where it came from and when it was copied.
      type: dict
      returned: when the manifest is readable
    signature:
      description:
        - C(signed) (a C(manifest.json.sig) is there), C(valid) (checked against O(signing_public_keys) -
          true or false - or null when no keys were given) and, when valid, the signing C(key_id) (its
          OpenSSH fingerprint).
      type: dict
      returned: when the manifest is readable
      sample: {"signed": true, "valid": true, "key_id": "SHA256:sMNQgOfuTTZ2l2cLja8sqlvotzTFTlAyT0vtevwHxEU"}
    error:
      description: Why an incomplete, invalid or untrusted backup cannot be used.
      type: str
      returned: when there is a problem
components:
  description:
    - Per component, counted over all its backups (not only those listed) - C(backups), C(usable),
      C(verified), C(incomplete), and the newest usable and newest verified backup with their age in
      seconds (C(newest_backup_id), C(newest_age_s), C(newest_consistency_point),
      C(newest_verified_backup_id), C(newest_verified_age_s)).
    - When the newest usable backup is a copy from another site's repository, C(newest_copied_from) names that
      repository and C(newest_copied_at) says when it was copied (both null otherwise). In a site's own
      repository, C(newest_age_s) is then the age of the newest copy that site holds - what a recovery there
      can reach.
  returned: always
  type: dict
  sample:
    orders-db:
      backups: 12
      usable: 11
      verified: 3
      incomplete: 1
      newest_backup_id: 20261123T040000Z-k3f9ab
      newest_age_s: 812
      newest_verified_backup_id: 20261122T040000Z-p2x8c1
      newest_verified_age_s: 87212
"""

from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_info
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import STATUSES
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            component=dict(type="str"),
            backup_id=dict(type="str"),
            latest=dict(type="bool", default=False),
            status=dict(type="list", elements="str", choices=list(STATUSES), default=[]),
        ),
        uses=("signatures",),
        required_by={"backup_id": "component"},
    )
    params = module.params
    module.run(lambda repository: backup_info(
        repository,
        component=params["component"],
        backup_id=params["backup_id"],
        latest=params["latest"],
        statuses=params["status"],
    ))


if __name__ == "__main__":
    main()
