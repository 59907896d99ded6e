# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_copy's library between two local repositories."""

from __future__ import annotations

import errno
import json
import os
from datetime import timedelta

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    IntegrityError,
    RepositoryError,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy import copy_backups
from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_info
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy_options import (
    open_copy_repositories,
    parse_since,
    side_parameters,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import (
    COMPLETE,
    INCOMPLETE,
    VerifyOutcome,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._timing import utc_now

COMPONENT = "orders-db"


def repository(path, **options) -> Repository:
    options.setdefault("compression_level", 1)
    options.setdefault("lock_timeout", 0)
    return Repository(LocalBackend(str(path)), **options)


def take(repo, component=COMPONENT, files=None):
    files = files or {"data/rows.txt": os.urandom(3000) + b"rows " * 1000, "data/toc.dat": b"toc"}
    with repo.new_backup(component, kind="test", method="raw") as backup:
        for name, data in files.items():
            backup.add_bytes(name, data)
        backup.verification = {"rows": 1000}
    return backup.backup_id


def tree(path):
    return sorted(
        os.path.relpath(os.path.join(directory, name), path)
        for directory, _subdirectories, names in os.walk(path) for name in names
    )


@pytest.fixture
def sides(tmp_path):
    return repository(tmp_path / "source"), repository(tmp_path / "destination")


def test_check_mode_lists_then_copy_then_nothing_to_do(sides, tmp_path):
    source, destination = sides
    older, newer = take(source), take(source)

    predicted = copy_backups(source, destination, check_mode=True)
    assert predicted["changed"] and [item["backup_id"] for item in predicted["copied"]] == [older, newer]
    assert predicted["files_sent"] == 6 and not (tmp_path / "destination").exists()

    copied = copy_backups(source, destination)
    assert copied["changed"] and copied["files_sent"] == 6 and copied["bytes_sent"] == predicted["bytes_sent"]
    assert copied["diff"] == {"before": "", "after": "".join(sorted(f"{COMPONENT}/{item}\n" for item in (older, newer)))}
    assert copied["components"][COMPONENT]["newest_backup_id"] == newer
    assert copied["components"][COMPONENT]["source_newest_backup_id"] == newer

    entry = destination.select_backup(COMPONENT)
    assert entry.backup_id == newer and entry.status == COMPLETE
    assert destination.read_bytes(entry, "data/toc.dat") == b"toc"
    assert destination.verification_data(entry) == {"rows": 1000}
    assert entry.manifest.origin["repository"] == source.location and entry.manifest.origin["backup_id"] == newer
    assert destination.verify(entry).ok

    again = copy_backups(source, destination)
    assert not again["changed"] and again["copied"] == [] and again["files_sent"] == 0
    assert {item["backup_id"] for item in again["up_to_date"]} == {older, newer}
    assert not copy_backups(source, destination, check_mode=True)["changed"]


def test_filters_latest_only_components_and_since(sides):
    source, destination = sides
    take(source)
    newest = take(source)
    other = take(source, component="sessions")

    result = copy_backups(source, destination, components=[COMPONENT], latest_only=True, check_mode=True)
    assert [item["backup_id"] for item in result["copied"]] == [newest]
    assert list(result["components"]) == [COMPONENT]

    assert copy_backups(source, destination, since="2000-01-01T00:00:00Z", check_mode=True)["files_sent"] == 9
    assert copy_backups(source, destination, since="1h", components=["sessions"], check_mode=True)["copied"][0][
        "backup_id"] == other
    future = (utc_now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert copy_backups(source, destination, since=future, check_mode=True)["copied"] == []

    with pytest.raises(ConfigurationError, match=r"component\(s\) billing have no backups .*it has: orders-db, sessions"):
        copy_backups(source, destination, components=["billing"])


def test_parse_since_takes_times_and_durations():
    now = utc_now()
    assert parse_since(None, now) is None
    assert parse_since("36h", now) == now - timedelta(hours=36)
    assert parse_since("90", now) == now - timedelta(seconds=90)
    assert parse_since("2026-11-23T04:00:00Z", now).hour == 4
    with pytest.raises(ConfigurationError, match="since 'yesterday' is neither a time"):
        parse_since("yesterday", now)


def test_a_corrupted_source_file_is_refused_named_and_nothing_of_it_is_left(sides, tmp_path):
    source, destination = sides
    good = take(source)
    bad = take(source)
    record = source.find(COMPONENT, bad).manifest.file("data/rows.txt")
    stored = tmp_path / "source" / COMPONENT / bad / record.path
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))

    with pytest.raises(IntegrityError) as failure:
        copy_backups(source, destination)
    message = failure.value.message
    assert f"backup {bad} of component {COMPONENT}" in message and record.path in message
    assert "was not copied" in message and "1 other backup(s) were copied" in message
    assert failure.value.details["errors"][0]["file"] == record.path
    assert [item["backup_id"] for item in failure.value.details["copied"]] == [good]
    assert not (tmp_path / "destination" / COMPONENT / bad).exists()
    assert [entry.backup_id for entry in destination.list_backups(COMPONENT)] == [good]


def test_an_interrupted_copy_is_invisible_and_resumed_without_sending_finished_files(sides, tmp_path):
    source, destination = sides
    backup_id = take(source)
    copy_backups(source, destination)
    # What a copy killed before its manifest leaves: the data files, no manifest.
    os.unlink(tmp_path / "destination" / COMPONENT / backup_id / "manifest.json")
    assert destination.list_backups(COMPONENT)[0].status == INCOMPLETE

    predicted = copy_backups(source, destination, check_mode=True)
    assert predicted["copied"][0]["state"] == "resume" and predicted["copied"][0]["files_sent"] == 0

    resumed = copy_backups(source, destination)
    item = resumed["copied"][0]
    assert resumed["changed"] and item["state"] == "resume"
    assert item["files_sent"] == 0 and item["files_kept"] == 3
    assert destination.select_backup(COMPONENT).backup_id == backup_id


def test_a_damaged_file_left_by_an_interrupted_copy_is_sent_again(sides, tmp_path):
    source, destination = sides
    backup_id = take(source)
    copy_backups(source, destination)
    directory = tmp_path / "destination" / COMPONENT / backup_id
    os.unlink(directory / "manifest.json")
    path = directory / source.find(COMPONENT, backup_id).manifest.file("data/rows.txt").path
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF  # same size, other bytes
    path.write_bytes(bytes(data))

    item = copy_backups(source, destination)["copied"][0]
    assert item["files_sent"] == 1 and item["files_kept"] == 2
    assert destination.verify(destination.select_backup(COMPONENT)).ok


def test_a_copy_that_failed_verification_on_the_destination_is_repaired(sides, tmp_path):
    source, destination = sides
    backup_id = take(source)
    copy_backups(source, destination)
    entry = destination.find(COMPONENT, backup_id)
    path = tmp_path / "destination" / COMPONENT / backup_id / entry.manifest.file("data/rows.txt").path
    path.write_bytes(b"rot" + path.read_bytes()[3:])
    destination.record_verify_result(entry, destination.verify(entry))
    assert destination.find(COMPONENT, backup_id).status == "failed_verification"

    item = copy_backups(source, destination)["copied"][0]
    assert item["state"] == "repair" and item["files_sent"] == 1
    repaired = destination.find(COMPONENT, backup_id)
    assert repaired.status == COMPLETE and destination.verify(repaired).ok


def test_unusable_source_backups_are_left_out_with_the_reason(sides, tmp_path):
    source, destination = sides
    good = take(source)
    failed = take(source)
    entry = source.find(COMPONENT, failed)
    source.record_verify_result(entry, VerifyOutcome(
        backup_id=failed, level="content", ok=False, error="file data/rows.txt is damaged",
    ))
    result = copy_backups(source, destination)
    assert [item["backup_id"] for item in result["copied"]] == [good]
    assert result["left_out"] == [{
        "component": COMPONENT, "backup_id": failed, "status": "failed_verification",
        "reason": "file data/rows.txt is damaged",
    }]


def test_a_different_backup_under_the_same_id_is_left_alone(sides, tmp_path):
    source, destination = sides
    backup_id = take(source)
    copy_backups(source, destination)
    manifest_path = tmp_path / "destination" / COMPONENT / backup_id / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][0]["compressed_sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    before = manifest_path.read_bytes()

    with pytest.raises(RepositoryError, match=f"holds a different backup {backup_id} of component {COMPONENT}"):
        copy_backups(source, destination)
    assert manifest_path.read_bytes() == before


def test_reencryption_needs_the_source_identity_and_only_the_new_key_reads_the_copy(tmp_path):
    old, new = x25519.Identity.generate(), x25519.Identity.generate()
    source = repository(tmp_path / "source", recipients=[old.to_public()], recipient_keys=[str(old.to_public())])
    backup_id = take(source, files={"data/rows.txt": b"secret rows\n" * 5000})
    destination = repository(tmp_path / "destination", recipients=[new.to_public()], recipient_keys=[str(new.to_public())])

    with pytest.raises(ConfigurationError, match=f"backup {backup_id} of component {COMPONENT} is encrypted .*encryption_identity"):
        copy_backups(source, destination)
    assert not (tmp_path / "destination").exists()

    source.identities = [old]
    item = copy_backups(source, destination)["copied"][0]
    assert item["reencrypted"] and item["files_sent"] == 2
    assert not copy_backups(source, destination)["changed"]

    reader = repository(tmp_path / "destination", identities=[new])
    entry = reader.select_backup(COMPONENT)
    assert entry.manifest.encryption["recipients"] == [str(new.to_public())]
    assert entry.manifest.origin["reencrypted"] and entry.manifest.origin["source_recipients"] == [str(old.to_public())]
    assert reader.read_bytes(entry, "data/rows.txt") == b"secret rows\n" * 5000
    assert reader.verify(entry).ok
    assert not any(name.endswith("copy-progress.json") for name in tree(tmp_path / "destination"))
    with pytest.raises(RepositoryError):
        repository(tmp_path / "destination", identities=[old]).read_bytes(entry, "data/rows.txt")


def test_unencrypted_backups_are_encrypted_on_the_way(sides, tmp_path):
    source, _destination = sides
    take(source)
    key = x25519.Identity.generate()
    destination = repository(tmp_path / "vault", recipients=[key.to_public()], recipient_keys=[str(key.to_public())])
    copy_backups(source, destination)
    assert all(name.endswith(".age") or name.endswith("manifest.json") for name in tree(tmp_path / "vault"))
    reader = repository(tmp_path / "vault", identities=[key])
    assert reader.read_bytes(reader.select_backup(COMPONENT), "data/toc.dat") == b"toc"


def test_side_options_default_to_the_shared_ones_and_credentials_go_as_a_group():
    params = {
        "repository": "s3://primary/prod", "destination_repository": "s3://failover/prod",
        "region": "eu-central-1", "access_key": "AKIASHARED", "secret_key": "shared",
        "destination_region": "eu-west-1", "destination_profile": "dr-vault", "validate_certs": True,
    }
    source = side_parameters(params, "source")
    assert source["repository"] == "s3://primary/prod" and source["region"] == "eu-central-1"
    assert source["access_key"] == "AKIASHARED" and source["secret_key"] == "shared"
    destination = side_parameters(params, "destination")
    assert destination["region"] == "eu-west-1" and destination["profile"] == "dr-vault"
    assert destination["access_key"] is None and destination["secret_key"] is None


def test_the_same_repository_on_both_sides_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="the source and the destination are the same repository"):
        open_copy_repositories({"source_repository": str(tmp_path), "destination_repository": f"{tmp_path}/"})


