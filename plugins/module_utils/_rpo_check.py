# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How old each component's newest verified backup is on every site, against its RPO.

Input: the resolved plan (plan_validate, the plan role's plan_resolved) and,
per site, what backup_info returned for that site's repository. The ages come
from backup_info, which reads its repository's clock; nothing here asks for
the time. Output: one row per component and site, the rows over their RPO as
sentences naming component and site, and the Prometheus samples
(_metrics.METRICS) for the metrics file ("+Inf" as the age of a backup that
does not exist, a text that survives JSON on its way to the module).

Only postgresql, redis and files components have backups in the repository.
An rds component is checked from what rds_backup_info found in each site's
region (rds_points: component -> site -> result): the age of the newest
recovery point there (our snapshots and their copies, automated snapshots,
the latest restorable time of the instance). Without rds_points its row says
it is not checked here, and an s3 component's object versions never are:
such rows are never over.
"""

from __future__ import annotations

import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._plan.parts import REPOSITORY_KINDS

NOT_CHECKED = {
    "rds": "not checked here: give the rds_backup_info result of each site's region (rpo_check reads them)",
    "s3": "no backup age: S3 object versioning keeps every version as it is written",
}


def _newest_verified_size(info: t.Mapping[str, t.Any], component: str, backup_id: str | None) -> int | None:
    for backup in info.get("backups") or []:
        if backup.get("component") == component and backup.get("backup_id") == backup_id:
            return backup.get("size")
    return None


POINT_KINDS = {"snapshot": "snapshot", "automated_snapshot": "automated snapshot", "point_in_time": "latest restorable time of"}


def _rds_rows(name: str, rpo: int | None, sites: t.Mapping[str, t.Mapping[str, t.Any]]) -> list[dict[str, t.Any]]:
    """One row per site from rds_backup_info's result for that site's region."""
    rows = []
    for site, found in sites.items():
        newest = found.get("newest") or None
        region = found.get("region")
        row: dict[str, t.Any] = {"component": name, "site": site, "kind": "rds", "checked": True, "backup_id": None,
                                 "age_s": None, "rpo_s": rpo, "over": False, "note": ""}
        if newest is None:
            row["over"] = True
            row["note"] = (f"no available DB snapshot in {region} carries the tags "
                           + ", ".join(f"{key}={value}" for key, value in sorted((found.get("tags") or {}).items()))
                           + (" and the instance has no restore point there" if found.get("instance_found") else ""))
        else:
            row["backup_id"], row["age_s"] = newest.get("identifier"), newest.get("age_s")
            what = f"{POINT_KINDS.get(newest.get('kind'), newest.get('kind'))} {row['backup_id']} in {region}"
            if rpo is not None and row["age_s"] > rpo:
                row["over"] = True
                row["note"] = f"{what} is {row['age_s']} s old, over the RPO of {rpo} s"
            else:
                row["note"] = f"{what} is {row['age_s']} s old" + (f", RPO {rpo} s" if rpo is not None else ", no RPO set")
        rows.append(row)
    return rows


def rpo_status(
    plan: t.Mapping[str, t.Any], infos: t.Mapping[str, t.Mapping[str, t.Any]],
    rds_points: t.Mapping[str, t.Mapping[str, t.Mapping[str, t.Any]]] | None = None,
) -> dict[str, t.Any]:
    """rows (component, site, kind, checked, backup_id, age_s, rpo_s, over, note), over (sentences), samples."""
    rows: list[dict[str, t.Any]] = []
    samples: list[dict[str, t.Any]] = []
    serving = plan.get("site")
    for name, component in (plan.get("components") or {}).items():
        kind = component.get("kind")
        rpo = component.get("rpo_seconds")
        if rpo is not None:
            samples.append({"metric": "resilience_dr_rpo_target_seconds", "labels": {"component": name}, "value": rpo})
        if kind == "rds" and rds_points and name in rds_points:
            for row in _rds_rows(name, rpo, rds_points[name]):
                rows.append(row)
                samples.append({"metric": "resilience_dr_backup_age_seconds",
                                "labels": {"component": name, "site": row["site"]},
                                "value": row["age_s"] if row["backup_id"] is not None else "+Inf"})
            continue
        if kind not in REPOSITORY_KINDS:
            rows.append({"component": name, "site": None, "kind": kind, "checked": False, "backup_id": None,
                         "age_s": None, "rpo_s": rpo, "over": False, "note": NOT_CHECKED.get(kind, "not checked here")})
            continue
        for site, info in infos.items():
            summary = (info.get("components") or {}).get(name) or {}
            backup_id = summary.get("newest_verified_backup_id")
            age = summary.get("newest_verified_age_s")
            row = {"component": name, "site": site, "kind": kind, "checked": True, "backup_id": backup_id,
                   "age_s": age, "rpo_s": rpo, "over": False, "note": ""}
            if backup_id is None:
                row["over"] = True
                usable = summary.get("usable") or 0
                row["note"] = (f"no verified backup in {info.get('repository')}"
                               + (f" ({usable} complete but unverified: run backup_verify)" if usable else ""))
            elif rpo is not None and age > rpo:
                row["over"] = True
                row["note"] = f"backup {backup_id} is {age} s old, over the RPO of {rpo} s"
            else:
                row["note"] = f"backup {backup_id} is {age} s old" + (f", RPO {rpo} s" if rpo is not None else ", no RPO set")
            if summary.get("newest_copied_from"):
                row["note"] += f" (a copy from {summary['newest_copied_from']})"
            rows.append(row)
            samples.append({"metric": "resilience_dr_backup_age_seconds", "labels": {"component": name, "site": site},
                            "value": age if backup_id is not None else "+Inf"})
            if site == serving and backup_id is not None:
                size = _newest_verified_size(info, name, backup_id)
                if size is not None:
                    samples.append({"metric": "resilience_dr_backup_size_bytes", "labels": {"component": name}, "value": size})
    over = [f"{row['component']} at site {row['site']}: {row['note']}" for row in rows if row["over"]]
    return {"rows": rows, "over": over, "samples": samples}
