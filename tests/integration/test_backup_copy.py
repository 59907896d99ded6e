# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_copy through ansible-playbook: local -> local, local -> the lab's S3 ->
a bucket in a second region (re-encrypted there), a killed copy resumed, a
damaged source refused.

Backups are seeded with the collection's library; every copy runs through
ansible-playbook, and the outcome is read back from the destination."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._errors import IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy import copy_backups
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy_options import open_copy_repositories
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

from .conftest import REPOSITORY_ROOT, boto3_client

COMPONENT = "orders-db"
ROWS = b"".join(b"%d,customer-%d,%d.%02d\n" % (number, number % 97, number * 7, number % 100) for number in range(20000))
SECOND_REGION = "eu-west-1"


def seed(options, count=1, component=COMPONENT, files=None):
    """Take `count` backups with the library; returns their ids, oldest first."""
    repository = open_repository({**options, "compression_level": 1})
    ids = []
    for _number in range(count):
        with repository.new_backup(component, kind="test", method="raw") as backup:
            for name, data in (files or {"data/orders.csv": ROWS, "data/toc.dat": b"toc"}).items():
                backup.add_bytes(name, data)
            backup.verification = {"rows": {"orders": 20000}}
        ids.append(backup.backup_id)
    return ids


def local_files(root):
    root = Path(root)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file()) if root.exists() else []


@pytest.fixture
def second_region_bucket(aws):
    """A bucket in another region of the lab's S3: the failover region's repository."""
    client = boto3_client(aws, "s3", region=SECOND_REGION)
    name = f"test-west-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": SECOND_REGION})
    yield name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
    client.delete_bucket(Bucket=name)


# ----------------------------------------------------------------------------- local -> local


def test_local_copy_check_mode_apply_idempotence_and_verification(ansible, tmp_path):
    source = {"repository": str(tmp_path / "primary")}
    older, newer = seed(source, 2)
    copy = {"source_repository": source["repository"], "destination_repository": str(tmp_path / "secondary")}
    destination = {"repository": copy["destination_repository"], "component": COMPONENT}
    check, applied, again, check_again, verify, info = ansible.sequence([
        ("resilience.dr.backup_copy", copy, {"check": True, "diff": True}),
        ("resilience.dr.backup_copy", copy, {"diff": True}),
        ("resilience.dr.backup_copy", copy),
        ("resilience.dr.backup_copy", copy, {"check": True}),
        ("resilience.dr.backup_verify", {**destination, "level": "content"}),
        ("resilience.dr.backup_info", destination),
    ])
    # Check mode: says what would be sent, writes nothing.
    assert not check["failed"] and check["changed"], check.get("msg")
    assert [item["backup_id"] for item in check["copied"]] == [older, newer]
    assert check["files_sent"] == 6 and check["diff"]["after"] == "".join(sorted(f"{COMPONENT}/{item}\n" for item in (older, newer)))
    assert check["components"][COMPONENT]["backups"] == 0

    assert not applied["failed"] and applied["changed"], applied.get("msg")
    assert applied["files_sent"] == 6 and applied["bytes_sent"] == check["bytes_sent"]
    assert all(item["state"] == "new" and item["checked_by"] == ["read back"] for item in applied["copied"])
    assert applied["components"][COMPONENT]["newest_backup_id"] == newer
    assert 0 <= applied["components"][COMPONENT]["newest_age_s"] < 600

    # Again: nothing to send, in a real run and in check mode.
    assert not again["failed"] and not again["changed"] and again["files_sent"] == 0
    assert {item["backup_id"] for item in again["up_to_date"]} == {older, newer}
    assert not check_again["changed"] and check_again["copied"] == []

    # The copies are whole: their content verifies on the destination, and they say where they came from.
    assert not verify["failed"] and verify["level"] == "content", verify.get("msg")
    assert all(item["ok"] for item in verify["verified"])
    by_id = {item["backup_id"]: item for item in info["backups"]}
    assert by_id[newer]["origin"]["repository"] == source["repository"]
    assert by_id[newer]["origin"]["backup_id"] == newer and by_id[newer]["origin"]["copied_at"]
    copied = open_repository(destination)
    assert copied.read_bytes(copied.select_backup(COMPONENT), "data/orders.csv") == ROWS


def test_a_corrupted_source_file_is_refused_and_named(ansible, tmp_path):
    source = {"repository": str(tmp_path / "primary")}
    (backup_id,) = seed(source)
    record = open_repository(source).find(COMPONENT, backup_id).manifest.file("data/orders.csv")
    stored = tmp_path / "primary" / COMPONENT / backup_id / record.path
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x10
    stored.write_bytes(bytes(data))

    result = ansible.module("resilience.dr.backup_copy", {
        "source_repository": source["repository"], "destination_repository": str(tmp_path / "secondary"),
    })
    assert result["failed"]
    assert f"backup {backup_id} of component {COMPONENT}: file {record.path}" in result["msg"]
    assert "SHA-256" in result["msg"] and "was not copied" in result["msg"] and "backup_verify" in result["msg"]
    assert result["errors"][0]["file"] == record.path
    assert local_files(tmp_path / "secondary" / COMPONENT / backup_id) == []


