# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""files_backup and files_restore through ansible-playbook, with a local
repository and an encrypted one on the lab's moto S3.

Hostile archives are in test_files_hostile.py."""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._files import scan_tree

BACKUP = "resilience.dr.files_backup"
RESTORE = "resilience.dr.files_restore"


def make_tree(root):
    (root / "nested" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "nested" / "deeper" / "a.txt").write_text("alpha\n")
    (root / "with space ü.txt").write_text("unicode\n")
    (root / "new\nline").write_text("newline in the name\n")
    secret = root / "secret.key"
    secret.write_text("s3cr3t\n")
    secret.chmod(0o600)
    (root / "link-to-a").symlink_to("nested/deeper/a.txt")
    os.link(root / "nested" / "deeper" / "a.txt", root / "hard-a")
    (root / "cache").mkdir()
    (root / "cache" / "junk.tmp").write_text("not wanted\n")
    (root / "large.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    return root


def listing(root, **options):
    return {name: {key: value for key, value in entry.items() if key != "mtime" or entry["type"] == "file"}
            for name, entry in scan_tree(str(root), **options).items()}


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "src")


@pytest.fixture
def repo(tmp_path):
    return {"repository": str(tmp_path / "repository"), "component": f"files-{uuid.uuid4().hex[:8]}"}


def test_backup_and_restore_round_trip(ansible, repo, tree, tmp_path):
    target = tmp_path / "restored"
    backup_args = {**repo, "path": str(tree), "exclude": ["cache"], "compression_level": 1}
    check, backup = ansible.sequence([(BACKUP, backup_args, {"check": True}), (BACKUP, backup_args)])
    assert not check["failed"], check["msg"]
    assert check["changed"] and check["backup_id"] is None and check["files"] == 6
    assert not backup["failed"], backup["msg"]
    assert backup["changed"] and backup["files"] == 6 and backup["excluded"] == 1
    assert backup["bytes"] == sum(p.stat().st_size for p in tree.rglob("*") if p.is_file() and not p.is_symlink()
                                  and "cache" not in p.parts) - len("alpha\n")  # a hard link's content is stored once

    restore_args = {**repo, "path": str(target)}
    results = ansible.sequence([
        (RESTORE, restore_args, {"check": True, "diff": True}),
        (RESTORE, restore_args),
        (RESTORE, restore_args),
        (RESTORE, restore_args, {"check": True}),
    ])
    check, apply, again, check_again = results
    for result in results:
        assert not result["failed"], result["msg"]
        assert result["backup_id"] == backup["backup_id"]
    assert check["changed"] and "secret.key" in check["differences"]["missing"]
    assert apply["changed"] and apply["previous_path"] is None and apply["atomic_swap"] is True
    assert not again["changed"] and not check_again["changed"]
    expected = listing(tree)
    del expected["cache"], expected["cache/junk.tmp"]
    assert listing(target) == expected
    assert os.path.samefile(target / "hard-a", target / "nested" / "deeper" / "a.txt")
    assert (target / "secret.key").stat().st_mode & 0o777 == 0o600
    assert (target / "large.bin").read_bytes() == (tree / "large.bin").read_bytes()


def test_restore_over_damage_keeps_previous_and_subset_touches_only_paths(ansible, repo, tree, tmp_path):
    backup = ansible.module(BACKUP, {**repo, "path": str(tree), "compression_level": 1})
    assert not backup["failed"], backup["msg"]
    (tree / "nested" / "deeper" / "a.txt").write_text("ransomware\n")
    (tree / "secret.key").unlink()
    (tree / "unrelated").write_text("written after the backup\n")

    subset = ansible.module(RESTORE, {**repo, "path": str(tree), "paths": ["secret.key"], "keep_previous": False})
    assert not subset["failed"], subset["msg"]
    assert subset["changed"] and subset["differences"]["missing"] == ["secret.key"]
    assert (tree / "secret.key").read_text() == "s3cr3t\n"
    assert (tree / "nested" / "deeper" / "a.txt").read_text() == "ransomware\n"
    assert (tree / "unrelated").exists()

    full = ansible.module(RESTORE, {**repo, "path": str(tree)}, diff=True)
    assert not full["failed"], full["msg"]
    assert full["changed"] and full["differences"]["extra"] == ["unrelated"]
    assert "nested/deeper/a.txt" in full["differences"]["changed"]
    assert (tree / "nested" / "deeper" / "a.txt").read_text() == "alpha\n"
    assert not (tree / "unrelated").exists()
    previous = tmp_path / f"src.pre-restore-{backup['backup_id']}"
    assert full["previous_path"] == str(previous)
    assert (previous / "unrelated").read_text() == "written after the backup\n"


def test_restore_passes_over_a_newer_backup_that_failed_verification_and_warns_naming_it(ansible, repo, tree, tmp_path):
    older = ansible.module(BACKUP, {**repo, "path": str(tree), "compression_level": 1})
    assert not older["failed"], older["msg"]
    (tree / "written-later.txt").write_text("after the first backup\n")
    newer = ansible.module(BACKUP, {**repo, "path": str(tree), "compression_level": 1})
    assert not newer["failed"], newer["msg"]
    stored = next((Path(repo["repository"]) / repo["component"] / newer["backup_id"]).rglob("*.zst*"))
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    target = tmp_path / "restored"
    run = ansible.tasks([
        {"name": "verify", "resilience.dr.backup_verify": {**repo, "backup_id": newer["backup_id"]}, "ignore_errors": True},
        {"name": "restore", RESTORE: {**repo, "path": str(target)}, "ignore_errors": True},
    ])
    assert run.result("verify")["failed"]
    restore = run.result("restore")
    assert not restore["failed"], restore["msg"]
    assert restore["backup_id"] == older["backup_id"]
    assert [(item["backup_id"], item["status"]) for item in restore["skipped_backups"]] == [
        (newer["backup_id"], "failed_verification")]
    shown = " ".join(run.stdout.split())  # warnings are wrapped to the terminal's width
    assert (f"component {repo['component']}: restoring backup {older['backup_id']}, not the newer 1 backup(s) that "
            f"cannot be restored: {newer['backup_id']} (failed_verification: failed verification at") in shown
    assert not (target / "written-later.txt").exists() and (target / "secret.key").read_text() == "s3cr3t\n"


def test_restore_while_the_target_is_in_use_never_leaves_it_missing(ansible, repo, tree):
    backup = ansible.module(BACKUP, {**repo, "path": str(tree), "compression_level": 1})
    assert not backup["failed"], backup["msg"]
    (tree / "secret.key").write_text("damaged\n")
    handle = open(tree / "with space ü.txt", encoding="utf-8")  # a reader holding a file open
    seen_missing = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            if not (tree / "nested" / "deeper" / "a.txt").exists():
                seen_missing.append(True)
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = ansible.module(RESTORE, {**repo, "path": str(tree), "keep_previous": False})
    finally:
        stop.set()
        watcher.join()
        handle.close()
    assert not result["failed"], result["msg"]
    assert result["atomic_swap"] is True and result["previous_path"] is None
    assert (tree / "secret.key").read_text() == "s3cr3t\n"
    assert not seen_missing


def test_encrypted_round_trip_on_s3_and_clear_failures(ansible, aws, s3_bucket, tree, tmp_path):
    identity = x25519.Identity.generate()
    options = {"repository": f"s3://{s3_bucket}/files", **aws, "component": "config"}
    target = tmp_path / "restored"
    results = ansible.sequence([
        (BACKUP, {**options, "path": str(tree), "encryption_recipients": [str(identity.to_public())]}),
        (RESTORE, {**options, "path": str(target)}),
        (RESTORE, {**options, "path": str(target), "encryption_identity": str(identity)}),
        (BACKUP, {**options, "path": str(tmp_path / "missing")}),
        (RESTORE, {**options, "component": "never-backed-up", "path": str(target)}),
        (RESTORE, {**options, "path": str(target), "paths": ["../etc"], "encryption_identity": str(identity)}),
    ])
    backup, no_key, restored, missing_source, missing_backup, bad_subset = results
    assert not backup["failed"], backup["msg"]
    assert no_key["failed"] and "encryption_identity" in no_key["msg"]
    assert not restored["failed"], restored["msg"]
    assert restored["previous_path"] is None  # the failed restore before it left nothing behind
    assert restored["changed"] and (target / "secret.key").read_text() == "s3cr3t\n"
    assert missing_source["failed"] and str(tmp_path / "missing") in missing_source["msg"]
    assert missing_backup["failed"] and "never-backed-up" in missing_backup["msg"]
    assert bad_subset["failed"] and "../etc" in bad_subset["msg"]
