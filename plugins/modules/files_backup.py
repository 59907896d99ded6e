#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: files_backup
short_description: Back up a directory into the backup repository as a streamed tar archive
version_added: 0.1.0
description:
  - Writes the directory O(path) as one PAX tar archive (C(files.tar)), compressed with zstd and optionally
    encrypted, into a new backup of O(component). Nothing is staged on local disk; the archive streams
    into the repository while the tree is read.
  - Keeps owners (names and numbers), modes, modification times, symlinks, hard links and empty directories.
    Sockets, devices and fifos are not backed up (M(resilience.dr.files_restore) refuses them) and are listed
    in RV(skipped_special_files).
  - Records the listing of every entry (type, size, mode, owner, mtime, SHA-256, link target) as the backup's
    verification data; M(resilience.dr.files_restore) checks the restored tree against it.
  - A file that shrinks while it is read fails the backup (it is discarded, never left half written).
    Files that disappear during the backup are listed in RV(vanished).
  - Extended attributes and ACLs are not kept.
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.repository
attributes:
  check_mode:
    support: full
    details: Counts the files and bytes that would be backed up; nothing is written.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  component:
    description: The plan's name for this file set; backups are stored under it.
    type: str
    required: true
  path:
    description: The directory to back up (absolute path). A symlink is not followed.
    type: path
    required: true
  exclude:
    description:
      - Shell patterns (C(*), C(?), C([...])) of what to leave out, matched like C(tar --exclude) against the
        path relative to O(path) and against the last name of it. An excluded directory is left out entirely.
    type: list
    elements: str
    default: []
requirements:
  - zstandard
  - pyrage (with O(encryption_recipients))
  - boto3 (for s3:// repositories)
seealso:
  - module: resilience.dr.files_restore
  - module: resilience.dr.backup_verify
"""

EXAMPLES = r"""
- name: Back up the uploaded documents before the migration
  resilience.dr.files_backup:
    repository: s3://acme-dr-backups/prod
    component: uploads
    path: /srv/app/uploads
    exclude: ["*.tmp", ".cache"]
    encryption_recipients: ["{{ dr_age_public_key }}"]
  register: uploads_backup

- name: Back up the TLS certificates and the nginx configuration
  resilience.dr.files_backup:
    repository: /srv/backups
    component: nginx-config
    path: /etc/nginx
"""

RETURN = r"""
backup_id:
  description: Id of the new backup (null in check mode).
  returned: always
  type: str
  sample: 20261123T040000Z-k3f9ab
consistency_point:
  description:
    - When the backup started reading the tree (C(time), ISO 8601 UTC), as its manifest records it; a restore with
      O(resilience.dr.files_restore#module:target_time) at or after it can take this backup.
  returned: when a backup was taken (not in check mode)
  type: dict
  sample: {"time": "2026-11-23T04:00:00.123456Z"}
component:
  description: The component backed up.
  returned: always
  type: str
path:
  description: The directory backed up.
  returned: always
  type: str
repository:
  description: The repository written to.
  returned: always
  type: str
files:
  description: Regular files stored (hard links included).
  returned: always
  type: int
  sample: 1520
bytes:
  description: Content bytes of the regular files stored.
  returned: always
  type: int
  sample: 734003200
entries:
  description: Entries in the archive (files, directories, links, the directory itself).
  returned: success, not in check mode
  type: int
excluded:
  description: Entries left out by O(exclude).
  returned: success, not in check mode
  type: int
stored_size:
  description: Bytes stored in the repository for the archive (compressed, encrypted).
  returned: success, not in check mode
  type: int
skipped_special_files:
  description: Sockets, devices and fifos that were not backed up (at most 1000 listed).
  returned: success, not in check mode
  type: list
  elements: str
vanished:
  description: Paths that disappeared while the backup ran (at most 1000 listed).
  returned: success, not in check mode
  type: list
  elements: str
duration_s:
  description: Seconds the module ran.
  returned: always
  type: float
"""

from ansible_collections.resilience.dr.plugins.module_utils._files import files_backup
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            component=dict(type="str", required=True),
            path=dict(type="path", required=True),
            exclude=dict(type="list", elements="str", default=[]),
        ),
        uses=("lock", "backup"),
    )
    params = module.params
    module.run(lambda repository: files_backup(
        repository, component=params["component"], path=params["path"],
        exclude=params["exclude"], check_mode=module.check_mode,
    ))


if __name__ == "__main__":
    main()
