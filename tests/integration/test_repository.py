# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup repository and backup_info / backup_verify / backup_prune, against
a local directory and the lab's moto S3, through ansible-playbook.

Backups are seeded with the collection's library; every module under test
runs through ansible-playbook."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository

from .conftest import REPOSITORY_ROOT, boto3_client

COMPONENT = "orders-db"


@pytest.fixture(scope="module")
def identity():
    return x25519.Identity.generate()


@pytest.fixture(params=["local", "s3"])
def repo(request, tmp_path, aws):
    """Module options of an empty repository, local or on the lab's S3."""
    if request.param == "local":
        return {"repository": str(tmp_path / "repository")}
    bucket = request.getfixturevalue("s3_bucket")
    return {"repository": f"s3://{bucket}/backups", **aws}


def seed(options, count=1, component=COMPONENT, data=b"id,total\n1,10\n" * 2000, **extra):
    """Take `count` backups with the library; returns their ids, oldest first."""
    repository = open_repository({**options, "compression_level": 1, **extra})
    ids = []
    for _number in range(count):
        with repository.new_backup(component, kind="test", method="raw") as backup:
            backup.add_bytes("data/orders.csv", data)
            backup.verification = {"rows": {"orders": 2000}}
        ids.append(backup.backup_id)
    return ids


def stored_objects(options):
    """Every stored object as {key: bytes}, from the directory or the bucket."""
    location = options["repository"]
    if not location.startswith("s3://"):
        root = Path(location)
        return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()}
    bucket, _separator, prefix = location[5:].partition("/")
    client = boto3_client(options, "s3")
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            key = item["Key"][len(prefix) + 1:]
            objects[key] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return objects


def replace_object(options, key, data):
    location = options["repository"]
    if not location.startswith("s3://"):
        Path(location, key).write_bytes(data)
        return
    bucket, _separator, prefix = location[5:].partition("/")
    boto3_client(options, "s3").put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)


def delete_object(options, key):
    location = options["repository"]
    if not location.startswith("s3://"):
        os.unlink(Path(location, key))
        return
    bucket, _separator, prefix = location[5:].partition("/")
    boto3_client(options, "s3").delete_object(Bucket=bucket, Key=f"{prefix}/{key}")


def statuses(ansible, options):
    result = ansible.module("resilience.dr.backup_info", {**options, "component": COMPONENT})
    assert not result["failed"], result["msg"]
    return {item["backup_id"]: item["status"] for item in result["backups"]}


# ----------------------------------------------------------------------------- backup_info


def test_backup_info_lists_status_age_and_the_component_summary(ansible, repo):
    older, newer, unfinished = seed(repo, 3)
    delete_object(repo, f"{COMPONENT}/{unfinished}/manifest.json")

    result = ansible.module("resilience.dr.backup_info", repo, check=True)
    assert not result["failed"] and not result["changed"], result.get("msg")
    by_id = {item["backup_id"]: item for item in result["backups"]}
    # Newest first (an unfinished backup has only its id's second to sort by).
    assert [item["backup_id"] for item in result["backups"] if item["status"] == "complete"] == [newer, older]
    assert by_id[newer]["status"] == "complete" and by_id[newer]["files"] == 2
    assert 0 <= by_id[newer]["age_s"] < 600 and by_id[newer]["size"] > 0
    assert by_id[unfinished]["status"] == "incomplete" and "no manifest" in by_id[unfinished]["error"]
    summary = result["components"][COMPONENT]
    assert summary["usable"] == 2 and summary["incomplete"] == 1
    assert summary["newest_backup_id"] == newer and summary["newest_verified_backup_id"] is None

    latest = ansible.module("resilience.dr.backup_info", {**repo, "latest": True})
    assert [item["backup_id"] for item in latest["backups"]] == [newer]


def test_backup_info_on_an_empty_repository_lists_nothing(ansible, repo):
    result = ansible.module("resilience.dr.backup_info", repo)
    assert not result["failed"] and result["backups"] == [] and result["components"] == {}


# ----------------------------------------------------------------------------- backup_verify


def test_backup_verify_check_mode_apply_and_idempotence(ansible, repo):
    (backup_id,) = seed(repo)
    args = {**repo, "component": COMPONENT}
    info = ("resilience.dr.backup_info", args)
    check, after_check, applied, after_apply, again, check_again = ansible.sequence([
        ("resilience.dr.backup_verify", args, {"check": True}), info,
        ("resilience.dr.backup_verify", args), info,
        ("resilience.dr.backup_verify", args),
        ("resilience.dr.backup_verify", args, {"check": True}),
    ])
    # Check mode reads and checks, says a real run would record the new status, records nothing.
    assert not check["failed"] and check["changed"]
    assert check["verified"][0]["ok"] and check["level"] == "content"
    assert after_check["backups"][0]["status"] == "complete"
    assert applied["changed"] and applied["verified"][0]["files"] == 2
    assert after_apply["backups"][0]["status"] == "verified"
    assert after_apply["backups"][0]["verification"]["level"] == "content"
    assert not again["changed"] and not again["failed"]
    assert not check_again["changed"]
    assert statuses(ansible, repo) == {backup_id: "verified"}


