#!/usr/bin/python
# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: restore_test_record
short_description: Record the outcome of a restore test beside the backup it restored
version_added: 0.1.0
description:
  - Writes C(restore-test.json) into the directory of backup O(backup_id) of O(component) in the repository - when
    (C(tested_at)), by whom (C(by)), whether the restore and its verification passed (O(ok)), how long they took
    (O(duration_s), the projected RTO), the error of a failed test and what was compared - replacing the record of
    an earlier test of the same backup.
  - M(resilience.dr.backup_info) shows the record of each backup (C(restore_test)) and the last test of each
    component (C(components.<name>.last_restore_test)); the plan document and the metrics read it from there.
  - The C(resilience.dr.restore_test) playbook calls it after every test, passed or failed. The format is in
    C(docs/repository-format.md).
author:
  - resilience.dr maintainers (@resilience-dr)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - resilience.dr.repository
attributes:
  check_mode:
    support: full
    details: Finds the backup and returns the record it would write; writes nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  component:
    description: The component the backup belongs to.
    type: str
    required: true
  backup_id:
    description: The backup the test restored.
    type: str
    required: true
  ok:
    description: Whether the restore and its verification passed.
    type: bool
    required: true
  duration_s:
    description: Seconds the restore and its verification took (the projected RTO of the component).
    type: float
  error:
    description: Why the test failed.
    type: str
  compared:
    description: What the verification compared (tables and rows, keys, files, objects), as the restore returned it.
    type: dict
  sandbox:
    description: Where the backup was restored to (kind and place, never a password).
    type: dict
  target_rto_s:
    description: The component's RTO in seconds, to read the duration against.
    type: float
notes:
  - The repository's writer must be allowed to write into the backup's directory (for S3, C(s3:PutObject) on
    C(<prefix>/<component>/<backup_id>/restore-test.json)).
seealso:
  - module: resilience.dr.restore_sandbox
  - module: resilience.dr.backup_info
"""

EXAMPLES = r"""
- name: Record that the newest backup of orders-db restored and verified in 42 s
  resilience.dr.restore_test_record:
    repository: /srv/backups
    component: orders-db
    backup_id: 20261123T040000Z-k3f9ab
    ok: true
    duration_s: 42.1
    compared: {tables: 12, rows: 183020}
"""

RETURN = r"""
component:
  description: O(component).
  returned: success
  type: str
backup_id:
  description: O(backup_id).
  returned: success
  type: str
restore_test:
  description: The record written (in check mode, what would be written, without C(tested_at) and C(by)).
  returned: success
  type: dict
  sample: {"tested_at": "2026-11-23T04:12:00.000000Z", "by": "dr@backup1", "ok": true, "duration_s": 42.1}
previous:
  description: The record of the backup's previous test, or null.
  returned: success
  type: dict
"""

from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import restore_test_record
from ansible_collections.resilience.dr.plugins.module_utils._repository_module import RepositoryModule


def main() -> None:
    module = RepositoryModule(
        dict(
            component=dict(type="str", required=True),
            backup_id=dict(type="str", required=True),
            ok=dict(type="bool", required=True),
            duration_s=dict(type="float"),
            error=dict(type="str"),
            compared=dict(type="dict"),
            sandbox=dict(type="dict"),
            target_rto_s=dict(type="float"),
        ),
        uses=(),
    )
    params = module.params
    outcome = {key: params[key] for key in ("ok", "duration_s", "error", "compared", "sandbox", "target_rto_s")}
    module.run(lambda repository: restore_test_record(
        repository,
        component=params["component"],
        backup_id=params["backup_id"],
        outcome=outcome,
        check_mode=module.check_mode,
    ))


if __name__ == "__main__":
    main()
