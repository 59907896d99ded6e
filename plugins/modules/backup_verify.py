#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_verify
short_description: Re-read backups and check every file against its manifest
version_added: 0.1.0
description:
  - Re-reads every file of one backup (O(backup_id)) or of the newest O(latest) backups of a component
    (or of every component) and checks its size and SHA-256 against the manifest.
  - With the secret key (O(encryption_identity_file) or O(encryption_identity)), or for unencrypted
    backups, it also decrypts and decompresses each file, checking the checksum of the decrypted data
    and zstd's own checksum of the content (level C(content)); otherwise it checks the stored bytes only
    (level C(stored)). The result says which level each backup was verified at.
  - Records the outcome in the repository (C(verify-result.json) with when, by whom, level and result), so that
    restores choose the newest verified backup and never one that failed verification.
  - Fails naming the component, backup and file on any mismatch, after recording it.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.repository
attributes:
  check_mode:
    support: full
    details: Files are read and checked; the outcome is not recorded.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  component:
    description:
      - Component whose backups to verify. Without it, the newest O(latest) backups of every component.
    type: str
  backup_id:
    description:
      - Verify this backup (requires O(component)).
    type: str
  latest:
    description:
      - Without O(backup_id), how many of the newest complete backups of each component to verify.
    type: int
    default: 1
  level:
    description:
      - C(auto) checks content where possible (unencrypted backups, or an identity given) and the stored
        bytes otherwise; C(stored) only sizes and SHA-256 of the stored files; C(content) requires it
        (fails for encrypted backups without an identity).
    type: str
    choices: [auto, stored, content]
    default: auto
  record:
    description:
      - Record the outcome in the repository.
    type: bool
    default: true
requirements:
  - zstandard
  - pyrage (for encrypted backups)
  - boto3 (for s3:// repositories)
seealso:
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: Verify last night's backup of orders-db down to its content
  resilience.dr.backup_verify:
    repository: s3://acme-dr-backups/prod
    component: orders-db
    encryption_identity: "{{ lookup('amazon.aws.secretsmanager_secret', 'dr/age-identity') }}"

- name: Check the stored bytes of the three newest backups of every component (no key on this host)
  resilience.dr.backup_verify:
    repository: /srv/backups
    latest: 3
    level: stored
"""

RETURN = r"""
repository:
  description: The repository checked.
  returned: always
  type: str
level:
  description: The weakest level any backup was verified at (C(stored) or C(content)).
  returned: always
  type: str
  sample: content
verified:
  description: One entry per backup checked.
  returned: always, also on failure
  type: list
  elements: dict
  contains:
    component:
      description: Component of the backup.
      type: str
    backup_id:
      description: The backup checked.
      type: str
    level:
      description: C(stored) or C(content).
      type: str
    ok:
      description: Whether every file passed.
      type: bool
    files:
      description: Files that passed.
      type: int
    bytes:
      description: Stored bytes read.
      type: int
    error:
      description: What failed.
      type: str
      returned: when ok is false
    file:
      description: The file that failed.
      type: str
      returned: when ok is false
  sample:
    - component: orders-db
      backup_id: 20261123T040000Z-k3f9ab
      level: content
      ok: true
      files: 42
      bytes: 734003200
"""

from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_verify
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import IDENTITY_MUTUALLY_EXCLUSIVE
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            component=dict(type="str"),
            backup_id=dict(type="str"),
            latest=dict(type="int", default=1),
            level=dict(type="str", choices=["auto", "stored", "content"], default="auto"),
            record=dict(type="bool", default=True),
        ),
        uses=("identity", "signatures"),
        mutually_exclusive=IDENTITY_MUTUALLY_EXCLUSIVE,
        required_by={"backup_id": "component"},
    )
    params = module.params
    module.run(lambda repository: backup_verify(
        repository,
        component=params["component"],
        backup_id=params["backup_id"],
        latest=params["latest"],
        level=params["level"],
        record=params["record"],
        check_mode=module.check_mode,
    ))


if __name__ == "__main__":
    main()
