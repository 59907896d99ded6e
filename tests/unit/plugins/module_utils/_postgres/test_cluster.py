# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is at a data directory before a physical restore."""

from __future__ import annotations

import os
import stat

from ansible_collections.resilience.dr.plugins.module_utils._postgres import cluster


def test_data_directory_state(tmp_path):
    assert cluster.directory_state(str(tmp_path / "new")) == {"exists": False, "empty": True, "running": False}
    assert cluster.directory_state(str(tmp_path))["empty"] is True
    (tmp_path / "PG_VERSION").write_text("15\n")
    (tmp_path / "postmaster.pid").write_text("999999999\n")
    state = cluster.directory_state(str(tmp_path))
    assert state["empty"] is False and state["running"] is False


def test_the_restore_marker_is_private_and_readable_by_the_clusters_user(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    if os.geteuid() == 0:
        # As root (the module's usual case), the data directory belongs to the cluster's user.
        os.chown(data_dir, 65534, 65534)
    cluster.write_marker(str(data_dir), {"backup_id": "20261123T040000Z-k3f9ab", "mode": "restored"})

    marker = data_dir / cluster.MARKER_FILE
    assert stat.S_IMODE(marker.stat().st_mode) == 0o600
    assert (marker.stat().st_uid, marker.stat().st_gid) == (data_dir.stat().st_uid, data_dir.stat().st_gid)
    assert cluster.read_marker(str(data_dir)) == {"backup_id": "20261123T040000Z-k3f9ab", "mode": "restored"}
    assert [path.name for path in data_dir.iterdir()] == [cluster.MARKER_FILE]
