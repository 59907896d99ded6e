# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signed manifests through ansible-playbook, on a local directory and on the lab's moto S3: a backup
host signs with signing_key_file, restores given signing_public_keys refuse unsigned and tampered
backups, backup_info shows which are signed, backup_copy keeps the signature."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

from .test_repository import replace_object, stored_objects

BACKUP = "resilience.dr.files_backup"
RESTORE = "resilience.dr.files_restore"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A backup host's private key as openssl writes it and its public half (PEM); another key, as ssh-keygen writes it."""
    directory = tmp_path_factory.mktemp("signing")
    private = directory / "signing.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private)], check=True, capture_output=True)
    os.chmod(private, 0o600)
    public = subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout"], check=True, capture_output=True, text=True)
    other = directory / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    return {"private": str(private), "public": public.stdout, "other": (directory / "other.pub").read_text()}


@pytest.fixture(params=["local", "s3"])
def repo(request, tmp_path, aws):
    component = f"files-{uuid.uuid4().hex[:8]}"
    if request.param == "local":
        return {"repository": str(tmp_path / "repository"), "component": component}
    bucket = request.getfixturevalue("s3_bucket")
    return {"repository": f"s3://{bucket}/backups", "component": component, **aws}


def test_a_signed_repository_restores_signed_backups_and_refuses_unsigned_or_tampered_ones(ansible, repo, keys, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "orders.csv").write_text("id,total\n1,10\n")
    trusted = {"signing_public_keys": [keys["public"]]}
    signed, unsigned = ansible.sequence([
        (BACKUP, {**repo, "path": str(source), "signing_key_file": keys["private"]}),
        (BACKUP, {**repo, "path": str(source)}),
    ])
    assert not signed["failed"] and not unsigned["failed"], (signed.get("msg"), unsigned.get("msg"))
    signed_id, unsigned_id = signed["backup_id"], unsigned["backup_id"]
    stored = stored_objects(repo)
    prefix = f"{repo['component']}/{signed_id}"
    assert f"{prefix}/manifest.json.sig" in stored and f"{repo['component']}/{unsigned_id}/manifest.json.sig" not in stored
    target = tmp_path / "restored"

    newest, by_id, untrusting, info = ansible.sequence([
        (RESTORE, {**repo, **trusted, "path": str(tmp_path / "newest")}),
        (RESTORE, {**repo, **trusted, "path": str(target), "backup_id": signed_id}),
        (RESTORE, {**repo, "signing_public_keys": [keys["other"]], "path": str(tmp_path / "other"),
                   "backup_id": signed_id}),
        ("resilience.dr.backup_info", {**repo, **trusted}),
    ])
    assert newest["failed"] and f"backup {unsigned_id} of component {repo['component']} is not signed" in newest["msg"]
    assert f"{repo['component']}/{unsigned_id}/manifest.json" in newest["msg"] and "give its backup_id" in newest["msg"]
    assert not (tmp_path / "newest").exists()
    assert not by_id["failed"] and by_id["changed"], by_id.get("msg")
    assert (target / "orders.csv").read_text() == "id,total\n1,10\n"
    assert untrusting["failed"] and "is not among signing_public_keys" in untrusting["msg"]
    listed = {item["backup_id"]: item for item in info["backups"]}
    assert listed[unsigned_id]["status"] == "untrusted" and listed[unsigned_id]["signature"]["signed"] is False
    assert listed[signed_id]["signature"]["valid"] is True and listed[signed_id]["status"] == "complete"

    # Tampered with after it was signed: the manifest now names another host.
    manifest = json.loads(stored[f"{prefix}/manifest.json"])
    manifest["host"] = "attacker"
    replace_object(repo, f"{prefix}/manifest.json", json.dumps(manifest, indent=2).encode() + b"\n")
    tampered, verified = ansible.sequence([
        (RESTORE, {**repo, **trusted, "path": str(tmp_path / "again"), "backup_id": signed_id}),
        ("resilience.dr.backup_verify", {**repo, **trusted, "backup_id": signed_id}),
    ])
    assert tampered["failed"] and f"backup {signed_id}" in tampered["msg"], tampered["msg"]
    assert f"{prefix}/manifest.json does not match its signature" in tampered["msg"]
    assert not (tmp_path / "again").exists()
    assert verified["failed"] and "does not match its signature" in verified["msg"]
    # backup_verify recorded the failure, so hosts without the public keys refuse the tampered backup too;
    # without keys nothing else is checked: the unsigned backup restores as before.
    recorded, plain = ansible.sequence([
        (RESTORE, {**repo, "path": str(tmp_path / "recorded"), "backup_id": signed_id}),
        (RESTORE, {**repo, "path": str(tmp_path / "plain")}),
    ])
    assert recorded["failed"] and "failed verification" in recorded["msg"] and "does not match" in recorded["msg"]
    assert not plain["failed"] and plain["backup_id"] == unsigned_id, plain.get("msg")


def test_a_copy_keeps_the_original_signature(ansible, keys, tmp_path, aws, s3_bucket):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a\n")
    component = f"files-{uuid.uuid4().hex[:8]}"
    local = {"repository": str(tmp_path / "repository"), "component": component}
    backup = ansible.module(BACKUP, {**local, "path": str(source), "signing_key_file": keys["private"]})
    assert not backup["failed"], backup["msg"]
    remote = {"repository": f"s3://{s3_bucket}/copies", "component": component, **aws}
    copied = ansible.module("resilience.dr.backup_copy", {
        "source_repository": local["repository"], "destination_repository": remote["repository"],
        "signing_public_keys": [keys["public"]], **aws,
    })
    assert not copied["failed"] and copied["changed"], copied.get("msg")
    prefix = f"{component}/{backup['backup_id']}"
    stored = stored_objects(remote)
    assert stored[f"{prefix}/manifest.json"] == (tmp_path / "repository" / prefix / "manifest.json").read_bytes()
    assert json.loads(stored[f"{prefix}/origin.json"])["repository"] == local["repository"]
    restored = ansible.module(RESTORE, {**remote, "signing_public_keys": [keys["public"]],
                                        "path": str(tmp_path / "restored")})
    assert not restored["failed"] and restored["backup_id"] == backup["backup_id"], restored.get("msg")
    assert (tmp_path / "restored" / "a.txt").read_text() == "a\n"
