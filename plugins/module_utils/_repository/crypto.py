# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""age encryption (age-encryption.org/v1) of backup files through pyrage.

Backups are encrypted to public keys (recipients), so a host that takes
backups holds nothing that reads them; the identity (secret key) is needed
only to restore or to verify decryptability. Debian's `age -d -i key.txt`
decrypts every file by hand.
"""

from __future__ import annotations

import os
import stat
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DependencyMissing,
    EncryptionError,
    IntegrityError,
    missing_library_message,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.stream_io import GatheringWriter

try:
    import pyrage
    from pyrage import x25519
except ImportError:  # reported when encryption is actually used
    pyrage = None
    x25519 = None

IDENTITY_PREFIX = "AGE-SECRET-KEY-1"
RECIPIENT_PREFIX = "age1"


def require_pyrage() -> None:
    if pyrage is None:
        raise DependencyMissing(missing_library_message("pyrage", "for age encryption"))


def parse_recipients(values: t.Sequence[str]) -> list[t.Any]:
    """age X25519 public keys (age1...), each checked; the error names the bad one."""
    require_pyrage()
    recipients = []
    for position, value in enumerate(values, start=1):
        text = str(value).strip()
        try:
            if not text.startswith(RECIPIENT_PREFIX):
                raise ValueError("does not start with age1")
            recipients.append(x25519.Recipient.from_str(text))
        except (ValueError, pyrage.RecipientError) as error:
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise ConfigurationError(
                f"encryption_recipients entry {position} ({shown!r}) is not an age public key ({error}); "
                "give keys as printed by `age-keygen -y key.txt`, starting with age1"
            ) from None
    return recipients


def parse_identities(text: str, source: str) -> list[t.Any]:
    """Secret keys from the content of an age identity file (comments and blank lines allowed)."""
    require_pyrage()
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if not line.upper().startswith(IDENTITY_PREFIX):
                raise ValueError("not an AGE-SECRET-KEY-1 line")
            identities.append(x25519.Identity.from_str(line))
        except (ValueError, pyrage.IdentityError):
            # Never echo the line: it may be (part of) a secret.
            raise ConfigurationError(f"{source}: line {number} is not an age secret key (AGE-SECRET-KEY-1...)") from None
    if not identities:
        raise ConfigurationError(f"{source} holds no age secret key (a line starting with AGE-SECRET-KEY-1)")
    return identities


def load_identity_file(path: str) -> list[t.Any]:
    """Identities from a file readable by its owner only (like ssh refuses a shared private key)."""
    try:
        info = os.stat(path)
    except OSError as error:
        raise ConfigurationError(f"encryption_identity_file {path} cannot be read: {error.strerror}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise ConfigurationError(
            f"encryption_identity_file {path} has mode {stat.S_IMODE(info.st_mode):04o}, readable by group or others; "
            f"a secret key must be readable by its owner only: chmod 600 {path}"
        )
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_identities(handle.read(), f"encryption_identity_file {path}")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"encryption_identity_file {path} cannot be read: {error}") from None


def public_keys(identities: t.Sequence[t.Any]) -> list[str]:
    return [str(identity.to_public()) for identity in identities]


def encrypt_stream(source: t.BinaryIO, sink: t.BinaryIO, recipients: t.Sequence[t.Any]) -> None:
    """Encrypt everything read from source into sink, in constant memory."""
    require_pyrage()
    try:
        pyrage.encrypt_io(source, sink, list(recipients))
    except pyrage.EncryptError as error:
        raise EncryptionError(f"age encryption failed: {error}") from None


def decrypt_stream(source: t.BinaryIO, sink: t.BinaryIO, identities: t.Sequence[t.Any], what: str) -> None:
    """Decrypt source into sink; a wrong key or damaged data names `what`."""
    require_pyrage()
    gathered = GatheringWriter(sink)
    try:
        pyrage.decrypt_io(source, gathered, list(identities))
    except pyrage.DecryptError as error:
        detail = str(error)
        if "no matching keys" in detail.lower() or "no identity" in detail.lower():
            raise EncryptionError(
                f"{what} cannot be decrypted with the identity given: it was encrypted to other keys; "
                "use the identity whose public key the manifest lists under encryption.recipients"
            ) from None
        raise EncryptionError(f"{what} cannot be decrypted: {detail}") from None
    except OSError as error:
        # pyrage reports a damaged payload chunk (failed authentication) as a bare OSError.
        if str(error) != "decryption error":
            raise
        raise IntegrityError(
            f"{what} is damaged: a chunk of its encrypted data failed authentication; the backup is unusable: "
            "restore an older one (backup_info lists them) and run backup_verify on the repository"
        ) from None
    gathered.flush()
