# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""rds_snapshot's plans: tags, and copies to another region or name, with a scripted client."""

from __future__ import annotations

import typing as t

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._rds import snapshot
from ansible_collections.resilience.dr.tests.unit.plugins.module_utils._rds.helpers import FakeRds, rds_of, snap


def snapshot_request(**extra: t.Any) -> snapshot.SnapshotRequest:
    params = {"db_snapshot_identifier": "orders-db-nightly", "db_instance_identifier": "orders-db"}
    params.update(extra)
    return snapshot.SnapshotRequest.from_params(params)


def test_tag_changes_add_and_purge_but_keep_aws_tags():
    add, remove = snapshot.tag_changes({"a": "1", "b": "2", "aws:backup": "x"}, {"a": "1", "c": "3"}, purge=True)
    assert add == {"c": "3"} and remove == ["b"]
    assert snapshot.tag_changes({"a": "1"}, None, purge=True) == ({}, [])


def test_copy_onto_itself_in_the_same_region_is_refused(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    with pytest.raises(ConfigurationError, match="is the snapshot's own region: give target_db_snapshot_identifier"):
        snapshot.plan(rds_of(fake), rds_of(fake), snapshot_request(copy_to_region="us-east-1", kms_key_id="b"))


def test_copy_of_an_encrypted_snapshot_needs_a_destination_key(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    with pytest.raises(ConfigurationError, match="must be re-encrypted with a KMS key of us-west-2; give kms_key_id"):
        snapshot.plan(rds_of(fake), rds_of(FakeRds(), "us-west-2"), snapshot_request(copy_to_region="us-west-2"))


def test_existing_copy_of_another_snapshot_or_with_another_key_is_refused(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    west = FakeRds()
    west.snapshots["orders-db-nightly"] = snap("orders-db-nightly", of="billing-db", KmsKeyId="arn:aws:kms:us-west-2:1:key/b")
    request = snapshot_request(copy_to_region="us-west-2", kms_key_id="arn:aws:kms:us-west-2:1:key/b")
    with pytest.raises(ConfigurationError, match="is not a copy of orders-db-nightly in us-east-1"):
        snapshot.plan(rds_of(fake), rds_of(west, "us-west-2"), request)
    west.snapshots["orders-db-nightly"]["DBInstanceIdentifier"] = "orders-db"
    actions = snapshot.plan(rds_of(fake), rds_of(west, "us-west-2"), request)[0]
    assert actions == []
    with pytest.raises(ConfigurationError, match="encrypted with KMS key arn:aws:kms:us-west-2:1:key/b, not c"):
        snapshot.plan(rds_of(fake), rds_of(west, "us-west-2"), snapshot_request(copy_to_region="us-west-2", kms_key_id="c"))


def test_copy_is_made_from_the_source_arn_with_the_key_and_source_region(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    west = FakeRds()
    request = snapshot_request(copy_to_region="us-west-2", kms_key_id="alias/dr", wait=False)
    result = snapshot.run(rds_of(fake), rds_of(west, "us-west-2"), request, check_mode=False, diff=False)
    assert result["changed"] and west.names() == ["copy_db_snapshot"]
    kwargs = [call for call in west.calls if call[0] == "copy_db_snapshot"][0][1]
    assert kwargs == {"SourceDBSnapshotIdentifier": "arn:aws:rds:us-east-1:111122223333:snapshot:orders-db-nightly",
                      "TargetDBSnapshotIdentifier": "orders-db-nightly", "SourceRegion": "us-east-1",
                      "KmsKeyId": "alias/dr", "CopyTags": True}


def test_copy_within_the_region_sends_no_source_region(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")
    request = snapshot_request(copy_to_region="us-east-1", target_db_snapshot_identifier="orders-db-kept", kms_key_id="b", wait=False)
    snapshot.run(rds_of(fake), rds_of(fake), request, check_mode=False, diff=False)
    kwargs = [call[1] for call in fake.calls if call[0] == "copy_db_snapshot"][0]
    assert "SourceRegion" not in kwargs and kwargs["TargetDBSnapshotIdentifier"] == "orders-db-kept"


def test_snapshot_run_waits_for_the_copy_and_reports_its_progress(fake):
    fake.snapshots["orders-db-nightly"] = snap("orders-db-nightly")

    class Copying(FakeRds):
        def copy_db_snapshot(self, **kwargs):
            self._record("copy_db_snapshot", kwargs)
            self.snapshots[kwargs["TargetDBSnapshotIdentifier"]] = snap(kwargs["TargetDBSnapshotIdentifier"], Status="creating")
            self.statuses[kwargs["TargetDBSnapshotIdentifier"]] = ["creating", "copying", "copying", "available"]
            return {}

    west = Copying()
    request = snapshot_request(copy_to_region="us-west-2", kms_key_id="b")
    request.poll_interval = 0.01
    result = snapshot.run(rds_of(fake), rds_of(west, "us-west-2"), request, check_mode=False, diff=False)
    assert result["copy"]["status"] == "available"
    copy_statuses = [event["status"] for event in result["progress"] if "us-west-2" in event["resource"]]
    assert copy_statuses == ["creating", "copying", "available"]
