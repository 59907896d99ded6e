#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_copy
short_description: Copy complete backups to another repository (another region or site), resumably
version_added: 0.1.0
description:
  - Copies the backups of some or all components from O(source_repository) to O(destination_repository),
    local directory or S3 on either side, for example from the primary region's bucket to a bucket in the
    failover region, with different endpoints and credentials per side.
  - Only complete backups are copied (status C(complete) or C(verified)); backups that failed verification
    or whose manifest cannot be read are listed in RV(left_out). A backup another one depends on is copied
    with it.
  - Data files go first, the manifest last, each backup under the destination's component lock. Every file
    is checked against the source manifest while it is read, and once stored on the destination its size
    and checksum are checked again (S3 CRC32 checksums of what was sent, or read back). A copy cut short at any point leaves
    no visible backup on the destination; the next run resumes it, keeping the files already there with the
    right size and SHA-256.
  - Backups already on the destination with the same content are left alone (C(changed=false)). A copy on
    the destination that failed verification is repaired (bad files sent again).
  - With O(destination_encryption_recipients), the files are re-encrypted on the way to those age public
    keys (decrypted with the source's secret key, O(encryption_identity_file) or O(encryption_identity)),
    for example for an offline break-glass key held only at the other site.
  - The destination manifest records C(origin) (source repository, backup id, when and by whom it was
    copied), which M(resilience.dr.backup_info) shows; a signed backup copied without re-encryption keeps the
    source's manifest and signature unchanged and records its origin in C(origin.json) instead. Copies start as C(complete) on the destination,
    whatever their status at the source; run M(resilience.dr.backup_verify) on the destination to verify
    them there, and M(resilience.dr.backup_prune) there for its own retention.
  - The shared S3 options (O(endpoint_url), O(region), credentials, O(validate_certs)) apply to both sides;
    the C(source_*) and C(destination_*) options override them per side. O(s3_sse), O(s3_sse_kms_key_id)
    and the Object Lock options apply to what is written, the destination.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.repository
  - resilience.dr.copy_endpoints
attributes:
  check_mode:
    support: full
    details: Lists each backup that would be copied with the files and bytes to send; nothing is written.
  diff_mode:
    support: full
    details: The backups on the destination (of the components copied) before and after.
  platform:
    platforms: posix
options:
  source_repository:
    description:
      - The repository to copy from, a local absolute path or C(s3://bucket/prefix).
      - Defaults to O(repository), so a play whose C(module_defaults) name the plan's repository copies from it.
    type: str
  repository:
    description:
      - The source repository when O(source_repository) is not set.
    type: str
    required: false
  destination_repository:
    description:
      - The repository to copy to, a local absolute path or C(s3://bucket/prefix). It must not be the source.
    type: str
    required: true
  components:
    description:
      - Only copy backups of these components. Each must have backups in the source. Default is every
        component of the source.
    type: list
    elements: str
    default: []
  latest_only:
    description:
      - Only copy the newest complete backup of each component (after O(since)), not every one missing on
        the destination.
    type: bool
    default: false
  since:
    description:
      - Only copy backups that finished at or after this time, given as a UTC time (C(2026-11-23T04:00:00Z))
        or as a duration back from now (C(7d), C(36h), C(2w3d), or seconds).
    type: str
  destination_encryption_recipients:
    description:
      - age public keys (C(age1...)) to re-encrypt the copies to. Encrypted source backups then need their
        secret key (O(encryption_identity_file) or O(encryption_identity)); unencrypted ones are encrypted.
      - Empty copies the files as they are, encrypted to the source's recipients or not at all.
    type: list
    elements: str
    default: []
  signing_key_file:
    description:
      - Path of an Ed25519 private key (mode 0600, no passphrase) that signs the manifests of the copies, as on the
        backup hosts (see O(resilience.dr.pg_backup#module:signing_key_file)).
      - A signed backup copied without re-encryption keeps its original signature whether this is set or not; the
        copy's C(manifest.json) is the source's, byte for byte, with its C(manifest.json.sig), and where it came from
        goes to C(origin.json) beside it. A re-encrypted copy has a new manifest (new checksums and recipients), which
        only this key can sign.
      - O(signing_public_keys) applies to the source - backups it does not trust are not copied.
    type: path
  s3_object_lock_mode:
    description:
      - S3 Object Lock retention mode for the copied objects on an S3 destination (the bucket must have
        Object Lock enabled). Requires O(s3_object_lock_days).
    type: str
    choices: [GOVERNANCE, COMPLIANCE]
  s3_object_lock_days:
    description:
      - Days the copied objects stay locked against deletion and overwrite.
    type: int
requirements:
  - zstandard
  - pyrage (for re-encryption)
  - boto3 (for s3:// repositories)
seealso:
  - module: resilience.dr.backup_info
  - module: resilience.dr.backup_verify
  - module: resilience.dr.backup_prune
"""

EXAMPLES = r"""
- name: Copy the newest backup of every component to the failover region
  resilience.dr.backup_copy:
    source_repository: s3://acme-dr-backups/prod
    source_region: eu-central-1
    destination_repository: s3://acme-dr-backups-west/prod
    destination_region: eu-west-1
    latest_only: true
  register: dr_copy

- name: Refuse to fail over when the newest copy of orders-db in the failover region is older than the RPO
  ansible.builtin.assert:
    that: dr_copy.components['orders-db'].newest_age_s < 21600
    fail_msg: "orders-db: the newest backup in eu-west-1 is {{ dr_copy.components['orders-db'].newest_age_s }}s old"

- name: Copy last week's backups to the offline site, re-encrypted to the break-glass key only
  resilience.dr.backup_copy:
    source_repository: /srv/backups
    destination_repository: /mnt/offsite/backups
    since: 7d
    destination_encryption_recipients:
      - age1lggyhqrw2nlhcxprm67z43rta597azn8gknawjehu9d9dl0jq3yqqvfafg
    encryption_identity: "{{ lookup('amazon.aws.secretsmanager_secret', 'dr/age-identity') }}"

- name: Show what would be copied to the other account, without copying
  resilience.dr.backup_copy:
    source_repository: s3://acme-dr-backups/prod
    destination_repository: s3://acme-dr-vault/prod
    destination_profile: dr-vault
    components: [orders-db, sessions]
  check_mode: true
"""

RETURN = r"""
source_repository:
  description: The repository copied from.
  returned: always
  type: str
  sample: s3://acme-dr-backups/prod
destination_repository:
  description: The repository copied to.
  returned: always
  type: str
  sample: s3://acme-dr-backups-west/prod
copied:
  description:
    - The backups copied (in check mode, those that would be), oldest first.
    - C(state) is C(new), C(resume) (an interrupted copy was completed) or C(repair) (a copy that failed
      verification was fixed). C(files_sent)/C(bytes_sent) were sent, C(files_kept)/C(bytes_kept) were already
      on the destination; in check mode files of the right size already there count as kept.
      C(checked_by) says how the stored files were checked (C(S3 CRC32 checksums) or C(read back)).
      C(needed_by) names the backup that depends on this one when only that one was asked for.
  returned: always
  type: list
  elements: dict
  sample:
    - component: orders-db
      backup_id: 20261123T040000Z-k3f9ab
      status: verified
      state: new
      reencrypted: false
      files: 42
      bytes: 734003200
      files_sent: 42
      bytes_sent: 734003200
      files_kept: 0
      bytes_kept: 0
      checked_by: [S3 CRC32 checksums]
up_to_date:
  description: Backups already on the destination with the same content (component, backup_id, status).
  returned: always
  type: list
  elements: dict
left_out:
  description: Backups of the source that are not copied because they are not usable (failed verification, unreadable manifest), with the reason.
  returned: always
  type: list
  elements: dict
  sample:
    - component: orders-db
      backup_id: 20261122T040000Z-p2x8c1
      status: failed_verification
      reason: "backup 20261122T040000Z-p2x8c1 of component orders-db: file data/3456.dat.zst failed its SHA-256 check"
files_sent:
  description: Files sent in all (in check mode, that would be).
  returned: always
  type: int
bytes_sent:
  description: Bytes sent in all (in check mode, that would be).
  returned: always
  type: int
components:
  description:
    - Per component copied, the destination's figures after the copy (in check mode, as they are now), the
      same as M(resilience.dr.backup_info) reports - C(backups), C(usable), C(verified), C(incomplete),
      C(newest_backup_id), C(newest_age_s), C(newest_consistency_point), C(newest_verified_backup_id),
      C(newest_verified_age_s), C(newest_copied_from) and C(newest_copied_at) (set when the newest is itself a copy) -
      plus the source's C(source_newest_backup_id) and C(source_newest_age_s), and C(copy_lag_s), how many seconds
      the destination's newest backup is older than the source's (0 when it holds it, null when it holds none).
    - Ages count from when the backup finished at the source, so they measure how old the data in the
      other region is, which a failover gate compares with the RPO.
  returned: always
  type: dict
  sample:
    orders-db:
      backups: 14
      usable: 14
      verified: 13
      incomplete: 0
      newest_backup_id: 20261123T040000Z-k3f9ab
      newest_age_s: 812
      newest_verified_backup_id: 20261122T040000Z-p2x8c1
      newest_verified_age_s: 87212
      source_newest_backup_id: 20261123T040000Z-k3f9ab
      source_newest_age_s: 812
      copy_lag_s: 0
errors:
  description: On failure, each backup that could not be copied (component, backup_id, error, file).
  returned: failure
  type: list
  elements: dict
"""

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._repository.copy import copy_backups
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy_options import (
    copy_sides_argument_spec,
    open_copy_repositories,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import IDENTITY_MUTUALLY_EXCLUSIVE
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            copy_sides_argument_spec(),
            repository=dict(type="str"),
            source_repository=dict(type="str"),
            destination_repository=dict(type="str", required=True),
            components=dict(type="list", elements="str", default=[]),
            latest_only=dict(type="bool", default=False),
            since=dict(type="str"),
            destination_encryption_recipients=dict(type="list", elements="str", default=[]),
        ),
        # The source and the destination are opened from the options of their own sides (open_copy_repositories).
        uses=(),
        mutually_exclusive=IDENTITY_MUTUALLY_EXCLUSIVE,
        required_one_of=[("source_repository", "repository")],
        required_together=[("s3_object_lock_mode", "s3_object_lock_days")],
    )
    params = module.params

    def work() -> dict[str, t.Any]:
        source, destination = open_copy_repositories(params)
        return copy_backups(
            source, destination,
            components=params["components"],
            latest_only=params["latest_only"],
            since=params["since"],
            check_mode=module.check_mode,
        )

    module.run_work(work)


if __name__ == "__main__":
    main()
