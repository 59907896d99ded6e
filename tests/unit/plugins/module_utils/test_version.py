# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from pathlib import Path

import yaml

from ansible_collections.resilience.dr.plugins.module_utils._version import COLLECTION_VERSION


def test_version_recorded_in_manifests_is_the_collection_version():
    galaxy = Path(__file__).resolve().parents[4] / "galaxy.yml"
    assert yaml.safe_load(galaxy.read_text())["version"] == COLLECTION_VERSION