# ----------------------------------------------------------------------------- local -> S3 -> S3 in another region


def test_local_to_s3_then_to_a_second_region_reencrypted(ansible, tmp_path, aws, s3_bucket, second_region_bucket):
    primary_key, failover_key = x25519.Identity.generate(), x25519.Identity.generate()
    source = {"repository": str(tmp_path / "primary"), "encryption_recipients": [str(primary_key.to_public())]}
    # Over one S3 part (8 MiB) of incompressible data: sent as a multipart upload with CRC32 part checksums.
    blob = os.urandom(17 * 1024 * 1024)
    (backup_id,) = seed(source, files={"data/orders.csv": ROWS, "data/blob.bin": blob})
    to_s3 = {**aws, "source_repository": source["repository"], "destination_repository": f"s3://{s3_bucket}/prod"}
    to_west = {
        **aws, "source_repository": f"s3://{s3_bucket}/prod",
        "destination_repository": f"s3://{second_region_bucket}/prod", "destination_region": SECOND_REGION,
        "destination_encryption_recipients": [str(failover_key.to_public())],
    }
    first, first_again, without_identity, second, second_again, check_again = ansible.sequence([
        ("resilience.dr.backup_copy", to_s3),
        ("resilience.dr.backup_copy", to_s3),
        ("resilience.dr.backup_copy", to_west),
        ("resilience.dr.backup_copy", {**to_west, "encryption_identity": str(primary_key)}),
        ("resilience.dr.backup_copy", {**to_west, "encryption_identity": str(primary_key)}),
        ("resilience.dr.backup_copy", {**to_west, "encryption_identity": str(primary_key)}, {"check": True}),
    ])
    assert not first["failed"] and first["changed"], first.get("msg")
    assert first["copied"][0]["backup_id"] == backup_id and not first["copied"][0]["reencrypted"]
    # The multipart file is checked by the checksums S3 stored; small single PUTs, which the lab's S3 stores
    # without a checksum, are read back.
    assert "S3 CRC32 checksums" in first["copied"][0]["checked_by"]
    assert not first_again["changed"] and first_again["files_sent"] == 0

    # Re-encrypting needs the key the source is encrypted to.
    assert without_identity["failed"]
    assert f"backup {backup_id} of component {COMPONENT} is encrypted" in without_identity["msg"]
    assert "encryption_identity" in without_identity["msg"]

    assert not second["failed"] and second["changed"], second.get("msg")
    assert second["copied"][0]["reencrypted"] and second["copied"][0]["files_sent"] == 3
    assert not second_again["failed"] and not second_again["changed"], second_again.get("msg")
    assert not check_again["changed"]

    # The bucket really is in the other region.
    location = boto3_client(aws, "s3", region=SECOND_REGION).get_bucket_location(Bucket=second_region_bucket)
    assert location["LocationConstraint"] == SECOND_REGION

    # Restore from the failover region with only the failover key.
    west = {**aws, "repository": f"s3://{second_region_bucket}/prod", "region": SECOND_REGION, "component": COMPONENT}
    verify = ansible.module("resilience.dr.backup_verify", {**west, "level": "content", "encryption_identity": str(failover_key)})
    assert not verify["failed"] and verify["verified"][0]["ok"], verify.get("msg")
    reader = open_repository({**west, "encryption_identity": str(failover_key)})
    entry = reader.select_backup(COMPONENT)
    assert entry.backup_id == backup_id and entry.status == "verified"
    assert entry.manifest.encryption["recipients"] == [str(failover_key.to_public())]
    assert entry.manifest.origin["repository"] == f"s3://{s3_bucket}/prod"
    assert entry.manifest.origin["previous"]["repository"] == source["repository"]
    assert reader.read_bytes(entry, "data/orders.csv") == ROWS
    assert reader.read_bytes(entry, "data/blob.bin") == blob
    wrong = ansible.module("resilience.dr.backup_verify", {**west, "level": "content", "encryption_identity": str(primary_key)})
    assert wrong["failed"] or not wrong["verified"][0]["ok"]


# ----------------------------------------------------------------------------- a copy killed mid-transfer


SLOW_COPIER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from ansible_collections.resilience.dr.plugins.module_utils._repository.copy import copy_backups
    from ansible_collections.resilience.dr.plugins.module_utils._repository.copy_options import open_copy_repositories

    source, destination = open_copy_repositories({"source_repository": sys.argv[1], "destination_repository": sys.argv[2]})
    # The test cannot time a kill inside a fast local copy; reading two of the files slowly
    # leaves the others finished on the destination and the copy still running.
    open_read = source.backend.open_read

    def slow_open_read(key):
        stream = open_read(key)
        if "/data/slow" not in key:
            return stream
        class Slow:
            def read(self, size=-1):
                time.sleep(0.5)
                return stream.read(min(size, 4096) if size and size > 0 else 4096)
            def close(self):
                stream.close()
        return Slow()

    source.backend.open_read = slow_open_read
    copy_backups(source, destination)
