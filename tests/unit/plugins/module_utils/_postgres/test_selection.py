# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup a PostgreSQL restore chooses."""

from __future__ import annotations

import time

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._postgres.selection import choose_pg_backup
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository


def test_a_restore_of_one_method_never_picks_a_backup_of_the_other(tmp_path):
    repository = open_repository({"repository": str(tmp_path / "repository"), "compression_level": 1})
    ids = {}
    for method in ("logical", "physical"):  # the physical backup is the newer one
        with repository.new_backup("orders-db", kind="postgresql", method=method) as backup:
            backup.add_bytes("data/marker", method.encode())
        ids[method] = backup.backup_id
        time.sleep(1.1)  # backup ids carry the second they were taken
    assert choose_pg_backup(repository, "orders-db", None, "logical").entry.backup_id == ids["logical"]
    assert choose_pg_backup(repository, "orders-db", None, "physical").entry.backup_id == ids["physical"]
    with pytest.raises(ConfigurationError, match=rf"^backup {ids['physical']} of component orders-db is a postgresql "
                                                 r"backup \(method physical\), not a PostgreSQL logical backup; restore "
                                                 r"it with method physical"):
        choose_pg_backup(repository, "orders-db", ids["physical"], "logical")
