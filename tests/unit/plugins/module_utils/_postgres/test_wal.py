# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""WAL segment names: the next one, their order, and what a damaged pg_wal has not archived."""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._postgres import wal


def test_next_wal_segment_rolls_over_the_log_number():
    size = 16 * 1024 * 1024
    assert wal.next_segment("000000010000000000000009", size) == "00000001000000000000000A"
    assert wal.next_segment("0000000200000003000000FF", size) == "000000020000000400000000"
    assert wal.next_segment("000000010000000000000001", 64 * 1024 * 1024) == "000000010000000000000002"
    assert wal.next_segment("00000001000000000000003F", 64 * 1024 * 1024) == "000000010000000100000000"


def test_unarchived_wal_finds_ready_segments_and_the_one_being_written(tmp_path):
    wal_dir = tmp_path / "pg_wal"
    (wal_dir / "archive_status").mkdir(parents=True)
    for name in ["000000010000000000000003", "000000010000000000000004", "000000010000000000000005",
                 "000000010000000000000006", "000000010000000000000007"]:
        (wal_dir / name).write_bytes(b"\0" * 1024)
    (wal_dir / "00000001.history").write_text("")
    (wal_dir / "archive_status" / "000000010000000000000003.done").write_text("")
    (wal_dir / "archive_status" / "000000010000000000000004.ready").write_text("")
    (wal_dir / "archive_status" / "000000010000000000000002.partial.done").write_text("")
    # 1 kB segments: 0x100000000 / 1024 segments per log number, so the next one after 4 is 5; 6 and 7 are recycled.
    assert wal.unarchived_wal(str(wal_dir)) == {"ready": ["000000010000000000000004"],
                                                "current": "000000010000000000000005"}


def test_unarchived_wal_without_status_or_directory_is_nothing(tmp_path):
    assert wal.unarchived_wal(str(tmp_path / "missing")) == {"ready": [], "current": None}
    (tmp_path / "pg_wal" / "archive_status").mkdir(parents=True)
    (tmp_path / "pg_wal" / "000000010000000000000003").write_bytes(b"")
    assert wal.unarchived_wal(str(tmp_path / "pg_wal")) == {"ready": [], "current": None}


def test_a_segment_comes_after_another_by_timeline_then_position():
    assert wal.segment_after("000000010000000000000006", "000000010000000000000005")
    assert not wal.segment_after("000000010000000000000005", "000000010000000000000005")
