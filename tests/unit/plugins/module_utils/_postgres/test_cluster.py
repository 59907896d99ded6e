# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is at a data directory before a physical restore."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._postgres import cluster


def test_data_directory_state(tmp_path):
    assert cluster.directory_state(str(tmp_path / "new")) == {"exists": False, "empty": True, "running": False}
    assert cluster.directory_state(str(tmp_path))["empty"] is True
    (tmp_path / "PG_VERSION").write_text("15\n")
    (tmp_path / "postmaster.pid").write_text("999999999\n")
    state = cluster.directory_state(str(tmp_path))
    assert state["empty"] is False and state["running"] is False
