# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Dependency cycles, restore batches, and the steps whose components are restored at the same time."""

from __future__ import annotations


from ansible_collections.resilience.dr.plugins.module_utils._plan.graph import (
    batches, find_cycle, restore_steps, restore_target, targets_overlap,
)


def test_find_cycle_and_batches():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert batches({"a": [], "b": ["a"], "c": [], "d": ["b", "c"]}, ["a", "b", "c", "d"]) == [["a", "c"], ["b"], ["d"]]


def _component(name, kind, connection, **extra):
    return {"name": name, "kind": kind, "host": "localhost", "connection": connection, **extra}


def test_restore_steps_never_put_one_target_twice_in_a_step():
    components = {
        "orders-db": _component("orders-db", "postgresql", {"login_host": "db1", "login_port": 5432, "db": "orders"}),
        "billing-db": _component("billing-db", "postgresql", {"login_host": "db1", "login_port": 5432, "db": "billing"}),
        "reports-db": _component("reports-db", "postgresql", {"login_host": "db2", "login_port": 5432, "db": "reports"}),
        "uploads": _component("uploads", "files", {"path": "/srv/app/uploads"}),
        "media": _component("media", "files", {"path": "/srv/app/uploads/media/"}),
        "sessions": _component("sessions", "redis", {"login_host": "cache1"}),
        "queue": _component("queue", "redis", {"login_host": "cache1", "login_port": 6379}),
    }
    batch = list(components)
    assert restore_steps([batch], components) == [
        ["orders-db", "reports-db", "uploads", "sessions"],
        ["billing-db", "media", "queue"],
    ]


def test_restore_steps_keep_batch_order_and_honour_parallel_false():
    components = {
        "a": _component("a", "postgresql", {"login_host": "db1"}),
        "b": _component("b", "redis", {"login_host": "cache1"}, restore={"parallel": False}),
        "c": _component("c", "files", {"path": "/srv/c"}),
        "d": _component("d", "files", {"path": "/srv/d"}),
    }
    assert restore_steps([["a", "b", "c"], ["d"]], components) == [["a", "c"], ["b"], ["d"]]


def test_restore_targets_of_other_kinds():
    s3 = _component("assets", "s3", {"bucket": "acme-assets"})
    s3_copy = _component("assets-copy", "s3", {"bucket": "other"}, restore={"target_bucket": "acme-assets"})
    assert targets_overlap(restore_target(s3), restore_target(s3_copy))
    rds = _component("ledger", "rds", {"db_instance_identifier": "ledger", "region": "eu-west-1"})
    assert not targets_overlap(restore_target(rds), restore_target(s3))
    other_host = _component("uploads", "files", {"path": "/srv/app/uploads"}, host="web2")
    assert not targets_overlap(restore_target(other_host), restore_target(_component("u", "files", {"path": "/srv/app"})))
