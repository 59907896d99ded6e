#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: files_restore
short_description: Restore a directory from a files_backup backup, verified, then swapped in atomically
version_added: 0.1.0
description:
  - Restores the backup O(backup_id) of O(component) (default the newest verified, else the newest complete
    backup) to the directory O(path).
  - Extracts into a staging directory beside O(path) (C(.<name>.restore-<backup_id>), same filesystem),
    checks every restored entry against the listing the backup recorded (type, size, SHA-256, mode, mtime,
    owner, link targets, hard links), and only then swaps it in with one atomic rename exchange, so
    O(path) always holds either the complete old tree or the complete restored one. The old tree is kept as
    C(<path>.pre-restore-<backup_id>) unless O(keep_previous=false).
  - With O(paths), only those entries are restored; each is swapped in on its own and the rest of O(path)
    stays as it is. A directory of O(path) above one of them that is a symlink is refused; a restore of
    O(paths) never writes through a link of the live tree.
  - Extraction does not trust the archive, nor depend on the Python version's tar filters. It never follows a
    link in a parent path (every directory is opened without following links), and refuses, naming the entry,
    an absolute name or C(..), a symlink whose target is absolute or climbs out of the tree (or has C(..)
    after a name), a hard link to anything but a file extracted earlier, device files and fifos, an entry
    that is not in the backup's listing or has another type there, and a file whose header claims more bytes
    than the listing records (checked before a byte is written). Free space for what the listing records is
    checked first. On any refusal O(path) is left untouched.
  - The backup must be a files backup; a backup of another kind (a database dump, say) is refused.
  - Idempotent; when O(path) already matches the backup (every file's content, mode, mtime and owner),
    nothing is extracted and C(changed) is false. Files the backup excluded are ignored in that comparison.
  - Owners are restored when the module runs as root (by user and group name, else by number), or mapped
    with O(owner) and O(group). Set-user-ID and set-group-ID bits are not restored.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.repository
attributes:
  check_mode:
    support: full
    details: Compares O(path) with the backup's listing and reports what a restore would change.
  diff_mode:
    support: full
    details: Lists the paths that differ (at most 1000 each).
  platform:
    platforms: posix
options:
  component:
    description: The component whose backup to restore.
    type: str
    required: true
  backup_id:
    description:
      - The backup to restore. Default is the newest verified backup, else the newest complete one (consistent at or
        before O(target_time), when given).
      - Excludes O(target_time).
    type: str
  target_time:
    description:
      - Restore the newest verified (else complete) backup of O(component) whose consistency point (RV(consistency_point))
        is at or before this time, such as the last moment the data was known to be right. ISO 8601, such as
        C(2026-11-23T04:00:00Z) or C(2026-11-23 06:00:00+02:00); a time without a zone is UTC.
      - Backups after it are left alone. When no backup is that old the task fails naming the oldest and newest
        points there are, and nothing is touched; it never falls back to another backup.
      - Excludes O(backup_id).
    type: str
  path:
    description:
      - The directory to restore to (absolute path). It need not be where the backup was taken from.
      - Its parent must have room for a full copy of the restored tree (staging happens there).
      - It must not be a symlink or a mount point (unless O(paths) is given).
    type: path
    required: true
  paths:
    description:
      - Restore only these entries (files or directories), given relative to O(path), for example
        V(config/app.yml) or V(uploads/2026). Each must be in the backup.
    type: list
    elements: str
  keep_previous:
    description:
      - Keep what O(path) (or each of O(paths)) held before as C(<path>.pre-restore-<backup_id>), to compare or
        roll back by hand. Remove it when done.
    type: bool
    default: true
  owner:
    description:
      - Give every restored entry this owner (user name or number) instead of the recorded one, for
        restoring onto a host with other users. Needs root.
    type: str
  group:
    description: Give every restored entry this group (name or number). Needs root.
    type: str
requirements:
  - zstandard
  - pyrage (for encrypted backups)
  - boto3 (for s3:// repositories)
seealso:
  - module: resilience.dr.files_backup
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: Restore the uploads from the newest verified backup (the damaged tree is kept aside)
  resilience.dr.files_restore:
    repository: s3://acme-dr-backups/prod
    component: uploads
    path: /srv/app/uploads
    encryption_identity: "{{ lookup('amazon.aws.secretsmanager_secret', 'dr/age-identity') }}"
  register: uploads_restore

- name: Put back only the TLS certificates and the site configuration from a known backup
  resilience.dr.files_restore:
    repository: /srv/backups
    component: nginx-config
    backup_id: 20261123T040000Z-k3f9ab
    path: /etc/nginx
    paths: [ssl, sites-available/app.conf]

- name: Put the uploads back to how they were before the deletion noticed at 09:30
  resilience.dr.files_restore:
    repository: /srv/backups
    component: uploads
    path: /srv/app/uploads
    target_time: "2026-11-23T09:00:00Z"

- name: Rebuild the uploads on the new host, owned by its application user, without keeping a copy
  resilience.dr.files_restore:
    repository: s3://acme-dr-backups/prod
    component: uploads
    path: /srv/app/uploads
    owner: app
    group: app
    keep_previous: false
    encryption_identity_file: /root/.config/dr/age-identity.txt
"""

RETURN = r"""
backup_id:
  description: The backup restored (or that would be).
  returned: always
  type: str
  sample: 20261123T040000Z-k3f9ab
component:
  description: The component restored.
  returned: always
  type: str
path:
  description: The directory restored to.
  returned: always
  type: str
paths:
  description: The entries restored when O(paths) was given (normalized), else an empty list.
  returned: always
  type: list
  elements: str
repository:
  description: The repository read.
  returned: always
  type: str
skipped_backups:
  description:
    - Backups newer than the one restored that were passed over because they cannot be restored (invalid,
      incomplete, or failed verification), each with its C(backup_id), C(status) and C(reason). Each also makes a
      warning. Empty when O(backup_id) was given or the newest backup was restored.
  returned: success
  type: list
  elements: dict
  sample: [{backup_id: 20261123T100000Z-a1b2c3, status: failed_verification,
            reason: "failed verification at 2026-11-23T10:30:00Z: file data/toc.dat.zst failed its SHA-256 check"}]
consistency_point:
  description:
    - When the backup was taken (C(time), in ISO 8601 UTC, the moment it started reading the tree). In check mode,
      that of the backup a restore would take.
  returned: always
  type: dict
  sample: {"time": "2026-11-23T04:00:00.123456Z"}
differences:
  description: How O(path) differed from the backup before the restore (at most 1000 paths each).
  returned: always
  type: dict
  contains:
    missing:
      description: In the backup, not in O(path).
      type: list
      elements: str
    changed:
      description: In both but different (content, type, mode, mtime, owner or link target).
      type: list
      elements: str
    extra:
      description: In O(path), not in the backup (they are not in the restored tree; see RV(previous_path)).
      type: list
      elements: str
previous_path:
  description:
    - Where the old tree (or the old entries of O(paths)) was kept; null when nothing was kept.
    - When the old tree was swapped out but could not be moved to C(<path>.pre-restore-<backup_id>), it stays
      in the staging directory; this is then that directory (even with O(keep_previous=false)), and a warning
      says so.
  returned: always
  type: str
  sample: /srv/app/uploads.pre-restore-20261123T040000Z-k3f9ab
atomic_swap:
  description: Whether the swap was one atomic rename exchange (false on systems without renameat2, where
    two renames leave O(path) missing for an instant); null when nothing was swapped.
  returned: always
  type: bool
duration_s:
  description: Seconds the module ran.
  returned: always
  type: float
"""

from ansible_collections.resilience.dr.plugins.module_utils._files_restore import files_restore
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import IDENTITY_MUTUALLY_EXCLUSIVE
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            component=dict(type="str", required=True),
            backup_id=dict(type="str"),
            target_time=dict(type="str"),
            path=dict(type="path", required=True),
            paths=dict(type="list", elements="str"),
            keep_previous=dict(type="bool", default=True),
            owner=dict(type="str"),
            group=dict(type="str"),
        ),
        uses=("identity", "signatures"),
        mutually_exclusive=[*IDENTITY_MUTUALLY_EXCLUSIVE, ("backup_id", "target_time")],
    )
    params = module.params
    module.run(lambda repository: files_restore(
        repository, component=params["component"], path=params["path"],
        backup_id=params["backup_id"], target_time=params["target_time"], paths=params["paths"], keep_previous=params["keep_previous"],
        owner=params["owner"], group=params["group"], check_mode=module.check_mode, diff=module.diff_mode,
    ))


if __name__ == "__main__":
    main()
