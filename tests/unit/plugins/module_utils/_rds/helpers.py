# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A scripted RDS client of one region and the instances and snapshots it holds, written relative to
the tests' clock, never to the real date."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError

from ansible_collections.resilience.dr.plugins.module_utils._rds.api import Rds


NOW = datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)


def clock() -> datetime:
    """The tests' now: the data below is written relative to it, never to the real date."""
    return NOW


def client_error(code: str, message: str = "scripted") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Scripted")


class FakeRds:
    """An in-memory RDS of one region: instances and snapshots by identifier, every call recorded."""

    def __init__(self) -> None:
        self.instances: dict[str, dict[str, t.Any]] = {}
        self.snapshots: dict[str, dict[str, t.Any]] = {}
        self.automated: list[dict[str, t.Any]] = []
        self.calls: list[tuple[str, dict[str, t.Any]]] = []
        self.statuses: dict[str, list[str]] = {}  # scripted statuses of instances and snapshots, one per describe

    def _record(self, name: str, kwargs: dict[str, t.Any]) -> None:
        kwargs.pop("aws_retry", None)
        self.calls.append((name, kwargs))

    def describe_db_instances(self, **kwargs: t.Any) -> dict[str, t.Any]:
        self._record("describe_db_instances", kwargs)
        identifier = kwargs["DBInstanceIdentifier"]
        if identifier not in self.instances:
            raise client_error("DBInstanceNotFound")
        script = self.statuses.get(identifier)
        if script:
            self.instances[identifier]["DBInstanceStatus"] = script.pop(0)
        return {"DBInstances": [dict(self.instances[identifier])]}

    def describe_db_snapshots(self, **kwargs: t.Any) -> dict[str, t.Any]:
        self._record("describe_db_snapshots", kwargs)
        if "DBSnapshotIdentifier" not in kwargs:  # a listing, two snapshots a page
            names = sorted(self.snapshots)
            start = int(kwargs.get("Marker") or 0)
            page = {"DBSnapshots": [dict(self.snapshots[name]) for name in names[start:start + 2]]}
            if start + 2 < len(names):
                page["Marker"] = str(start + 2)
            return page
        identifier = kwargs["DBSnapshotIdentifier"]
        if identifier not in self.snapshots:
            raise client_error("DBSnapshotNotFound")
        script = self.statuses.get(identifier)
        if script:
            self.snapshots[identifier]["Status"] = script.pop(0)
        return {"DBSnapshots": [dict(self.snapshots[identifier])]}

    def describe_db_instance_automated_backups(self, **kwargs: t.Any) -> dict[str, t.Any]:
        self._record("describe_db_instance_automated_backups", kwargs)
        return {"DBInstanceAutomatedBackups": self.automated}

    def __getattr__(self, name: str) -> t.Callable[..., dict[str, t.Any]]:
        def call(**kwargs: t.Any) -> dict[str, t.Any]:
            self._record(name, kwargs)
            return {}

        return call

    def names(self) -> list[str]:
        return [call[0] for call in self.calls if not call[0].startswith("describe")]


def instance(identifier: str, **extra: t.Any) -> dict[str, t.Any]:
    found = {
        "DBInstanceIdentifier": identifier, "DBInstanceArn": f"arn:aws:rds:us-east-1:111122223333:db:{identifier}",
        "DBInstanceStatus": "available", "BackupRetentionPeriod": 7, "InstanceCreateTime": NOW - timedelta(days=30),
        "LatestRestorableTime": NOW - timedelta(minutes=4), "Endpoint": {"Address": f"{identifier}.rds", "Port": 5432},
        "TagList": [],
    }
    found.update(extra)
    return found


def snap(identifier: str, of: str = "orders-db", **extra: t.Any) -> dict[str, t.Any]:
    found = {
        "DBSnapshotIdentifier": identifier, "DBSnapshotArn": f"arn:aws:rds:us-east-1:111122223333:snapshot:{identifier}",
        "DBInstanceIdentifier": of, "Status": "available", "Encrypted": True, "KmsKeyId": "arn:aws:kms:us-east-1:1:key/a",
        "OriginalSnapshotCreateTime": NOW - timedelta(hours=1), "TagList": [],
    }
    found.update(extra)
    return found


def rds_of(fake: FakeRds, region: str = "us-east-1") -> Rds:
    return Rds(fake, region, "(iam hint)")