def test_a_flipped_byte_fails_verification_naming_the_file_and_deletes_nothing(ansible, repo):
    (backup_id,) = seed(repo)
    key = f"{COMPONENT}/{backup_id}/data/orders.csv.zst"
    damaged = bytearray(stored_objects(repo)[key])
    damaged[len(damaged) // 2] ^= 0x01
    replace_object(repo, key, bytes(damaged))

    result = ansible.module("resilience.dr.backup_verify", {**repo, "component": COMPONENT})
    assert result["failed"]
    assert f"backup {backup_id} of component {COMPONENT}: file data/orders.csv.zst failed its SHA-256 check" in result["msg"]
    assert "restore an older one" in result["msg"]
    assert result["verified"][0]["file"] == "data/orders.csv.zst"
    assert statuses(ansible, repo) == {backup_id: "failed_verification"}
    assert key in stored_objects(repo)


def test_verify_with_the_wrong_identity_says_which_keys_are_needed(ansible, repo, identity):
    seed(repo, encryption_recipients=[str(identity.to_public())])
    wrong = str(x25519.Identity.generate())
    result = ansible.module("resilience.dr.backup_verify", {**repo, "component": COMPONENT, "encryption_identity": wrong})
    assert result["failed"]
    assert "cannot be decrypted with the identity given: it was encrypted to other keys" in result["msg"]
    assert wrong not in json.dumps(result)  # the secret never reaches the output

    right = ansible.module("resilience.dr.backup_verify", {**repo, "component": COMPONENT, "encryption_identity": str(identity)})
    assert not right["failed"] and right["level"] == "content"


def test_identity_file_readable_by_others_is_refused(ansible, tmp_path, identity):
    options = {"repository": str(tmp_path / "repository")}
    seed(options, encryption_recipients=[str(identity.to_public())])
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"{identity}\n")
    key_file.chmod(0o644)
    result = ansible.module("resilience.dr.backup_verify", {**options, "component": COMPONENT, "encryption_identity_file": str(key_file)})
    assert result["failed"] and f"encryption_identity_file {key_file} has mode 0644" in result["msg"]


