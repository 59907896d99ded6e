# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RPO exposure arithmetic, and the pgBackRest stanza found in an archive_command."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ansible_collections.resilience.dr.plugins.module_utils._postgres import rpo, wal


SEGMENT = 16 * 1024 * 1024


def test_rpo_is_zero_when_nothing_was_written_after_the_last_archived_segment():
    now = datetime(2026, 11, 23, 4, 0, 30, tzinfo=timezone.utc)
    end = wal.segment_end("000000010000000000000042", SEGMENT)
    assert end == 0x43 * SEGMENT
    assert rpo.exposure(now=now, current_lsn=end, last_archived_wal="000000010000000000000042",
                        last_archived_time=now - timedelta(seconds=300), segment_size=SEGMENT) == (0, 0)


def test_rpo_counts_from_the_last_archived_segment_when_wal_is_pending():
    now = datetime(2026, 11, 23, 4, 0, 30, tzinfo=timezone.utc)
    current = wal.parse_lsn("1/43001000")
    seconds, pending = rpo.exposure(now=now, current_lsn=current, last_archived_wal="000000010000000100000042",
                                    last_archived_time=now - timedelta(seconds=12.7), segment_size=SEGMENT)
    assert seconds == 12 and pending == 0x1000


def test_rpo_unknown_without_an_archived_segment():
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    assert rpo.exposure(now=now, current_lsn=5, last_archived_wal=None, last_archived_time=None,
                        segment_size=SEGMENT) == (None, None)
    assert wal.segment_end("00000002.history", SEGMENT) is None


def test_wal_segment_size_setting():
    assert rpo._size_bytes("16MB") == SEGMENT
    assert rpo._size_bytes("1GB") == 1024 ** 3


def test_pgbackrest_found_in_archive_command():
    command = "pgbackrest --config=/etc/pgbackrest/orders.conf --stanza=orders archive-push %p"
    assert rpo.pgbackrest_of(command) == ("/etc/pgbackrest/orders.conf", "orders")
    assert rpo.pgbackrest_of("/usr/bin/pgbackrest --stanza=main archive-push %p") == (None, "main")
    assert rpo.pgbackrest_of("cp %p /mnt/archive/%f") is None
    assert rpo.pgbackrest_of("false") is None