""")


def test_a_part_damaged_on_the_way_to_s3_is_refused_and_nothing_is_left(tmp_path, aws, s3_bucket):
    # The fault is made on the wire: a byte of the second part's body is flipped after the part's CRC32
    # was computed and put in its header, as a faulty NIC or proxy would. The lab's S3 (moto) stores
    # the damaged part without checking it (real S3 refuses it with BadDigest); the CRC32 moto
    # computes over what it received must still give the copy away before the manifest is written.
    source = {"repository": str(tmp_path / "primary")}
    (backup_id,) = seed(source, files={"data/orders.csv": ROWS, "data/blob.bin": os.urandom(17 * 1024 * 1024)})
    source_repository, destination = open_copy_repositories({
        **aws, "source_repository": source["repository"], "destination_repository": f"s3://{s3_bucket}/prod",
    })
    damaged = []

    def flip_a_byte_of_part_two(request, **_unused):
        if "partNumber=2" in request.url and not damaged:
            body = bytearray(request.body if isinstance(request.body, bytes) else request.body.read())
            body[len(body) // 2] ^= 0x01
            request.body = bytes(body)
            damaged.append(request.url)

    client = destination.backend.checksummed_client()
    client.meta.events.register("before-send.s3.UploadPart", flip_a_byte_of_part_two)
    with pytest.raises(IntegrityError) as failure:
        copy_backups(source_repository, destination)
    assert damaged, "the fault was not injected: no second part was sent"
    message = failure.value.message
    assert "data/blob.bin" in message and "differs from what was sent" in message and "run the copy again" in message
    stored = [item["Key"] for item in boto3_client(aws, "s3").list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert not any(key.endswith(("blob.bin.zst", "blob.bin.zst.age", "manifest.json")) for key in stored), stored

    # Once the network behaves, the copy goes through and reads back as the source.
    client.meta.events.unregister("before-send.s3.UploadPart", flip_a_byte_of_part_two)
    assert copy_backups(source_repository, destination)["copied"][0]["backup_id"] == backup_id
    assert destination.read_bytes(destination.select_backup(COMPONENT), "data/blob.bin") == \
        open_repository(source).read_bytes(open_repository(source).select_backup(COMPONENT), "data/blob.bin")


def test_a_killed_copy_leaves_no_visible_backup_and_is_resumed(ansible, tmp_path):
    source = {"repository": str(tmp_path / "primary")}
    files = {f"data/fast{number}.csv": ROWS[number:] for number in range(3)}
    files.update({"data/slow1.csv": ROWS, "data/slow2.csv": ROWS})
    (backup_id,) = seed(source, files=files)
    target = tmp_path / "secondary" / COMPONENT / backup_id
    fast = {f"data/fast{number}.csv.zst" for number in range(3)} | {"verification.json.zst"}
    process = subprocess.Popen([
        sys.executable, "-c", SLOW_COPIER, source["repository"], str(tmp_path / "secondary"),
        str(REPOSITORY_ROOT / ".collections"),
    ])
    try:
        deadline = time.monotonic() + 60
        while not fast <= set(local_files(target)):
            assert process.poll() is None and time.monotonic() < deadline, "the copy ended or stalled before the kill"
            time.sleep(0.1)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert "manifest.json" not in local_files(target)

    copy = {"source_repository": source["repository"], "destination_repository": str(tmp_path / "secondary")}
    destination = {"repository": copy["destination_repository"], "component": COMPONENT}
    info, refused, resumed, again = ansible.sequence([
        ("resilience.dr.backup_info", destination),
        ("resilience.dr.backup_copy", {**copy, "lock_timeout": 0}),
        ("resilience.dr.backup_copy", {**copy, "break_stale_lock": True}),
        ("resilience.dr.backup_copy", copy),
    ])
    # The killed copy is not a backup on the destination.
    assert [item["status"] for item in info["backups"]] == ["incomplete"]
    assert info["components"][COMPONENT]["usable"] == 0
    # Its lock is stale and named; it is broken only on request.
    assert refused["failed"] and f"component {COMPONENT} is locked by copy {backup_id}" in refused["msg"]
    assert "break_stale_lock" in refused["msg"]
    # The resumed copy sends only what was missing.
    assert not resumed["failed"] and resumed["changed"], resumed.get("msg")
    item = resumed["copied"][0]
    assert item["state"] == "resume" and item["files_kept"] == 4 and item["files_sent"] == 2
    assert not again["changed"]
    copied = open_repository(destination)
    entry = copied.select_backup(COMPONENT)
    assert copied.read_bytes(entry, "data/slow2.csv") == ROWS and copied.verify(entry).ok
    assert not any(name.startswith(".") or name.endswith(".tmp") for name in local_files(target))
