# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a physical restore asks pgBackRest for: the recovery target and the archiving of the restored cluster."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._postgres import physical_restore


def test_recovery_target_is_normalised_to_utc():
    assert physical_restore.recovery_target("2026-11-23T05:12:00+01:00", None, None) == {
        "type": "time", "target": "2026-11-23 04:12:00.000000+00"}
    assert physical_restore.recovery_target("2026-11-23 04:12:00", None, None)["target"] == "2026-11-23 04:12:00.000000+00"
    assert physical_restore.recovery_target(None, "0/3000060", None) == {"type": "lsn", "target": "0/3000060"}
    assert physical_restore.recovery_target(None, None, "before-migration") == {"type": "name", "target": "before-migration"}
    assert physical_restore.recovery_target(None, None, None) == {"type": "latest", "target": None}
    with pytest.raises(ConfigurationError, match="target_time"):
        physical_restore.recovery_target("yesterday", None, None)


def test_archiving_stays_on_only_when_the_cluster_is_rebuilt_in_its_own_data_directory(tmp_path):
    own = str(tmp_path / "main")
    source = {"data_directory": own + "/"}
    assert physical_restore.archive_mode_for("auto", own, source) == "preserve"
    # A copy elsewhere must not push a new timeline into the archive of the cluster it came from.
    assert physical_restore.archive_mode_for("auto", str(tmp_path / "recovered"), source) == "off"
    assert physical_restore.archive_mode_for("auto", own, {}) == "off"
    assert physical_restore.archive_mode_for("auto", own, None) == "off"
    assert physical_restore.archive_mode_for("preserve", str(tmp_path / "recovered"), source) == "preserve"
    assert physical_restore.archive_mode_for("off", own, source) == "off"
    with pytest.raises(ConfigurationError, match="archive_mode"):
        physical_restore.archive_mode_for("on", own, source)
