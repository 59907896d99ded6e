# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._rpo_check import rpo_status

PLAN = {
    "site": "primary",
    "components": {
        "orders-db": {"kind": "postgresql", "rpo_seconds": 900},
        "sessions": {"kind": "redis", "rpo_seconds": 3600},
        "billing-rds": {"kind": "rds", "rpo_seconds": 300},
        "uploads-bucket": {"kind": "s3", "rpo_seconds": None},
    },
}


def info(repository, **components):
    summaries, backups = {}, []
    for name, (backup_id, age, size) in components.items():
        summaries[name] = {"usable": 1, "newest_verified_backup_id": backup_id, "newest_verified_age_s": age}
        backups.append({"component": name, "backup_id": backup_id, "size": size})
    return {"repository": repository, "components": summaries, "backups": backups}


def test_every_component_within_its_rpo_on_every_site_is_not_over():
    status = rpo_status(PLAN, {
        "primary": info("/b/primary", **{"orders-db": ("b1", 100, 2048), "sessions": ("r1", 50, 512)}),
        "secondary": info("/b/secondary", **{"orders-db": ("b1", 899, 2048), "sessions": ("r1", 3600, 512)}),
    })
    assert status["over"] == []
    checked = [(row["component"], row["site"], row["age_s"]) for row in status["rows"] if row["checked"]]
    assert checked == [("orders-db", "primary", 100), ("orders-db", "secondary", 899),
                       ("sessions", "primary", 50), ("sessions", "secondary", 3600)]


def test_an_old_backup_is_over_naming_component_site_and_ages():
    status = rpo_status(PLAN, {
        "primary": info("/b/primary", **{"orders-db": ("b1", 100, 1), "sessions": ("r1", 50, 1)}),
        "secondary": info("/b/secondary", **{"orders-db": ("b0", 901, 1), "sessions": ("r1", 50, 1)}),
    })
    assert status["over"] == ["orders-db at site secondary: backup b0 is 901 s old, over the RPO of 900 s"]


def test_no_verified_backup_counts_as_over_and_as_infinite_age():
    unverified = {"repository": "/b/secondary", "backups": [],
                  "components": {"orders-db": {"usable": 2, "newest_verified_backup_id": None, "newest_verified_age_s": None}}}
    status = rpo_status(PLAN, {"primary": info("/b/primary", **{"orders-db": ("b1", 10, 1), "sessions": ("r1", 5, 1)}),
                               "secondary": unverified})
    assert status["over"] == [
        "orders-db at site secondary: no verified backup in /b/secondary (2 complete but unverified: run backup_verify)",
        "sessions at site secondary: no verified backup in /b/secondary",
    ]
    ages = {(s["labels"]["component"], s["labels"]["site"]): s["value"]
            for s in status["samples"] if s["metric"] == "resilience_dr_backup_age_seconds"}
    assert ages[("orders-db", "secondary")] == "+Inf" and ages[("orders-db", "primary")] == 10


def test_rds_and_s3_are_reported_as_not_checked_and_never_over():
    status = rpo_status(PLAN, {"primary": info("/b/primary", **{"orders-db": ("b1", 10, 1), "sessions": ("r1", 5, 1)})})
    unchecked = {row["component"]: row for row in status["rows"] if not row["checked"]}
    assert set(unchecked) == {"billing-rds", "uploads-bucket"}
    assert unchecked["billing-rds"]["note"].startswith("not checked here") and not unchecked["billing-rds"]["over"]
    assert unchecked["uploads-bucket"]["note"].startswith("no backup age")


def test_metrics_carry_targets_and_the_serving_sites_backup_sizes():
    status = rpo_status(PLAN, {
        "primary": info("/b/primary", **{"orders-db": ("b1", 10, 2048), "sessions": ("r1", 5, 512)}),
        "secondary": info("/b/secondary", **{"orders-db": ("b1", 20, 4096), "sessions": ("r1", 5, 999)}),
    })
    by_metric = {}
    for sample in status["samples"]:
        by_metric.setdefault(sample["metric"], {})[tuple(sorted(sample["labels"].values()))] = sample["value"]
    assert by_metric["resilience_dr_rpo_target_seconds"] == {("orders-db",): 900, ("sessions",): 3600, ("billing-rds",): 300}
    assert by_metric["resilience_dr_backup_size_bytes"] == {("orders-db",): 2048, ("sessions",): 512}


def rds_point(region, kind="snapshot", identifier="billing-rds-20261123t040000z", age=120, instance_found=False):
    newest = None if kind is None else {"kind": kind, "identifier": identifier, "time": "2026-11-23T04:00:00Z", "age_s": age}
    return {"region": region, "newest": newest, "instance_found": instance_found,
            "tags": {"resilience-dr-plan": "shopfront", "resilience-dr-component": "billing-rds"}}


REPOSITORIES = {"primary": info("/b/primary", **{"orders-db": ("b1", 10, 1), "sessions": ("r1", 5, 1)}),
                "secondary": info("/b/secondary", **{"orders-db": ("b1", 10, 1), "sessions": ("r1", 5, 1)})}


def test_rds_is_checked_on_every_site_from_the_newest_recovery_point_of_its_region():
    status = rpo_status(PLAN, REPOSITORIES, {"billing-rds": {
        "primary": rds_point("us-east-1", "point_in_time", "billing-rds", 240),
        "secondary": rds_point("us-west-2", age=299),
    }})
    assert status["over"] == []
    rows = {row["site"]: row for row in status["rows"] if row["component"] == "billing-rds"}
    assert rows["primary"]["note"] == "latest restorable time of billing-rds in us-east-1 is 240 s old, RPO 300 s"
    assert rows["secondary"]["checked"] and rows["secondary"]["backup_id"] == "billing-rds-20261123t040000z"
    ages = {(s["labels"]["component"], s["labels"]["site"]): s["value"]
            for s in status["samples"] if s["metric"] == "resilience_dr_backup_age_seconds"}
    assert ages[("billing-rds", "primary")] == 240 and ages[("billing-rds", "secondary")] == 299


def test_an_old_rds_snapshot_or_none_at_all_is_over_naming_component_site_and_region():
    status = rpo_status(PLAN, REPOSITORIES, {"billing-rds": {
        "primary": rds_point("us-east-1", age=301),
        "secondary": rds_point("us-west-2", kind=None),
    }})
    assert status["over"] == [
        "billing-rds at site primary: snapshot billing-rds-20261123t040000z in us-east-1 is 301 s old, over the RPO of 300 s",
        "billing-rds at site secondary: no available DB snapshot in us-west-2 carries the tags "
        "resilience-dr-component=billing-rds, resilience-dr-plan=shopfront",
    ]
    ages = {(s["labels"]["component"], s["labels"]["site"]): s["value"]
            for s in status["samples"] if s["metric"] == "resilience_dr_backup_age_seconds"}
    assert ages[("billing-rds", "secondary")] == "+Inf"
