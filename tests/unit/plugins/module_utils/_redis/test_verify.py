# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verification without a server: value digests, and a server's key counts and samples checked against what a
backup recorded."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._redis import verify
from ansible_collections.resilience.dr.plugins.module_utils._redis.client import RedisTarget


def test_digest_does_not_depend_on_the_order_redis_returns_members_in():
    assert verify.canonical_digest("hash", {b"a": b"1", b"b": b"2"}) == verify.canonical_digest("hash", {b"b": b"2", b"a": b"1"})
    assert verify.canonical_digest("set", {b"x", b"y"}) == verify.canonical_digest("set", {b"y", b"x"})


def test_digest_tells_types_values_and_framing_apart():
    digests = {
        verify.canonical_digest("string", b"ab"),
        verify.canonical_digest("list", [b"ab"]),
        verify.canonical_digest("list", [b"a", b"b"]),
        verify.canonical_digest("set", {b"ab"}),
        verify.canonical_digest("zset", [(b"ab", 1.0)]),
        verify.canonical_digest("zset", [(b"ab", 2.0)]),
        verify.canonical_digest("stream", [(b"1-0", {b"f": b"v"})]),
    }
    assert len(digests) == 7


VERIFICATION = {"databases": {
    "0": {"keys": 100, "expires": 10, "min_keys": 90, "max_keys": 100, "samples": {b"k1".hex(): "d1", b"k2".hex(): "d2"}},
}}


@pytest.fixture
def server_state(monkeypatch):
    """What the (fake) server holds: keyspace and digests."""
    state = {"keyspace": {0: {"keys": 100, "expires": 10}}, "digests": {b"k1": "d1", b"k2": "d2"}}
    monkeypatch.setattr(RedisTarget, "client", lambda self, db=0: None)
    monkeypatch.setattr(verify, "keyspace", lambda target, client: state["keyspace"])
    monkeypatch.setattr(verify, "key_digests",
                        lambda target, client, keys: {key: state["digests"].get(key) for key in keys})
    return state


def test_a_matching_server_passes(server_state):
    assert verify.check_against(RedisTarget(), VERIFICATION) == []
    server_state["keyspace"][0]["keys"] = 90  # keys with a TTL expired since
    assert verify.check_against(RedisTarget(), VERIFICATION) == []


def test_counts_samples_and_stray_databases_are_reported(server_state):
    server_state["keyspace"] = {0: {"keys": 89, "expires": 0}, 4: {"keys": 3, "expires": 0}}
    server_state["digests"] = {b"k1": "other"}
    problems = verify.check_against(RedisTarget(), VERIFICATION)
    assert problems == [
        "db0 holds 89 keys, the backup recorded 90 to 100",
        "db0: 2 of 2 sampled keys differ or are missing (k1, k2)",
        "db4 holds 3 keys, the backup recorded none",
    ]
    # Without exact (replace into a server with other keys) only the lower bound and samples count.
    server_state["keyspace"] = {0: {"keys": 500, "expires": 0}, 4: {"keys": 3, "expires": 0}}
    server_state["digests"] = {b"k1": "d1", b"k2": "d2"}
    assert verify.check_against(RedisTarget(), VERIFICATION, exact=False) == []