class _FlippingBackend(LocalBackend):
    """Stores every object with its first byte changed: a storage fault the read-back check must catch."""

    def open_write(self, key):
        writer = super().open_write(key)
        first = []

        class Flipping:
            def write(self, data):
                if not first and data:
                    first.append(True)
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                return writer.write(data)

            def commit(self):
                return writer.commit()

            def abort(self):
                return writer.abort()

        return Flipping()


def test_a_file_stored_wrongly_on_the_destination_is_removed_and_reported(sides, tmp_path):
    source, _destination = sides
    backup_id = take(source)
    destination = Repository(_FlippingBackend(str(tmp_path / "faulty")), lock_timeout=0)
    with pytest.raises(IntegrityError, match=r"the copy on the destination differs from what was sent .* it was removed"):
        copy_backups(source, destination)
    leftovers = tree(tmp_path / "faulty")
    assert not any(name.endswith("manifest.json") for name in leftovers)
    assert destination.list_backups(COMPONENT) == [] or destination.list_backups(COMPONENT)[0].status == INCOMPLETE
    assert backup_id


# ----------------------------------------------------------------------------- local files copied by the kernel


def _partials(path):
    return [name for name in tree(path) if ".partial-" in name]


def test_a_local_copy_is_made_by_the_kernel_and_checked_once(sides, tmp_path, monkeypatch):
    source, destination = sides
    take(source)
    calls = []
    real = os.copy_file_range

    def counting(*arguments):
        calls.append(arguments[2])
        return real(*arguments)

    monkeypatch.setattr(os, "copy_file_range", counting)
    hashed = []
    real_digest = LocalBackend.stored_digest
    monkeypatch.setattr(LocalBackend, "stored_digest", lambda self, key: hashed.append(key) or real_digest(self, key))

    item = copy_backups(source, destination)["copied"][0]
    assert item["files_sent"] == 3 and item["checked_by"] == ["read back"]
    assert calls  # the data went file to file in the kernel
    assert hashed == []  # the source was not hashed on its own: the destination's check covered it
    assert destination.verify(destination.select_backup(COMPONENT)).ok
    assert _partials(tmp_path / "destination") == []


