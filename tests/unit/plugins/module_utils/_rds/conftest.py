# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The scripted RDS client each test gets afresh."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._rds.helpers import FakeRds


@pytest.fixture
def fake() -> FakeRds:
    return FakeRds()
