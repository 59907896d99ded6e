# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each site's repository and copies, its warm standbys, and where its rds components come from."""

from __future__ import annotations

import copy

from ansible_collections.resilience.dr.plugins.module_utils._plan.resolve import resolve
from ansible_collections.resilience.dr.plugins.module_utils._plan.validate import validate
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._plan.helpers import PLAN, plan


def test_each_site_has_its_repository_and_copies_to_the_others():
    primary = resolve(PLAN, "primary")
    assert primary["repository"] == {"repository": "s3://acme-dr/prod", "region": "eu-west-1", "encryption_recipients": ["age1example"]}
    assert primary["repositories"]["secondary"]["repository"] == "s3://acme-dr-west/prod"
    assert primary["copy_to"] == ["secondary"]
    assert resolve(PLAN, "secondary")["copy_to"] == ["primary"]
    assert primary["warnings"] == []


def test_one_repository_for_every_site_is_refused_unless_accepted_with_a_reason():
    shared = plan()
    shared["sites"]["secondary"].pop("repository")
    problems = validate(shared)
    assert any("every site keeps its backups in one repository" in problem for problem in problems)
    shared["single_repository"] = "accepted"
    assert any("needs single_repository_reason" in problem for problem in validate(shared))
    shared["single_repository_reason"] = "both sites share a replicated object store"
    assert validate(shared) == []
    resolved = resolve(shared, "secondary")
    assert resolved["copy_to"] == []
    assert resolved["warnings"] == [
        "every site keeps its backups in one repository (single_repository: accepted, because: both sites share a replicated object store)"
    ]


def test_the_same_bucket_in_another_region_or_endpoint_is_another_place():
    moved = plan()
    moved["sites"]["secondary"]["repository"] = {"region": "eu-west-2"}
    assert validate(moved) == []
    assert resolve(moved)["copy_to"] == ["secondary"]
    local = plan(repository={"location": "/srv/backups/"})
    local["sites"]["secondary"]["repository"] = {"location": "/srv/backups"}
    assert any("one repository" in problem for problem in validate(local))


def test_unknown_repository_keys_are_named():
    typo = plan()
    typo["repository"]["encryption_recipient"] = ["age1example"]
    typo["sites"]["secondary"]["repository"]["lock_timout"] = 5
    problems = validate(typo)
    assert any(problem.startswith("dr_plan.repository has unknown key(s) encryption_recipient;") for problem in problems)
    assert any(problem.startswith("site secondary repository has unknown key(s) lock_timout;") for problem in problems)


def test_a_site_without_any_location_is_named():
    lost = plan(repository={"region": "eu-west-1"})
    assert any("no location for site(s) primary" in problem for problem in validate(lost))


def test_repository_components_need_a_repository():
    assert any(problem.startswith("dr_plan.repository.location is required: postgresql, redis and files components back up into it")
               for problem in validate(plan(repository={})))


def plan_with_rds(**ledger_backup):
    """The example plan with an rds component in eu-west-1, its secondary site in eu-central-1 and a third site."""
    copied = copy.deepcopy(PLAN)
    copied["components"].append({
        "name": "ledger", "kind": "rds",
        "connection": {"db_instance_identifier": "ledger", "region": "eu-west-1"},
        "restore": {"source_db_instance_identifier": "ledger-prod"},
        "backup": {"method": "snapshot", **ledger_backup},
    })
    copied["sites"]["secondary"]["components"]["ledger"] = {
        "connection": {"region": "eu-central-1", "endpoint_url": "https://rds.eu-central-1.example"},
        "backup": {"kms_key_id": "arn:aws:kms:eu-central-1:111122223333:key/dr"},
    }
    copied["sites"]["standby"] = {"address": "203.0.113.30"}  # same region as the primary: no copy
    return copied


def test_an_rds_backup_copies_to_every_site_in_another_region_with_that_sites_key():
    primary = resolve(plan_with_rds(), "primary")["components"]["ledger"]
    assert primary["copies"] == [{
        "site": "secondary", "region": "eu-central-1", "endpoint_url": "https://rds.eu-central-1.example",
        "kms_key_id": "arn:aws:kms:eu-central-1:111122223333:key/dr",
        "replicate_automated_backups": False, "replication_retention_days": None,
    }]
    assert primary["restore"]["source"] == "point_in_time"
    # Backing up from the secondary copies back to the primary's region (and the standby's, the same one).
    secondary = resolve(plan_with_rds(), "secondary")["components"]["ledger"]
    assert [(copy_["site"], copy_["region"], copy_["endpoint_url"], copy_["kms_key_id"]) for copy_ in secondary["copies"]] == [
        ("primary", "eu-west-1", None, None), ("standby", "eu-west-1", None, None)]


def test_a_key_for_every_region_can_be_given_once_as_an_alias():
    resolved = resolve(plan_with_rds(kms_key_id="alias/dr-backups"), "primary")["components"]["ledger"]
    assert resolved["copies"][0]["kms_key_id"] == "arn:aws:kms:eu-central-1:111122223333:key/dr"  # the site's own wins
    changed = plan_with_rds(kms_key_id="alias/dr-backups")
    del changed["sites"]["secondary"]["components"]["ledger"]["backup"]
    assert resolve(changed, "primary")["components"]["ledger"]["copies"][0]["kms_key_id"] == "alias/dr-backups"


