# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backups the repository tests take and damage."""

from __future__ import annotations

import json


def take(repository, component="orders-db", data=b"rows " * 1000, **verification):
    with repository.new_backup(component, kind="test", method="raw") as backup:
        backup.add_bytes("data/rows.txt", data)
        backup.verification = verification
    return backup.backup_id


def set_depends_on(root, component, backup_id, depends_on):
    path = root / component / backup_id / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["depends_on"] = depends_on
    path.write_text(json.dumps(manifest))


def corrupt(tmp_path, backup_id, component="orders-db"):
    path = tmp_path / "repo" / component / backup_id / "data" / "rows.txt.zst"
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
