# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Replaced IAM access keys: deleted after their grace period, counted from their replacement; IAM's two-key limit."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._iam_keys import expired_keys, room_for_new_key

# A fixed clock: every time below is relative to it.
NOW = datetime(2031, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def key(key_id, status, days_ago):
    return {"access_key_id": key_id, "status": status, "create_date": (NOW - timedelta(days=days_ago)).isoformat()}


def test_a_replaced_key_is_kept_for_the_grace_period_counted_from_its_replacement():
    keys = [key("OLD", "Inactive", 100), key("NEW", "Active", 3)]
    assert expired_keys(keys, "7d", NOW.isoformat()) == [], "replaced 3 days ago: 4 days of grace left"
    assert expired_keys(keys, "7d", (NOW + timedelta(days=4)).isoformat()) == ["OLD"]
    assert expired_keys(keys, "0s", NOW.isoformat()) == ["OLD"], "a grace of 0 deletes it in the same run"


def test_active_keys_are_never_expired():
    assert expired_keys([key("A", "Active", 400), key("B", "Active", 1)], 0, NOW) == []


def test_an_inactive_key_without_a_replacement_counts_from_its_creation():
    assert expired_keys([key("LONE", "Inactive", 8)], "7d", NOW.isoformat()) == ["LONE"]
    assert expired_keys([key("LONE", "Inactive", 6)], "7d", NOW.isoformat()) == []


def test_room_for_a_new_key_deletes_the_oldest_inactive_key():
    keys = [key("OLD", "Inactive", 9), key("CURRENT", "Active", 2)]
    assert room_for_new_key(keys, [], "deployer") == ["OLD"]
    assert room_for_new_key(keys, ["OLD"], "deployer") == []
    assert room_for_new_key([key("CURRENT", "Active", 2)], [], "deployer") == []


def test_two_active_keys_stop_the_rotation_naming_the_user():
    with pytest.raises(ConfigurationError, match="IAM user deployer has 2 active access keys"):
        room_for_new_key([key("A", "Active", 9), key("B", "Active", 2)], [], "deployer")
