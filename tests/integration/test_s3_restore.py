# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""s3_restore through ansible-playbook against the lab's moto S3: a versioned
bucket with overwrites, deletes and new objects around a time T."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from .conftest import boto3_client

MODULE = "resilience.dr.s3_restore"
PREFIX = "data/"


def contents(client, bucket, prefix=PREFIX):
    """{key: body} of the current objects under prefix."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def mark_time():
    """A time T with at least a second on each side (S3 keeps whole seconds)."""
    time.sleep(1.2)
    moment = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(1.2)
    return moment


@pytest.fixture
def history(aws, s3_bucket):
    """A versioned bucket: the state at T, then an incident after T. Returns (client, bucket, T, state at T)."""
    client = boto3_client(aws, "s3")
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    at_t = {f"{PREFIX}overwritten.txt": b"v1", f"{PREFIX}deleted.txt": b"keep me",
            f"{PREFIX}overwritten-then-deleted.txt": b"original", f"{PREFIX}same.txt": b"untouched",
            f"{PREFIX}deep/a b ü.txt": b"unicode"}
    for key, body in at_t.items():
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    client.put_object(Bucket=s3_bucket, Key=f"{PREFIX}deleted-before.txt", Body=b"old")
    client.delete_object(Bucket=s3_bucket, Key=f"{PREFIX}deleted-before.txt")
    client.put_object(Bucket=s3_bucket, Key="outside/x.txt", Body=b"before")
    moment = mark_time()
    client.put_object(Bucket=s3_bucket, Key=f"{PREFIX}overwritten.txt", Body=b"ENCRYPTED BY RANSOMWARE")
    client.delete_object(Bucket=s3_bucket, Key=f"{PREFIX}deleted.txt")
    client.put_object(Bucket=s3_bucket, Key=f"{PREFIX}overwritten-then-deleted.txt", Body=b"bad")
    client.delete_object(Bucket=s3_bucket, Key=f"{PREFIX}overwritten-then-deleted.txt")
    client.put_object(Bucket=s3_bucket, Key=f"{PREFIX}README-RANSOM.txt", Body=b"pay")
    client.put_object(Bucket=s3_bucket, Key="outside/x.txt", Body=b"after")
    return client, s3_bucket, moment, at_t


def test_restore_to_a_time_check_apply_again(ansible, aws, history):
    client, bucket, moment, at_t = history
    before = contents(client, bucket)
    args = {**aws, "bucket": bucket, "prefix": PREFIX, "restore_time": moment, "delete_newer": True}
    results = ansible.sequence([
        (MODULE, args, {"check": True, "diff": True}),
        (MODULE, args),
        (MODULE, args),
        (MODULE, args, {"check": True}),
    ])
    for result in results:
        assert not result["failed"], result["msg"]
    check, apply, again, check_again = results
    actions = {change["key"]: change["action"] for change in check["changes"]}
    assert actions == {
        f"{PREFIX}overwritten.txt": "roll_back", f"{PREFIX}deleted.txt": "undelete",
        f"{PREFIX}overwritten-then-deleted.txt": "restore", f"{PREFIX}README-RANSOM.txt": "delete",
    }
    assert check["changed"] and f"{PREFIX}overwritten.txt" in check["diff"]["after"]
    assert apply["changed"] and apply["changes"] == check["changes"]
    assert apply["summary"]["objects_at_time"] == len(at_t) and apply["summary"]["unchanged"] >= 2
    assert not again["changed"] and again["changes"] == [] and not check_again["changed"]
    assert contents(client, bucket) == at_t
    assert before != at_t  # the check mode run had nothing to do with it
    assert client.get_object(Bucket=bucket, Key="outside/x.txt")["Body"].read() == b"after"


def test_check_mode_changes_nothing(ansible, aws, history):
    client, bucket, moment, _at_t = history
    before = contents(client, bucket)
    versions_before = client.list_object_versions(Bucket=bucket)
    result = ansible.module(MODULE, {**aws, "bucket": bucket, "prefix": PREFIX, "restore_time": moment,
                                     "delete_newer": True}, check=True)
    assert not result["failed"], result["msg"]
    assert result["changed"] and len(result["changes"]) == 4
    assert contents(client, bucket) == before
    versions_after = client.list_object_versions(Bucket=bucket)
    assert versions_after.get("Versions") == versions_before.get("Versions")
    assert versions_after.get("DeleteMarkers") == versions_before.get("DeleteMarkers")


def test_clean_room_restore_into_another_bucket_leaves_the_source_alone(ansible, aws, history):
    client, bucket, moment, at_t = history
    target = f"test-cleanroom-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=target)
    client.put_bucket_versioning(Bucket=target, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=target, Key=f"{PREFIX}stray.txt", Body=b"stray")
    source_before = contents(client, bucket)
    try:
        args = {**aws, "bucket": bucket, "prefix": PREFIX, "restore_time": moment, "target_bucket": target}
        first, second = ansible.sequence([(MODULE, args), (MODULE, {**args, "delete_newer": True})])
        assert not first["failed"], first["msg"]
        assert first["changed"] and {change["action"] for change in first["changes"]} == {"restore"}
        assert first["newer_kept"] == [f"{PREFIX}stray.txt"]
        assert not second["failed"], second["msg"]
        assert [(change["key"], change["action"]) for change in second["changes"]] == [(f"{PREFIX}stray.txt", "delete")]
        assert contents(client, target) == at_t
        assert contents(client, bucket) == source_before
    finally:
        empty_versions(client, target)
        client.delete_bucket(Bucket=target)


def empty_versions(client, bucket):
    """Delete every version and marker, listing again until none is left."""
    while True:
        page = client.list_object_versions(Bucket=bucket)
        objects = [{"Key": item["Key"], "VersionId": item["VersionId"]}
                   for item in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if not objects:
            return
        client.delete_objects(Bucket=bucket, Delete={"Objects": objects[:1000], "Quiet": True})


def test_thousands_of_deleted_objects_are_undeleted_across_pages(ansible, aws, s3_bucket):
    client = boto3_client(aws, "s3")
    client.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    keys = [f"{PREFIX}{number:05d}" for number in range(1100)]  # listings come in pages of 1000
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda key: client.put_object(Bucket=s3_bucket, Key=key, Body=key.encode()), keys))
        moment = mark_time()
        for start in range(0, len(keys), 1000):
            client.delete_objects(Bucket=s3_bucket, Delete={"Objects": [{"Key": key} for key in keys[start:start + 1000]]})
        result = ansible.module(MODULE, {**aws, "bucket": s3_bucket, "prefix": PREFIX, "restore_time": moment})
        assert not result["failed"], result["msg"]
        assert result["summary"]["undelete"] == 1100
        listed = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
                  for item in page.get("Contents", [])]
        assert sorted(listed) == keys
        assert client.get_object(Bucket=s3_bucket, Key=keys[-1])["Body"].read() == keys[-1].encode()
    finally:
        empty_versions(client, s3_bucket)


def test_failures_are_clear(ansible, aws, s3_bucket):
    results = ansible.sequence([
        (MODULE, {**aws, "bucket": s3_bucket, "restore_time": "2026-01-01T00:00:00Z"}),
        (MODULE, {**aws, "bucket": s3_bucket, "restore_time": "yesterday"}),
        (MODULE, {**aws, "bucket": f"no-such-{uuid.uuid4().hex[:8]}", "restore_time": "2026-01-01T00:00:00Z"}),
    ])
    unversioned, bad_time, missing = results
    assert unversioned["failed"] and "not versioned" in unversioned["msg"] and s3_bucket in unversioned["msg"]
    assert bad_time["failed"] and "ISO 8601" in bad_time["msg"]
    assert missing["failed"] and "NoSuchBucket" in missing["msg"]


@pytest.fixture
def target_bucket(aws):
    """An empty second bucket, emptied (every version) and removed afterwards."""
    client = boto3_client(aws, "s3")
    name = f"test-target-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=name)
    yield name
    empty_versions(client, name)
    client.delete_bucket(Bucket=name)


def stray_in(client, bucket, versioning):
    """Put the bucket in a versioning state and an object the restore would delete as newer."""
    if versioning:
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": versioning})
    client.put_object(Bucket=bucket, Key=f"{PREFIX}stray.txt", Body=b"stray")


@pytest.mark.parametrize(("versioning", "state"), [(None, "is not versioned"), ("Suspended", "has versioning Suspended")])
def test_delete_newer_refuses_a_target_whose_deletes_are_permanent(ansible, aws, history, target_bucket, versioning, state):
    client, bucket, moment, _at_t = history
    stray_in(client, target_bucket, versioning)
    args = {**aws, "bucket": bucket, "prefix": PREFIX, "restore_time": moment, "target_bucket": target_bucket,
            "delete_newer": True}
    check, apply = ansible.sequence([(MODULE, args, {"check": True}), (MODULE, args)])
    for result in (check, apply):
        assert result["failed"]
        assert f"the bucket {target_bucket} {state}" in result["msg"]
        assert "allow_permanent_delete: true" in result["msg"] and "Nothing was changed" in result["msg"]
    assert contents(client, target_bucket) == {f"{PREFIX}stray.txt": b"stray"}  # nothing copied, nothing deleted


def test_delete_newer_refuses_the_source_bucket_with_versioning_suspended(ansible, aws, history):
    client, bucket, moment, _at_t = history
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    try:
        before = contents(client, bucket)
        result = ansible.module(MODULE, {**aws, "bucket": bucket, "prefix": PREFIX, "restore_time": moment,
                                         "delete_newer": True})
        assert result["failed"] and f"the bucket {bucket} has versioning Suspended" in result["msg"]
        assert contents(client, bucket) == before
    finally:
        # moto cannot empty a Suspended bucket holding delete markers (its DeleteObjects fails with a 500).
        client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def test_allow_permanent_delete_lets_delete_newer_clean_an_unversioned_target(ansible, aws, history, target_bucket):
    client, bucket, moment, at_t = history
    stray_in(client, target_bucket, None)
    result = ansible.module(MODULE, {**aws, "bucket": bucket, "prefix": PREFIX, "restore_time": moment,
                                     "target_bucket": target_bucket, "delete_newer": True,
                                     "allow_permanent_delete": True})
    assert not result["failed"], result["msg"]
    assert (f"{PREFIX}stray.txt", "delete") in [(change["key"], change["action"]) for change in result["changes"]]
    assert contents(client, target_bucket) == at_t
    assert not client.list_object_versions(Bucket=target_bucket).get("DeleteMarkers")  # gone for good, as accepted


def test_delete_newer_into_a_versioned_target_needs_no_opt_in_and_stays_recoverable(ansible, aws, history, target_bucket):
    client, bucket, moment, at_t = history
    stray_in(client, target_bucket, "Enabled")
    result = ansible.module(MODULE, {**aws, "bucket": bucket, "prefix": PREFIX, "restore_time": moment,
                                     "target_bucket": target_bucket, "delete_newer": True})
    assert not result["failed"], result["msg"]
    assert contents(client, target_bucket) == at_t
    markers = client.list_object_versions(Bucket=target_bucket).get("DeleteMarkers", [])
    assert [marker["Key"] for marker in markers] == [f"{PREFIX}stray.txt"]
