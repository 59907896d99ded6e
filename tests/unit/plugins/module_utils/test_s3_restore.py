# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The s3_restore plan from object versions, without S3."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._s3_restore import (
    DELETE,
    RESTORE,
    ROLL_BACK,
    UNDELETE,
    Current,
    Version,
    plan_changes,
    s3_restore,
)

T = datetime(2026, 11, 23, 4, 0, 0, tzinfo=timezone.utc)
BEFORE = T - timedelta(hours=1)
AFTER = T + timedelta(minutes=5)
LATER = T + timedelta(minutes=10)


def version(key, vid, when, etag="e", latest=False, marker=False):
    return Version(key, vid, when, latest, marker, "" if marker else etag, 0 if marker else 10)


HISTORY = [
    # unchanged since before T
    version("same", "s1", BEFORE, latest=True),
    # overwritten after T
    version("overwritten", "o1", BEFORE, etag="old"),
    version("overwritten", "o2", AFTER, etag="new", latest=True),
    # deleted after T (one delete marker on top)
    version("deleted", "d1", BEFORE),
    version("deleted", "dm", AFTER, latest=True, marker=True),
    # overwritten, then deleted after T: undeleting would bring back the wrong version
    version("overwritten-deleted", "x1", BEFORE, etag="old"),
    version("overwritten-deleted", "x2", AFTER, etag="new"),
    version("overwritten-deleted", "xm", LATER, latest=True, marker=True),
    # created after T
    version("new", "n1", AFTER, latest=True),
    # deleted before T and still deleted
    version("gone", "g1", BEFORE - timedelta(hours=1)),
    version("gone", "gm", BEFORE, latest=True, marker=True),
]


def by_key(plan):
    return {change.key: change for change in plan.changes}


def test_plan_in_the_same_bucket():
    plan = plan_changes(HISTORY, T)
    changes = by_key(plan)
    assert changes["overwritten"].action == ROLL_BACK and changes["overwritten"].version_id == "o1"
    assert changes["deleted"].action == UNDELETE and changes["deleted"].markers == ("dm",)
    assert changes["overwritten-deleted"].action == RESTORE and changes["overwritten-deleted"].version_id == "x1"
    assert set(changes) == {"overwritten", "deleted", "overwritten-deleted"}
    assert plan.newer_kept == ["new"]
    assert plan.counts()["unchanged"] == 2 and plan.keys_at_time == 4


def test_delete_newer_deletes_what_was_created_after_the_time():
    changes = by_key(plan_changes(HISTORY, T, delete_newer=True))
    assert changes["new"].action == DELETE


def test_rolled_back_copy_with_the_same_content_counts_as_restored():
    history = HISTORY + [version("overwritten", "o3", LATER, etag="old")]
    history = [v if not (v.key == "overwritten" and v.version_id == "o2") else version("overwritten", "o2", AFTER, etag="new")
               for v in history]
    history = [v if not (v.key == "overwritten" and v.version_id == "o3") else version("overwritten", "o3", LATER, etag="old", latest=True)
               for v in history]
    assert "overwritten" not in by_key(plan_changes(history, T))


def test_plan_into_another_bucket_copies_what_is_missing_or_different():
    current = {"same": Current("same", "e", 10), "overwritten": Current("overwritten", "new", 10),
               "stray": Current("stray", "z", 1)}
    plan = plan_changes(HISTORY, T, current=current, delete_newer=True)
    changes = by_key(plan)
    assert changes["overwritten"].action == ROLL_BACK
    assert changes["deleted"].action == RESTORE and changes["overwritten-deleted"].action == RESTORE
    assert changes["stray"].action == DELETE
    assert "same" not in changes and "new" not in changes


def test_a_time_before_everything_means_nothing_existed():
    plan = plan_changes(HISTORY, BEFORE - timedelta(days=1), delete_newer=False)
    assert not plan.changes and sorted(plan.newer_kept) == ["new", "overwritten", "same"]


def test_a_restore_time_after_now_is_refused_before_s3_is_asked():
    with pytest.raises(ConfigurationError, match="restore_time 2026-11-23T04:05:00Z is in the future"):
        # No S3 client: the time is checked against the given clock before any call.
        s3_restore(None, AFTER, delete_newer=False, check_mode=True, diff=False, clock=lambda: T)  # type: ignore[arg-type]
