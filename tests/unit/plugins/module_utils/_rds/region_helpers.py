# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One region's snapshots of the plan's component and of others, and its instances, for retention and
recovery points; deletions are recorded."""

from __future__ import annotations

import typing as t
from datetime import timedelta

from botocore.exceptions import ClientError

from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._rds.helpers import NOW


OURS = {"resilience-dr-plan": "shopfront", "resilience-dr-component": "orders-db"}


class FakeRds:
    """One region's snapshots and instances; records the deletions."""

    def __init__(self, snapshots: list[dict[str, t.Any]], instances: dict[str, dict[str, t.Any]] | None = None) -> None:
        self.snapshots = {item["DBSnapshotIdentifier"]: item for item in snapshots}
        self.instances = instances or {}
        self.deleted: list[str] = []

    def describe_db_snapshots(self, aws_retry: bool = False, **kwargs: t.Any) -> dict[str, t.Any]:
        return {"DBSnapshots": [dict(item) for item in self.snapshots.values()]}

    def describe_db_instances(self, aws_retry: bool = False, **kwargs: t.Any) -> dict[str, t.Any]:
        identifier = kwargs["DBInstanceIdentifier"]
        if identifier not in self.instances:
            raise ClientError({"Error": {"Code": "DBInstanceNotFound", "Message": "none"}}, "DescribeDBInstances")
        return {"DBInstances": [dict(self.instances[identifier])]}

    def delete_db_snapshot(self, aws_retry: bool = False, **kwargs: t.Any) -> dict[str, t.Any]:
        self.deleted.append(kwargs["DBSnapshotIdentifier"])
        self.snapshots.pop(kwargs["DBSnapshotIdentifier"])
        return {}


def snap(identifier: str, age: timedelta, *, tags: dict[str, str] | None = None, kind: str = "manual",
         status: str = "available", copied: timedelta | None = None, of: str = "orders-db") -> dict[str, t.Any]:
    taken = NOW - age
    return {
        "DBSnapshotIdentifier": identifier, "DBInstanceIdentifier": of, "SnapshotType": kind, "Status": status,
        "SnapshotCreateTime": NOW - copied if copied is not None else taken,
        "OriginalSnapshotCreateTime": taken,
        "TagList": [{"Key": key, "Value": value} for key, value in (OURS if tags is None else tags).items()],
    }


def region(snapshots: list[dict[str, t.Any]], instances: dict[str, dict[str, t.Any]] | None = None) -> tuple[FakeRds, Rds]:
    fake = FakeRds(snapshots, instances)
    return fake, Rds(fake, "us-east-1", "(iam hint)")
