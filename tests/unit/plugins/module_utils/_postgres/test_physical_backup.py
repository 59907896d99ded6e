# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pgBackRest repositories a physical backup goes into."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._postgres import pgbackrest, physical_backup
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._postgres.helpers import REPO1_LOST


def test_backup_into_every_repository_refuses_a_lost_one():
    found = pgbackrest.repositories(REPO1_LOST)
    with pytest.raises(SourceUnavailable, match=r"repo1 missing.*pgbackrest_repos to the reachable ones \(\[2\]\)"):
        physical_backup.backup_repositories(found, None, "primary", creating=False)
    assert physical_backup.backup_repositories(found, [2], "primary", creating=False) == [2]
    with pytest.raises(ConfigurationError, match="repo3"):
        physical_backup.backup_repositories(found, [3], "primary", creating=False)
    assert physical_backup.backup_repositories([], None, "primary", creating=True) == [None]
