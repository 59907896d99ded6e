# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signed manifests: keys as openssl and ssh-keygen make them, refusals, copies, and checking by hand."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, IntegrityError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy import copy_backups
from ansible_collections.resilience.dr.plugins.module_utils._repository.operations import backup_info, backup_verify
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.entries import COMPLETE, UNTRUSTED
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.signing import (
    SIGNATURE_NAME,
    SignatureError,
    Signer,
    Verifier,
)

COMPONENT = "orders-db"
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two key pairs: one made by openssl (PEM), one by ssh-keygen (OpenSSH); their public halves as users give them."""
    directory = tmp_path_factory.mktemp("keys")
    pem = directory / "signing.pem"
    run("openssl", "genpkey", "-algorithm", "ed25519", "-out", str(pem))
    os.chmod(pem, 0o600)
    ssh = directory / "signing_ed25519"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "backup@db1", "-f", str(ssh))
    return {
        "pem": str(pem), "pem_public": run("openssl", "pkey", "-in", str(pem), "-pubout"),
        "ssh": str(ssh), "ssh_public": (directory / "signing_ed25519.pub").read_text(),
        "ssh_fingerprint": run("ssh-keygen", "-lf", str(directory / "signing_ed25519.pub")).split()[1],
        "directory": directory,
    }


def take(repo: Repository, data: bytes = b"rows\n" * 1000) -> str:
    with repo.new_backup(COMPONENT, kind="test", method="raw") as backup:
        backup.add_bytes("data/rows.txt", data)
    return backup.backup_id


def options(path, **more):
    return {"repository": str(path), "compression_level": 1, "lock_timeout": 0, **more}


@pytest.mark.parametrize("kind", ["pem", "ssh"])
def test_a_signed_backup_is_trusted_by_its_public_key_in_either_form(tmp_path, keys, kind):
    writer = open_repository(options(tmp_path / "repo", signing_key_file=keys[kind]))
    backup_id = take(writer)
    stored = tmp_path / "repo" / COMPONENT / backup_id
    assert oct(os.stat(stored / SIGNATURE_NAME).st_mode & 0o777) == "0o600"

    for public in (keys["pem_public"], keys["ssh_public"]):
        reader = open_repository(options(tmp_path / "repo", signing_public_keys=[public]))
        if public == keys[f"{kind}_public"]:
            entry = reader.select_backup(COMPONENT)
            assert entry.backup_id == backup_id and entry.signature["valid"] and entry.status == COMPLETE
            assert reader.read_bytes(entry, "data/rows.txt") == b"rows\n" * 1000
        else:
            with pytest.raises(SignatureError, match="signed by key SHA256:.* not among signing_public_keys"):
                reader.select_backup(COMPONENT, backup_id)


def test_the_key_id_is_the_fingerprint_ssh_keygen_prints(tmp_path, keys):
    take(open_repository(options(tmp_path / "repo", signing_key_file=keys["ssh"])))
    signature = next((tmp_path / "repo" / COMPONENT).glob(f"*/{SIGNATURE_NAME}"))
    assert json.loads(signature.read_text())["key_id"] == keys["ssh_fingerprint"]


def test_an_unsigned_backup_is_refused_naming_the_backup_and_the_manifest(tmp_path, keys):
    backup_id = take(open_repository(options(tmp_path / "repo")))
    reader = open_repository(options(tmp_path / "repo", signing_public_keys=[keys["pem_public"]]))
    with pytest.raises(SignatureError) as raised:
        reader.select_backup(COMPONENT, backup_id)
    assert f"backup {backup_id} of component {COMPONENT} is not signed" in raised.value.message
    assert f"{COMPONENT}/{backup_id}/manifest.json" in raised.value.message
    # Without public keys the same backup restores as before.
    assert open_repository(options(tmp_path / "repo")).select_backup(COMPONENT).backup_id == backup_id


def test_a_tampered_manifest_is_refused_and_a_newer_forged_backup_stops_the_choice_of_the_newest(tmp_path, keys):
    writer = open_repository(options(tmp_path / "repo", signing_key_file=keys["pem"]))
    good, tampered = take(writer), take(writer)
    manifest = tmp_path / "repo" / COMPONENT / tampered / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"retention_class": "standard"', '"retention_class": "pinned"'))
    reader = open_repository(options(tmp_path / "repo", signing_public_keys=[keys["pem_public"]]))

    with pytest.raises(SignatureError, match=f"backup {tampered} .*manifest.json does not match its signature"):
        reader.select_backup(COMPONENT, tampered)
    with pytest.raises(SignatureError, match=f"newest backup of component {COMPONENT}.*give its backup_id"):
        reader.select_backup(COMPONENT)
    assert reader.select_backup(COMPONENT, good).backup_id == good

    listed = {item["backup_id"]: item for item in backup_info(reader, component=COMPONENT)["backups"]}
    assert listed[tampered]["status"] == UNTRUSTED and listed[tampered]["signature"] == {"signed": True, "valid": False}
    assert listed[good]["signature"]["valid"] and listed[good]["signature"]["key_id"].startswith("SHA256:")
    with pytest.raises(IntegrityError, match="does not match its signature"):
        backup_verify(reader, component=COMPONENT, record=False)


def test_a_signature_is_written_before_the_manifest(tmp_path, keys):
    order = []

    class Recording(LocalBackend):
        def write_bytes(self, key, data):
            order.append(key.rsplit("/", 1)[-1])
            super().write_bytes(key, data)

    take(Repository(Recording(str(tmp_path / "repo")), signer=Signer.from_file(keys["pem"]), lock_timeout=0))
    assert order[-2:] == [SIGNATURE_NAME, "manifest.json"]


@needs_openssl
def test_a_signature_checks_by_hand_with_openssl(tmp_path, keys):
    backup_id = take(open_repository(options(tmp_path / "repo", signing_key_file=keys["pem"])))
    stored = tmp_path / "repo" / COMPONENT / backup_id
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(json.loads((stored / SIGNATURE_NAME).read_text())["signature"]))
    (tmp_path / "pub.pem").write_text(keys["pem_public"])
    checked = run("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin",
                  "-in", str(stored / "manifest.json"), "-sigfile", str(tmp_path / "sig.bin"))
    assert "Signature Verified Successfully" in checked


def test_a_copy_keeps_the_original_signature_and_a_reencrypting_copy_is_signed_by_the_copying_host(tmp_path, keys):
    source = open_repository(options(tmp_path / "source", signing_key_file=keys["pem"]))
    backup_id = take(source)
    copy_backups(source, open_repository(options(tmp_path / "plain")))
    original = (tmp_path / "source" / COMPONENT / backup_id)
    copied = (tmp_path / "plain" / COMPONENT / backup_id)
    assert (copied / "manifest.json").read_bytes() == (original / "manifest.json").read_bytes()
    assert json.loads((copied / "origin.json").read_text())["backup_id"] == backup_id
    trusting = open_repository(options(tmp_path / "plain", signing_public_keys=[keys["pem_public"]]))
    assert trusting.select_backup(COMPONENT).signature["valid"]

    new = x25519.Identity.generate()
    reencrypting = open_repository(options(tmp_path / "sealed", encryption_recipients=[str(new.to_public())],
                                           signing_key_file=keys["ssh"]))
    copy_backups(source, reencrypting)
    reader = open_repository(options(tmp_path / "sealed", signing_public_keys=[keys["ssh_public"]],
                                     encryption_identity=str(new)))
    entry = reader.select_backup(COMPONENT)
    assert entry.manifest.origin["reencrypted"] and reader.read_bytes(entry, "data/rows.txt") == b"rows\n" * 1000
    with pytest.raises(SignatureError, match="not among signing_public_keys"):
        open_repository(options(tmp_path / "sealed", signing_public_keys=[keys["pem_public"]])).select_backup(COMPONENT)


def test_bad_keys_are_refused_with_what_to_do(tmp_path, keys):
    rsa = tmp_path / "rsa.pem"
    run("openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024", "-out", str(rsa))
    os.chmod(rsa, 0o600)
    with pytest.raises(ConfigurationError, match="manifests are signed with Ed25519 keys"):
        Signer.from_file(str(rsa))
    shared = tmp_path / "shared.pem"
    shutil.copy(keys["pem"], shared)
    os.chmod(shared, 0o640)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        Signer.from_file(str(shared))
    locked = tmp_path / "locked"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "a passphrase", "-f", str(locked))
    with pytest.raises(ConfigurationError, match="passphrase"):
        Signer.from_file(str(locked))
    with pytest.raises(ConfigurationError, match="signing_public_keys entry 2 .*not a public key"):
        Verifier.from_texts([keys["ssh_public"], "ssh-ed25519 AAAAnotbase64"])
    with pytest.raises(ConfigurationError, match="entry 1 is not an Ed25519 key"):
        Verifier.from_texts([run("openssl", "pkey", "-in", str(rsa), "-pubout")])
