# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files written whole or not at all, readable by their owner only."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._atomic import private_file, write_private


def test_a_private_file_appears_whole_with_mode_0600(tmp_path):
    path = tmp_path / "dump.rdb"
    with private_file(str(path)) as handle:
        handle.write(b"REDIS0010")
        assert not path.exists()  # nothing visible until the block ends
    assert path.read_bytes() == b"REDIS0010"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["dump.rdb"]


def test_an_error_while_writing_leaves_the_previous_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "report.json"
    write_private(str(path), "previous\n")
    with pytest.raises(ValueError, match="producer failed"):
        with private_file(str(path)) as handle:
            handle.write(b"half of the new")
            raise ValueError("producer failed")
    assert path.read_text() == "previous\n"
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_text_file_replaces_the_previous_one(tmp_path):
    path = tmp_path / "credentials"
    path.write_text("old")
    path.chmod(0o644)
    write_private(str(path), "new ✓\n")
    assert path.read_text(encoding="utf-8") == "new ✓\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
