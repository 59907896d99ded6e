# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Signed manifests: Ed25519 signatures over the exact bytes of manifest.json.

Backups are encrypted to public keys, so encryption says nothing about who
wrote a backup: anyone who can write to the repository can put a backup
there. A backup host holding a signing key (signing_key_file) writes
`manifest.json.sig` beside each manifest; a restore host given the public
keys (signing_public_keys) refuses a backup whose manifest is unsigned,
signed by another key, or changed since it was signed. The manifest lists
every file's size and SHA-256, and every read checks them, so the signature
covers the data too.

manifest.json.sig is JSON (docs/repository-format.md):

    {"format": "resilience.dr/signature", "format_version": 1, "algorithm": "ed25519",
     "key_id": "SHA256:...", "signed_file": "manifest.json", "signed_sha256": "<hex>",
     "signature": "<base64 of the 64-byte Ed25519 signature>"}

key_id is the key's OpenSSH fingerprint (what `ssh-keygen -lf key.pub`
prints). `openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in
manifest.json -sigfile sig.bin` checks it by hand.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DependencyMissing,
    IntegrityError,
    missing_library_message,
)

if t.TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

try:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
except ImportError:  # reported when signing is actually used
    HAS_CRYPTOGRAPHY = False

    class InvalidSignature(Exception):  # type: ignore[no-redef]
        """Stands in for cryptography's exception when the library is missing."""

    class UnsupportedAlgorithm(Exception):  # type: ignore[no-redef]
        """Stands in for cryptography's exception when the library is missing."""
else:
    HAS_CRYPTOGRAPHY = True


SIGNATURE_NAME = "manifest.json.sig"
SIGNATURE_FORMAT = "resilience.dr/signature"
SIGNATURE_FORMAT_VERSION = 1
ALGORITHM = "ed25519"


class SignatureError(IntegrityError):
    """A manifest that is unsigned, signed by an unknown key, or changed since it was signed."""


def require_cryptography() -> None:
    if not HAS_CRYPTOGRAPHY:
        raise DependencyMissing(missing_library_message("cryptography", "for signed manifests"))


def key_id(public_key: t.Any) -> str:
    """The OpenSSH fingerprint of a public key: SHA256: and the unpadded base64 of its wire form's digest."""
    line = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


class Signer:
    """Signs manifests with an Ed25519 private key."""

    def __init__(self, private_key: t.Any) -> None:
        self.private_key = private_key
        self.key_id = key_id(private_key.public_key())

    @classmethod
    def from_file(cls, path: str) -> Signer:
        """The key of signing_key_file: PEM (openssl genpkey -algorithm ed25519) or OpenSSH (ssh-keygen -t ed25519)."""
        require_cryptography()
        try:
            info = os.stat(path)
            if stat.S_IMODE(info.st_mode) & 0o077:
                raise ConfigurationError(
                    f"signing_key_file {path} has mode {stat.S_IMODE(info.st_mode):04o}, readable by group or others; "
                    f"a private key must be readable by its owner only: chmod 600 {path}"
                )
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise ConfigurationError(f"signing_key_file {path} cannot be read: {error.strerror}") from None
        key: PrivateKeyTypes  # any algorithm until the check below
        try:
            if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
                key = serialization.load_ssh_private_key(data, password=None)
            else:
                key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            # Never echo the content: it is a secret.
            hint = ("it is protected by a passphrase: give an unencrypted key (kept 0600, or written from a vault "
                    "for the run)") if "password" in str(error).lower() or "encrypted" in str(error).lower() else (
                "give an Ed25519 key made by `openssl genpkey -algorithm ed25519` or `ssh-keygen -t ed25519`")
            raise ConfigurationError(f"signing_key_file {path} is not a usable private key: {hint}") from None
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise ConfigurationError(
                f"signing_key_file {path} holds a {type(key).__name__.replace('_', '')} key; manifests are signed "
                "with Ed25519 keys (`openssl genpkey -algorithm ed25519` or `ssh-keygen -t ed25519`)"
            )
        return cls(key)

    def sign(self, manifest: bytes) -> bytes:
        """The content of manifest.json.sig for these exact manifest bytes."""
        document = {
            "format": SIGNATURE_FORMAT,
            "format_version": SIGNATURE_FORMAT_VERSION,
            "algorithm": ALGORITHM,
            "key_id": self.key_id,
            "signed_file": "manifest.json",
            "signed_sha256": hashlib.sha256(manifest).hexdigest(),
            "signature": base64.b64encode(self.private_key.sign(manifest)).decode("ascii"),
        }
        return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def parse_public_key(text: str, position: int) -> t.Any:
    """One entry of signing_public_keys: PEM (-----BEGIN PUBLIC KEY-----) or an OpenSSH line (ssh-ed25519 AAAA...)."""
    require_cryptography()
    data = str(text).strip().encode("utf-8")
    try:
        if data.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(data)
        else:
            key = serialization.load_ssh_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as error:
        shown = data[:60].decode("utf-8", "replace")
        raise ConfigurationError(
            f"signing_public_keys entry {position} ({shown!r}...) is not a public key ({error}); give the PEM of "
            "`openssl pkey -pubout` or the line of an ssh-ed25519 .pub file"
        ) from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigurationError(f"signing_public_keys entry {position} is not an Ed25519 key; manifests are "
                                 "signed with Ed25519 keys")
    return key