@pytest.mark.parametrize("refused", [["copy_file_range"], ["copy_file_range", "sendfile"]])
def test_a_local_copy_falls_back_when_the_kernel_cannot_copy(sides, monkeypatch, refused):
    source, destination = sides
    take(source)

    def refuse(*_arguments):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    for name in refused:
        monkeypatch.setattr(os, name, refuse)
    item = copy_backups(source, destination)["copied"][0]
    assert item["files_sent"] == 3
    assert destination.verify(destination.select_backup(COMPONENT)).ok


def test_a_kernel_copy_damaged_on_the_destination_is_removed_and_reported(sides, tmp_path, monkeypatch):
    source, destination = sides
    backup_id = take(source)
    real = os.copy_file_range

    def damaging(source_fd, target_fd, count, *rest):
        copied = real(source_fd, target_fd, count, *rest)
        if copied:
            os.pwrite(target_fd, b"\xff", 0)  # a fault between the copy and the disk
        return copied

    monkeypatch.setattr(os, "copy_file_range", damaging)
    with pytest.raises(IntegrityError, match=r"the copy on the destination differs from what was sent .* it was removed") as failure:
        copy_backups(source, destination)
    assert "run the copy again" in failure.value.message and "was not copied" not in failure.value.message
    assert _partials(tmp_path / "destination") == []
    assert not any(name.endswith("manifest.json") for name in tree(tmp_path / "destination"))
    # The source is intact: once the fault is gone, the copy goes through.
    monkeypatch.setattr(os, "copy_file_range", real)
    assert copy_backups(source, destination)["copied"][0]["backup_id"] == backup_id


