#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_prune
short_description: Remove backups that the retention rules no longer keep
version_added: 0.1.0
description:
  - Applies grandfather-father-son retention to the backups of one component or of every component with
    O(keep_last), O(keep_daily), O(keep_weekly), O(keep_monthly) and O(keep_within); a backup kept by
    any rule stays.
  - Always keeps, whatever the rules say, the newest backup, the newest verified backup, backups with
    C(retention_class=pinned), and every backup that a kept backup depends on.
  - Removes backups that never finished (no manifest) unless O(remove_incomplete=false). Backups whose
    manifest cannot be read are reported and left alone (they may come from a newer version).
  - Leaves evidence sets of security incidents (kind C(evidence)) alone unless O(include_evidence=true).
  - Holds the lock of each component while it works, so it never races a running backup.
  - At least one rule is required; an empty policy is refused rather than deleting almost everything.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.repository
attributes:
  check_mode:
    support: full
    details: Lists exactly what would be removed and why each kept backup stays.
  diff_mode:
    support: full
    details: Before and after lists of backups.
  platform:
    platforms: posix
options:
  component:
    description:
      - Component to prune. Without it, every component of the repository with the same rules.
    type: str
  keep_last:
    description: Keep the newest N backups.
    type: int
    default: 0
  keep_daily:
    description: Keep the newest backup of each of the newest N days that have backups (UTC).
    type: int
    default: 0
  keep_weekly:
    description: Keep the newest backup of each of the newest N ISO weeks that have backups.
    type: int
    default: 0
  keep_monthly:
    description: Keep the newest backup of each of the newest N months that have backups.
    type: int
    default: 0
  keep_within:
    description:
      - Keep every backup finished within this duration, written like C(36h), C(7d) or C(2w3d), or as a
        number of seconds. Use it to cover the point-in-time recovery window.
    type: str
  remove_incomplete:
    description:
      - Also remove backups without a manifest (left by a writer that died), which can never be restored.
    type: bool
    default: true
  include_evidence:
    description:
      - Also apply the rules to evidence sets of security incidents (backups of kind C(evidence), written by
        M(resilience.dr.evidence_store)). Without it they are listed in RV(left_alone) and never removed.
    type: bool
    default: false
requirements:
  - boto3 (for s3:// repositories)
seealso:
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: Keep 30 days of backups plus 12 monthly ones, as the DR plan promises
  resilience.dr.backup_prune:
    repository: s3://acme-dr-backups/prod
    keep_within: 30d
    keep_monthly: 12

- name: Show what a stricter policy would remove from orders-db, without removing anything
  resilience.dr.backup_prune:
    repository: /srv/backups
    component: orders-db
    keep_last: 7
    keep_weekly: 4
  check_mode: true
  diff: true
  register: prune_plan
"""

RETURN = r"""
repository:
  description: The repository pruned.
  returned: always
  type: str
removed:
  description: The backups removed (in check mode, those that would be), with status and size.
  returned: always
  type: list
  elements: dict
  sample:
    - component: orders-db
      backup_id: 20261001T040000Z-a1b2c3
      status: verified
      size: 734003200
kept:
  description: The backups kept, each with the reasons (C(newest backup), C(daily 2026-11-22), C(needed by ...)).
  returned: always
  type: list
  elements: dict
  sample:
    - component: orders-db
      backup_id: 20261123T040000Z-k3f9ab
      status: verified
      reasons: [newest backup, newest verified backup, last 1, daily 2026-11-23]
left_alone:
  description: >-
    Backups left alone because their manifest cannot be read, incomplete ones kept by O(remove_incomplete=false),
    and evidence sets without O(include_evidence=true).
  returned: always
  type: list
  elements: dict
freed_bytes:
  description: Stored bytes removed (or that would be).
  returned: always
  type: int
"""

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_prune
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.retention import RetentionPolicy
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_duration


def main() -> None:
    module = RepositoryModule(
        dict(
            component=dict(type="str"),
            keep_last=dict(type="int", default=0),
            keep_daily=dict(type="int", default=0),
            keep_weekly=dict(type="int", default=0),
            keep_monthly=dict(type="int", default=0),
            keep_within=dict(type="str"),
            remove_incomplete=dict(type="bool", default=True),
            include_evidence=dict(type="bool", default=False),
        ),
        uses=("lock",),
    )
    params = module.params

    def work(repository: Repository) -> dict[str, t.Any]:
        policy = RetentionPolicy(
            keep_last=params["keep_last"],
            keep_daily=params["keep_daily"],
            keep_weekly=params["keep_weekly"],
            keep_monthly=params["keep_monthly"],
            keep_within=parse_duration(params["keep_within"], "keep_within"),
        )
        return backup_prune(
            repository,
            policy=policy,
            component=params["component"],
            remove_incomplete=params["remove_incomplete"],
            include_evidence=params["include_evidence"],
            check_mode=module.check_mode,
        )

    module.run(work)


if __name__ == "__main__":
    main()
