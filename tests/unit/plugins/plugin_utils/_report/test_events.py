# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Component, source and DNS events recognised by the shape of a result."""

from __future__ import annotations


from ansible_collections.resilience.dr.plugins.plugin_utils._report.events import component_events


def test_component_result_shapes():
    restore = component_events("resilience.dr.redis_restore", {
        "changed": True, "component": "sessions", "backup_id": "b1", "consistency_point": {"time": "2026-11-23T04:00:00Z"},
        "verified": True, "duration_s": 3.5,
    })
    assert restore == [{"kind": "restore", "component": "sessions", "backup_id": "b1",
                        "consistency_time": "2026-11-23T04:00:00Z", "verified": True, "changed": True, "duration_s": 3.5}]
    assert component_events("resilience.dr.pg_backup", {"component": "a", "backup_id": "b"})[0]["kind"] == "backup"
    assert component_events("resilience.dr.rds_snapshot", {"component": "a", "backup_id": "b"})[0]["kind"] == "backup"
    assert component_events("ansible.builtin.set_fact", {"ansible_facts": {"component": "a"}}) == []
    assert component_events("ansible.builtin.debug", {"msg": "hello"}) == []
    dns = component_events("resilience.dr.dns_failover", {"changed": False, "previous": None, "new": {"values": ["x"]}})
    assert dns[0]["kind"] == "dns_failover" and dns[0]["changed"] is False


def test_an_rds_restore_from_a_copied_snapshot_is_named_as_its_source():
    [source] = [event for event in component_events("resilience.dr.rds_restore", {
        "changed": True, "component": "billing-db", "backup_id": "billing-db-20261123t040000z",
        "snapshot": {"db_snapshot_identifier": "billing-db-20261123t040000z", "region": "us-west-2", "age_s": 5400.0,
                     "source_region": "us-east-1", "snapshot_create_time": "2026-11-23T04:10:00Z"},
    }) if event["kind"] == "source"]
    assert source["source"]["repository"] == "RDS snapshots in us-west-2"
    assert source["source"]["copied_from"] == "us-east-1" and source["source"]["age_s"] == 5400.0
