# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures and API helpers the RDS integration tests share (moto server of the lab)."""

from __future__ import annotations

import typing as t
import uuid

import pytest

from .conftest import boto3_client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def snapshot_of(client: t.Any, identifier: str) -> dict[str, t.Any] | None:
    try:
        return client.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"][0]
    except client.exceptions.DBSnapshotNotFoundFault:
        return None


def tags_of(client: t.Any, arn: str) -> dict[str, str]:
    return {item["Key"]: item["Value"] for item in client.list_tags_for_resource(ResourceName=arn)["TagList"]}


class Cleanup:
    """Removes the instances and snapshots a test made, in every region, whatever the outcome."""

    def __init__(self, aws: dict[str, str]) -> None:
        self.aws = aws
        self.snapshots: list[tuple[str, str]] = []
        self.instances: list[tuple[str, str]] = []

    def client(self, region: str) -> t.Any:
        return boto3_client(self.aws, "rds", region)

    def run(self) -> None:
        for region, identifier in self.snapshots:
            client = self.client(region)
            if snapshot_of(client, identifier) is not None:
                client.delete_db_snapshot(DBSnapshotIdentifier=identifier)
        for region, identifier in self.instances:
            client = self.client(region)
            try:
                client.delete_db_instance(DBInstanceIdentifier=identifier, SkipFinalSnapshot=True)
            except client.exceptions.DBInstanceNotFoundFault:
                pass


@pytest.fixture
def cleanup(aws):
    registry = Cleanup(aws)
    yield registry
    registry.run()


@pytest.fixture
def rds(aws):
    return boto3_client(aws, "rds")


@pytest.fixture
def instance(rds, aws, cleanup) -> str:
    """An encrypted PostgreSQL instance on moto, deleted afterwards."""
    identifier = unique("orders-db")
    rds.create_db_instance(
        DBInstanceIdentifier=identifier, DBInstanceClass="db.t3.micro", Engine="postgres", MasterUsername="dr",
        MasterUserPassword="not-a-secret-1", AllocatedStorage=20, StorageEncrypted=True, BackupRetentionPeriod=7,
    )
    cleanup.instances.append((aws["region"], identifier))
    return identifier


def instance_of(client: t.Any, identifier: str) -> dict[str, t.Any] | None:
    try:
        return client.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    except client.exceptions.DBInstanceNotFoundFault:
        return None
