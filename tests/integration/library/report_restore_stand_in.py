# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only module: reads a backup back from the repository and answers like a restore.

The dr_report tests need results shaped like those of the restore modules
(component, backup_id, consistency_point, verified, duration_s) without a
database to restore into. This stand-in selects the backup as a restore
would, reads and checks every file of it (the real repository code), holds
for `hold_s` seconds to stand for the time a restore takes, and returns the
restore's result keys. It is found through ANSIBLE_LIBRARY by the tests only;
it is not part of the collection.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: report_restore_stand_in
short_description: Test stand-in for a restore module (reads a backup, returns a restore-shaped result)
description:
  - Test-only.
author:
  - resilience.dr maintainers (@resilience-dr)
options:
  repository: {description: The repository., type: str, required: true}
  component: {description: The component., type: str, required: true}
  backup_id: {description: The backup, default the newest verified., type: str}
  hold_s: {description: Seconds to hold, standing for the restore time., type: float, default: 0}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.resilience.dr.plugins.module_utils._module import run_module
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository


class _Sink:
    def __init__(self):
        self.size = 0

    def write(self, data):
        self.size += len(data)


def _work(params):
    repository = open_repository({"repository": params["repository"]})
    entry = repository.select_backup(params["component"], params["backup_id"])
    restored = 0
    for record in entry.manifest.files:
        restored += repository.read_file(entry, record.name, _Sink())
    time.sleep(params["hold_s"])
    return {
        "changed": True,
        "component": entry.component,
        "backup_id": entry.backup_id,
        "consistency_point": entry.manifest.consistency_point,
        "verified": True,
        "verification": {"ok": True, "bytes": restored},
    }


def main():
    module = AnsibleModule(
        argument_spec=dict(
            repository=dict(type="str", required=True),
            component=dict(type="str", required=True),
            backup_id=dict(type="str"),
            hold_s=dict(type="float", default=0),
        ),
    )
    run_module(module, lambda: _work(module.params))


if __name__ == "__main__":
    main()