def test_a_truncated_local_source_is_refused_before_it_is_copied(sides, tmp_path):
    source, destination = sides
    backup_id = take(source)
    record = source.find(COMPONENT, backup_id).manifest.file("data/rows.txt")
    stored = tmp_path / "source" / COMPONENT / backup_id / record.path
    stored.write_bytes(stored.read_bytes()[:-5])

    with pytest.raises(IntegrityError) as failure:
        copy_backups(source, destination)
    message = failure.value.message
    assert f"file {record.path} has {record.size - 5} bytes where the manifest records {record.size}" in message
    assert "was not copied" in message and "backup_verify" in message
    assert not (tmp_path / "destination" / COMPONENT / backup_id).exists()


def test_the_copy_lag_and_where_the_newest_copy_came_from(tmp_path):
    moment = [utc_now().replace(microsecond=0)]

    def clock():
        return moment[0]

    source = repository(tmp_path / "source", clock=clock)
    destination = repository(tmp_path / "destination", clock=clock)
    first = take(source)
    moment[0] += timedelta(seconds=30)
    copied = copy_backups(source, destination)
    assert copied["components"][COMPONENT]["copy_lag_s"] == 0
    figures = backup_info(destination)["components"][COMPONENT]
    assert figures["newest_backup_id"] == first and figures["newest_age_s"] == 30
    assert figures["newest_copied_from"] == source.location and figures["newest_copied_at"]
    assert backup_info(source)["components"][COMPONENT]["newest_copied_from"] is None

    # A newer backup not yet copied: the destination is behind by the time between the two backups.
    moment[0] += timedelta(seconds=70)
    take(source)
    moment[0] += timedelta(seconds=5)
    behind = copy_backups(source, destination, check_mode=True)["components"][COMPONENT]
    assert behind["copy_lag_s"] == 100 and behind["newest_backup_id"] == first

    empty = repository(tmp_path / "nothing-yet", clock=clock)
    assert copy_backups(source, empty, check_mode=True)["components"][COMPONENT]["copy_lag_s"] is None
