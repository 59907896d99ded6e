# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A write freeze records what it replaced on the server itself, and a thaw reads it back exactly."""

from __future__ import annotations

import json

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget
from ansible_collections.resilience.dr.plugins.module_utils._write_freeze import (
    PG_MARKER,
    REDIS_FREEZE_BASE,
    pg_state,
    redis_check_freezable,
    redis_frozen_settings,
)


@pytest.mark.parametrize("to_write", [0, 1, 3, 100])
@pytest.mark.parametrize("max_lag", [0, 1, 10, 3600])
def test_redis_frozen_settings_encode_the_previous_ones_for_the_thaw(to_write, max_lag):
    previous = {"min_replicas_to_write": to_write, "min_replicas_max_lag": max_lag}
    frozen = redis_frozen_settings(previous)
    assert frozen["min_replicas_to_write"] >= REDIS_FREEZE_BASE and frozen["min_replicas_max_lag"] > 0
    # What redis_state decodes from a frozen server.
    encoded = frozen["min_replicas_to_write"] - REDIS_FREEZE_BASE
    decoded = {"min_replicas_to_write": encoded // 2,
               "min_replicas_max_lag": 0 if encoded % 2 else frozen["min_replicas_max_lag"]}
    assert decoded == previous


def test_redis_freeze_refuses_a_replica_and_changes_nothing():
    state = {"role": "slave", "previous": {"min_replicas_to_write": 0, "min_replicas_max_lag": 10}}
    with pytest.raises(ConfigurationError, match="is a replica.*Nothing was changed"):
        redis_check_freezable(RedisTarget(port=6380), state)


def test_pg_state_reads_the_freeze_record_of_the_database():
    record = json.dumps({"previous": "off", "frozen_at": "2026-11-23T04:00:00.000000Z"})
    state = pg_state({"default_transaction_read_only": "on", PG_MARKER: record, "work_mem": "5MB"})
    assert state == {"frozen": True, "setting": "on", "previous": "off", "frozen_at": "2026-11-23T04:00:00.000000Z"}
    assert pg_state({"work_mem": "5MB"}) == {"frozen": False, "setting": None, "previous": None, "frozen_at": None}


def test_pg_state_refuses_a_record_it_did_not_write():
    with pytest.raises(ConfigurationError, match="not the record of a write freeze"):
        pg_state({PG_MARKER: "yes"})
