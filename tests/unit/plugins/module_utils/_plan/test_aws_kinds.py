# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Aurora (an rds component naming a cluster) and ElastiCache components in a plan: what is accepted, what is refused."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import PlanError, validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import plan

AURORA = {
    "name": "ledger", "kind": "rds", "host": "localhost", "backup": {"method": "snapshot"},
    "connection": {"region": "us-east-1", "db_cluster_identifier": "ledger-restored"},
    "restore": {"source_db_cluster_identifier": "ledger", "db_instance_class": "db.r6g.large"},
}
CACHE = {
    "name": "carts", "kind": "elasticache", "host": "localhost", "backup": {"method": "snapshot"},
    "connection": {"region": "us-east-1", "replication_group_id": "carts"},
    "restore": {"target_id": "carts-restored"},
}


def with_components(*components):
    made = plan()
    made["components"] = made["components"] + [dict(component) for component in components]
    return made


def problems_of(made) -> list[str]:
    with pytest.raises(PlanError) as failure:
        resolve(made)
    return failure.value.details["problems"]


def test_an_aurora_cluster_and_an_elasticache_group_are_valid_components():
    made = with_components(AURORA, CACHE)
    assert validate(made) == []
    resolved = resolve(made)
    assert resolved["components"]["carts"]["kind"] == "elasticache"
    assert resolved["components"]["ledger"]["connection"]["db_cluster_identifier"] == "ledger-restored"


def test_an_aurora_component_without_its_instance_class_or_source_is_refused():
    broken = dict(AURORA, restore={"source_db_instance_identifier": "ledger"})
    assert problems_of(with_components(broken)) == [
        "component ledger is an Aurora cluster (connection.db_cluster_identifier): write its source as "
        "restore.source_db_cluster_identifier, not restore.source_db_instance_identifier",
        "component ledger is an Aurora cluster restored to a point in time: give restore.source_db_cluster_identifier, "
        "the cluster whose backups are restored",
        "component ledger is an Aurora cluster: give restore.db_instance_class, the class of the instances created in "
        "the restored cluster (a cluster without one answers no query)",
    ]


def test_an_rds_component_naming_an_instance_and_a_cluster_is_refused():
    broken = dict(AURORA, connection={"db_cluster_identifier": "ledger", "db_instance_identifier": "ledger-1"})
    assert problems_of(with_components(broken)) == [
        "component ledger has both connection.db_instance_identifier and connection.db_cluster_identifier; give "
        "db_cluster_identifier for an Aurora cluster, db_instance_identifier for an instance",
    ]


def test_an_elasticache_component_needs_its_source_and_a_new_target():
    broken = dict(CACHE, connection={"region": "us-east-1"}, restore={"target": "cluster"})
    same = dict(CACHE, name="carts2", restore={"target_id": "carts"})
    assert problems_of(with_components(broken, same)) == [
        "component carts (elasticache) needs exactly one of connection.replication_group_id and "
        "connection.cache_cluster_id, the group or cluster whose snapshots are taken",
        "component carts (elasticache) has no restore.target_id: ElastiCache restores a snapshot only into a new "
        "replication group or cache cluster; name it (and point the application at it)",
        "component carts (elasticache) has restore.target 'cluster'; use one of replication_group, cache_cluster",
        "component carts2 (elasticache) has restore.target_id 'carts', the group backed up; a restore makes a new "
        "one: give it another name",
    ]


def test_a_site_override_is_checked_as_that_site_sees_the_component():
    made = with_components(CACHE)
    made["sites"]["secondary"].setdefault("components", {})["carts"] = {"restore": {"target_id": None}}
    assert problems_of(made) == [
        "site secondary component carts (elasticache) has no restore.target_id: ElastiCache restores a snapshot only "
        "into a new replication group or cache cluster; name it (and point the application at it)",
    ]