def test_truncated_manifest_is_reported_invalid_and_never_deleted(ansible, repo):
    keep, damaged = seed(repo, 2)
    key = f"{COMPONENT}/{damaged}/manifest.json"
    raw = stored_objects(repo)[key]
    replace_object(repo, key, raw[: len(raw) // 2])

    info = ansible.module("resilience.dr.backup_info", {**repo, "component": COMPONENT, "backup_id": damaged})
    assert info["backups"][0]["status"] == "invalid"
    assert "is unreadable (truncated or damaged?)" in info["backups"][0]["error"]
    verify = ansible.module("resilience.dr.backup_verify", {**repo, "component": COMPONENT, "backup_id": damaged})
    assert verify["failed"] and f"backup {damaged} of component {COMPONENT} cannot be verified: it is invalid" in verify["msg"]
    prune = ansible.module("resilience.dr.backup_prune", {**repo, "keep_last": 1})
    assert [item["backup_id"] for item in prune["left_alone"]] == [damaged]
    assert key in stored_objects(repo) and statuses(ansible, repo)[keep] == "complete"


# ----------------------------------------------------------------------------- backup_prune


def test_backup_prune_check_mode_apply_and_idempotence(ansible, repo):
    ids = seed(repo, 5)
    args = {**repo, "component": COMPONENT, "keep_last": 2}
    info = ("resilience.dr.backup_info", {**repo, "component": COMPONENT})
    check, after_check, applied, after_apply, again, check_again = ansible.sequence([
        ("resilience.dr.backup_prune", args, {"check": True, "diff": True}), info,
        ("resilience.dr.backup_prune", args), info,
        ("resilience.dr.backup_prune", args),
        ("resilience.dr.backup_prune", args, {"check": True}),
    ])
    assert check["changed"] and [item["backup_id"] for item in check["removed"]] == ids[:3]
    assert f"{COMPONENT}/{ids[0]} (complete)" in check["diff"]["before"]
    assert ids[0] not in check["diff"]["after"] and ids[4] in check["diff"]["after"]
    assert len(after_check["backups"]) == 5  # nothing removed in check mode

    assert applied["changed"] and applied["removed"] == check["removed"]
    assert {item["backup_id"] for item in after_apply["backups"]} == set(ids[3:])
    assert not any(key.startswith(f"{COMPONENT}/{ids[0]}") for key in stored_objects(repo))

    assert not again["changed"] and not again["failed"]
    assert not check_again["changed"]


def test_prune_keeps_the_newest_verified_backup_whatever_the_rules(ansible, repo):
    ids = seed(repo, 3)
    verify = ansible.module("resilience.dr.backup_verify", {**repo, "component": COMPONENT, "backup_id": ids[0]})
    assert not verify["failed"], verify["msg"]
    result = ansible.module("resilience.dr.backup_prune", {**repo, "keep_last": 1})
    kept = {item["backup_id"]: item["reasons"] for item in result["kept"]}
    assert set(kept) == {ids[0], ids[2]} and "newest verified backup" in kept[ids[0]]


def test_prune_without_any_rule_is_refused(ansible, repo):
    seed(repo, 2)
    result = ansible.module("resilience.dr.backup_prune", repo)
    assert result["failed"] and "no retention rule is set" in result["msg"]
    assert len(statuses(ansible, repo)) == 2


# ----------------------------------------------------------------------------- failures of writers


SLOW_WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository
    repository = open_repository({"repository": sys.argv[1], "compression_level": 1})

    class Slow:
        sent = 0
        def read(self, size=-1):
            if self.sent >= 40:
                time.sleep(0.5)
            self.sent += 1
            return b"x" * 65536

    with repository.new_backup("orders-db", kind="test", method="raw") as backup:
        backup.add_bytes("data/first.csv", b"written before the crash")
        print(backup.backup_id, flush=True)
        backup.add_stream("data/endless.csv", Slow())
""")


def start_slow_writer(repository_path):
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, repository_path, str(REPOSITORY_ROOT / ".collections")],
        stdout=subprocess.PIPE, text=True,
    )
    backup_id = process.stdout.readline().strip()
    assert backup_id, "the writer did not start"
    return process, backup_id


def test_killed_writer_leaves_no_visible_backup_and_a_stale_lock_that_is_broken_only_on_request(ansible, tmp_path):
    options = {"repository": str(tmp_path / "repository")}
    (complete,) = seed(options)
    process, backup_id = start_slow_writer(options["repository"])
    try:
        assert statuses(ansible, options)[backup_id] == "in_progress"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    info = ansible.module("resilience.dr.backup_info", {**options, "component": COMPONENT})
    crashed = {item["backup_id"]: item for item in info["backups"]}[backup_id]
    assert crashed["status"] == "incomplete"
    assert "no longer runs on host" in crashed["error"]
    assert info["components"][COMPONENT]["newest_backup_id"] == complete

    refused = ansible.module("resilience.dr.backup_prune", {**options, "keep_last": 5})
    assert refused["failed"]
    assert f"component {COMPONENT} is locked by backup {backup_id} (pid {process.pid}" in refused["msg"]
    assert "the lock" in refused["msg"] and "is stale" in refused["msg"] and "break_stale_lock: true" in refused["msg"]
    assert backup_id in statuses(ansible, options)

    taken = ansible.module("resilience.dr.backup_prune", {**options, "keep_last": 5, "break_stale_lock": True})
    assert taken["changed"] and [item["backup_id"] for item in taken["removed"]] == [backup_id]
    assert seed(options)  # the next backup succeeds
    assert set(statuses(ansible, options).values()) == {"complete"}


def test_a_second_writer_waits_for_lock_timeout_and_names_the_holder(ansible, tmp_path):
    options = {"repository": str(tmp_path / "repository")}
    process, backup_id = start_slow_writer(options["repository"])
    try:
        started = time.monotonic()
        result = ansible.module("resilience.dr.backup_prune", {**options, "keep_last": 1, "lock_timeout": 2})
        waited = time.monotonic() - started
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert result["failed"] and waited >= 2
    assert f"component {COMPONENT} is locked by backup {backup_id} (pid {process.pid} on host" in result["msg"]
    assert "lock_timeout 2s" in result["msg"]


def test_unreachable_s3_endpoint_is_a_clear_error(ansible, aws):
    options = {**aws, "repository": "s3://nowhere/backups", "endpoint_url": "http://127.0.0.1:9"}
    result = ansible.module("resilience.dr.backup_info", options)
    assert result["failed"]
    assert "cannot reach the S3 endpoint for s3://nowhere/backups" in result["msg"]


def test_missing_bucket_is_named(ansible, aws):
    result = ansible.module("resilience.dr.backup_info", {**aws, "repository": "s3://no-such-bucket-here/backups"})
    assert result["failed"] and "NoSuchBucket" in result["msg"] and "no-such-bucket-here" in result["msg"]


# ----------------------------------------------------------------------------- encryption and S3 protections


def test_an_encrypted_repository_holds_no_plaintext_of_the_data(repo, identity):
    marker = b"PATIENT-RECORD-7f3a91-must-stay-secret"
    seed(repo, data=marker * 5000, encryption_recipients=[str(identity.to_public())])
    objects = stored_objects(repo)
    assert any(key.endswith(".zst.age") for key in objects)
    for key, data in objects.items():
        assert marker not in data, key


def test_s3_server_side_encryption_object_lock_and_multipart(aws, s3_bucket, identity, tmp_path):
    client = boto3_client(aws, "s3")
    locked = f"{s3_bucket}-locked"
    client.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    big = os.urandom(40 * 1024 * 1024)  # incompressible: three multipart parts
    options = {**aws, "repository": f"s3://{locked}/prod", "s3_sse": "AES256"}
    (backup_id,) = seed(options, data=big, s3_object_lock_mode="GOVERNANCE", s3_object_lock_days=1,
                        encryption_recipients=[str(identity.to_public())])
    head = client.head_object(Bucket=locked, Key=f"prod/{COMPONENT}/{backup_id}/data/orders.csv.zst.age")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ContentLength"] > 40 * 1024 * 1024
    repository = open_repository({**options, "encryption_identity": str(identity)})
    assert repository.read_bytes(repository.select_backup(COMPONENT), "data/orders.csv") == big


ROUND_TRIP = textwrap.dedent("""
    import hashlib, os, resource, sys
    sys.path.insert(0, sys.argv[2])
    from pyrage import x25519
    from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository
    size = int(sys.argv[3])
    identity = x25519.Identity.generate()
    # Two zstd workers, as on the smallest supported machine: one worker per CPU
    # would make the peak depend on the machine running the test.
    repository = open_repository({"repository": sys.argv[1], "compression_level": 1, "compression_threads": 2,
                                  "encryption_recipients": [str(identity.to_public())], "encryption_identity": str(identity)})

    class Source:
        sent = 0
        digest = hashlib.sha256()
        def read(self, want=-1):
            want = min(1 << 20, size - self.sent)
            data = os.urandom(want)
            self.sent += want
            self.digest.update(data)
            return data

    source = Source()
    with repository.new_backup("big", kind="test", method="raw") as backup:
        backup.add_bytes("empty", b"")
        backup.add_stream("stream", source)
    entry = repository.select_backup("big")
    assert repository.read_bytes(entry, "empty") == b""
    digest = hashlib.sha256()
    class Sink:
        def write(self, data):
            digest.update(data)
            return len(data)
    assert repository.read_file(entry, "stream", Sink()) == size
    print(source.digest.hexdigest() == digest.hexdigest(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
""")


def round_trip_peak_mib(repository, size):
    """Stream `size` random bytes in and out of a fresh process; return its peak RSS in MiB."""
    completed = subprocess.run(
        [sys.executable, "-c", ROUND_TRIP, str(repository), str(REPOSITORY_ROOT / ".collections"), str(size)],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    identical, peak_mib = completed.stdout.split()
    assert identical == "True", f"the {size}-byte stream came back different"
    return int(peak_mib)


def test_a_multi_gigabyte_stream_round_trips_bit_for_bit_in_constant_memory(tmp_path):
    # Constant memory means the peak does not grow with the stream: compare a
    # 2 GiB stream with a 16 MiB one in the same environment rather than with
    # a fixed number, which depends on the allocator and the libraries' buffers.
    small = round_trip_peak_mib(tmp_path / "small", 16 * 1024 ** 2)
    big = round_trip_peak_mib(tmp_path / "big", 2 * 1024 ** 3 + 12345)
    assert big - small < 64, f"peak memory grew from {small} MiB (16 MiB stream) to {big} MiB (2 GiB stream)"


def test_manual_restore_with_standard_tools_follows_the_documented_procedure(tmp_path, identity):
    """docs/repository-format.md, "Restoring by hand", steps 1-3, run as written."""
    options = {"repository": str(tmp_path / "repository")}
    data = b"".join(b"%d,order %d,%d.00\n" % (n, n, n * 3) for n in range(50000))
    seed(options, data=data, encryption_recipients=[str(identity.to_public())])
    key_file = tmp_path / "dr-key.txt"
    key_file.write_text(f"{identity}\n")
    key_file.chmod(0o600)

    document = (REPOSITORY_ROOT / "docs" / "repository-format.md").read_text()
    procedure = document.split("```bash\n", 1)[1].split("```", 1)[0]
    procedure = (procedure.replace("repo=/srv/backups", f"repo={options['repository']}")
                 .replace("/restore", str(tmp_path / "restore"))
                 .replace("/secure/dr-key.txt", str(key_file)))
    completed = subprocess.run(["bash", "-c", procedure], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "data/orders.csv.zst.age: OK" in completed.stdout
    assert (tmp_path / "restore" / "data" / "orders.csv").read_bytes() == data
    assert json.loads((tmp_path / "restore" / "verification.json").read_text()) == {"rows": {"orders": 2000}}