def test_a_site_away_from_the_primary_region_restores_rds_from_a_snapshot():
    assert resolve(plan_with_rds(), "secondary")["components"]["ledger"]["restore"]["source"] == "snapshot"
    assert resolve(plan_with_rds(), "standby")["components"]["ledger"]["restore"]["source"] == "point_in_time"
    forced = plan_with_rds()
    forced["components"][-1]["restore"]["source"] = "snapshot"
    assert resolve(forced, "primary")["components"]["ledger"]["restore"]["source"] == "snapshot"
    # Other kinds get neither key.
    assert "copies" not in resolve(plan_with_rds(), "primary")["components"]["orders-db"]


def test_rds_restore_source_and_kms_key_are_checked_on_every_site():
    broken = plan_with_rds()
    broken["components"][-1]["restore"]["source"] = "latest"
    broken["sites"]["secondary"]["components"]["ledger"]["backup"]["kms_key_id"] = ""
    problems = validate(broken)
    assert "component ledger has restore.source 'latest'; use one of point_in_time, snapshot, automated_backup_replica, replica" in problems
    assert any(problem.startswith("site secondary component ledger has backup.kms_key_id ''") for problem in problems)


def plan_with_replica(**secondary):
    """The secondary restores ledger from the primary's automated backups replicated into eu-central-1."""
    replicated = plan_with_rds()
    replicated["sites"]["secondary"]["components"]["ledger"]["restore"] = {"source": "automated_backup_replica"}
    replicated["sites"]["secondary"]["components"]["ledger"]["backup"]["replication_retention_days"] = 7
    for key, value in secondary.items():
        replicated["sites"]["secondary"]["components"]["ledger"][key] = value
    return replicated


def test_a_site_restoring_from_replicated_automated_backups_gets_them_replicated_by_the_backup():
    replicated = plan_with_replica()
    assert validate(replicated) == []
    copies = resolve(replicated, "primary")["components"]["ledger"]["copies"]
    assert [(item["site"], item["replicate_automated_backups"], item["replication_retention_days"]) for item in copies] == [
        ("secondary", True, 7)]
    secondary = resolve(replicated, "secondary")["components"]["ledger"]
    # The instance the backup role backs up on the primary (its restore.source_db_instance_identifier).
    assert secondary["restore"] == {"source": "automated_backup_replica", "source_db_instance_identifier": "ledger-prod"}
    # Without one, the primary's instance itself.
    del replicated["components"][-1]["restore"]
    assert resolve(replicated, "secondary")["components"]["ledger"]["restore"]["source_db_instance_identifier"] == "ledger"


def test_replicated_automated_backups_in_the_primary_region_are_refused():
    everywhere = plan_with_rds()
    everywhere["components"][-1]["restore"]["source"] = "automated_backup_replica"
    problems = validate(everywhere)
    assert ("site primary component ledger has restore.source automated_backup_replica, but the site is in the "
            "primary's region eu-west-1, where no backups are replicated: use restore.source point_in_time there") in problems
    assert any(problem.startswith("site standby component ledger has restore.source automated_backup_replica") for problem in problems)
    assert not any(problem.startswith("site secondary") for problem in problems)


def test_replicated_automated_backups_need_sites_an_instance_and_a_retention_rds_accepts():
    alone = plan_with_rds()
    alone["components"][-1]["restore"]["source"] = "automated_backup_replica"
    del alone["sites"]
    assert any("but the plan has no sites" in problem for problem in validate(alone))
    cluster = plan_with_replica(connection={"region": "eu-central-1", "db_cluster_identifier": "ledger-cluster"})
    assert any(problem.startswith("site secondary component ledger is an Aurora cluster: restore.source "
                                  "automated_backup_replica restores an instance") for problem in validate(cluster))
    too_long = plan_with_replica()
    too_long["sites"]["secondary"]["components"]["ledger"]["backup"]["replication_retention_days"] = 36
    assert ("site secondary component ledger has backup.replication_retention_days 36; give whole days from 1 to 35"
            in validate(too_long))


def plan_with_standby(**secondary_restore):
    cluster = {"name": "orders-cluster", "kind": "postgresql", "connection": {"login_host": "db1"},
               "backup": {"method": "physical", "stanza": "main"},
               "restore": {"data_dir": "/var/lib/postgresql/15/main", "port": 5432}}
    copied = plan(components=[*PLAN["components"], cluster])
    copied["sites"]["secondary"].setdefault("components", {})["orders-cluster"] = {
        "restore": {"data_dir": "/var/lib/postgresql/15/standby", "port": 5433, **secondary_restore}}
    return copied


def test_a_backup_keeps_the_warm_standby_of_another_site_only():
    standby = plan_with_standby(standby=True)
    assert validate(standby) == []
    assert resolve(standby, "primary")["standbys"] == [{"site": "secondary", "component": "orders-cluster"}]
    # The secondary keeps no standby of itself; a backup taken there has none to keep.
    assert resolve(standby, "secondary")["standbys"] == []
    assert resolve(standby, "secondary")["components"]["orders-cluster"]["restore"]["standby"] is True
    assert resolve(plan_with_standby(), "primary")["standbys"] == []


def test_a_standby_needs_a_physical_postgresql_component_with_a_data_directory_and_a_port():
    assert validate(plan_with_standby(standby=True, port=None)) == [
        "component orders-cluster has restore.standby on site secondary without restore.port: "
        "say where the standby runs there"]
    assert "write true or false" in validate(plan_with_standby(standby="yes"))[0]
    logical = plan_with_standby(standby=True)
    logical["components"][-1]["backup"] = {"method": "logical"}
    assert validate(logical) == [
        "component orders-cluster has restore.standby on site secondary, but only a physical PostgreSQL "
        "component (backup.method: physical, pgBackRest) can have a warm standby"]
