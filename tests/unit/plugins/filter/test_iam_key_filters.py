# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The IAM key filters: the keys to delete, and errors a playbook can read."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.resilience.dr.plugins.filter.iam_keys_expired import iam_keys_expired
from ansible_collections.resilience.dr.plugins.filter.iam_keys_to_make_room import iam_keys_to_make_room

# A fixed clock; the keys' times are written relative to it.
NOW = "2031-02-03T04:05:06+00:00"
KEYS = [{"access_key_id": "OLD", "status": "Inactive", "create_date": "2031-01-01T00:00:00+00:00"},
        {"access_key_id": "NEW", "status": "Active", "create_date": "2031-02-03T03:05:06+00:00"}]


def test_the_replaced_key_goes_once_its_grace_is_over():
    assert iam_keys_expired(KEYS, "2h", NOW) == []
    assert iam_keys_expired(KEYS, "1h", NOW) == ["OLD"]


def test_a_bad_grace_or_clock_is_an_error_naming_it():
    with pytest.raises(AnsibleFilterError, match="iam_key_grace 'soon' is not a duration"):
        iam_keys_expired(KEYS, "soon", NOW)
    with pytest.raises(AnsibleFilterError, match="now 'yesterday' is not an ISO 8601 time"):
        iam_keys_expired(KEYS, "1h", "yesterday")


def test_room_is_made_from_inactive_keys_only():
    assert iam_keys_to_make_room(KEYS, [], "deployer") == ["OLD"]
    both_active = [dict(key, status="Active") for key in KEYS]
    with pytest.raises(AnsibleFilterError, match="IAM user deployer has 2 active access keys"):
        iam_keys_to_make_room(both_active, [], "deployer")