class Verifier:
    """Checks manifest signatures against the public keys a restore host trusts."""

    def __init__(self, public_keys: t.Sequence[t.Any]) -> None:
        self.keys = {key_id(key): key for key in public_keys}

    @classmethod
    def from_texts(cls, texts: t.Sequence[str]) -> Verifier:
        return cls([parse_public_key(text, position) for position, text in enumerate(texts, start=1)])

    def check(self, manifest: bytes, signature: bytes | None, label: str, where: str) -> str:
        """The key id that signed manifest (bytes of `where`); SignatureError naming the backup and the file otherwise."""
        trusted = ", ".join(sorted(self.keys))
        if signature is None:
            raise SignatureError(
                f"{label} is not signed: {where} has no {SIGNATURE_NAME} beside it, and signing_public_keys "
                f"({trusted}) require one; it was written by a host without signing_key_file, or by someone who can "
                "write to the repository. Restore a signed backup (backup_info shows which are), or sign backups "
                "with signing_key_file on the backup hosts"
            )
        try:
            document = json.loads(signature.decode("utf-8"))
            if not isinstance(document, dict) or document.get("format") != SIGNATURE_FORMAT:
                raise ValueError("not a resilience.dr signature")
            if document.get("algorithm") != ALGORITHM:
                raise ValueError(f"algorithm {document.get('algorithm')!r} is not ed25519")
            signer = str(document["key_id"])
            raw = base64.b64decode(str(document["signature"]), validate=True)
        except (UnicodeDecodeError, ValueError, KeyError, binascii.Error) as error:
            raise SignatureError(f"{label}: the signature of {where} is unreadable ({error}); the backup is refused")
        key = self.keys.get(signer)
        if key is None:
            raise SignatureError(
                f"{label}: {where} is signed by key {signer}, which is not among signing_public_keys ({trusted}); "
                "the backup is refused. Add that key's public half if it is one of your backup hosts' keys"
            )
        try:
            key.verify(raw, manifest)
        except InvalidSignature:
            raise SignatureError(
                f"{label}: {where} does not match its signature by key {signer}: the manifest was changed after it "
                "was signed (tampered with, or damaged); the backup is refused. Restore another backup and find out "
                "who changed this one"
            ) from None
        return signer


def signature_key_id(signature: bytes | None) -> str | None:
    """The key id a signature file names (not checked), for listings."""
    if not signature:
        return None
    try:
        document = json.loads(signature.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return str(document.get("key_id")) if isinstance(document, dict) and document.get("key_id") else None
