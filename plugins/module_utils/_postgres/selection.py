# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which PostgreSQL backup a restore uses: the repository's one selection, limited to one method."""

from __future__ import annotations

import typing as t
from datetime import datetime

if t.TYPE_CHECKING:
    from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
    from ansible_collections.resilience.dr.plugins.module_utils._repository.selection import Selection


def choose_pg_backup(repository: Repository, component: str, backup_id: str | None, method: str,
                     target_time: datetime | None = None) -> Selection:
    """The backup of `method` to restore (a Selection): the one asked for, else the newest verified, else the
    newest complete (consistent at or before target_time, when given), with the newer ones passed over because
    they cannot be restored.

    Logical and physical backups of a component live side by side; a restore
    of one method never picks the other.
    """
    return repository.choose_backup(component, backup_id, target_time=target_time, kind="postgresql", method=method,
                                    wanted=f"PostgreSQL {method}")
