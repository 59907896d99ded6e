# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The errors this collection reports.

Every failure a user can act on is a DrError with a message that says what
failed, where (component, backup id, file, host:port) and what to do next.
Modules catch DrError once, at their boundary, and turn it into fail_json;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import typing as t


class DrError(Exception):
    """Base of every error the collection reports to its user."""

    def __init__(self, message: str, **details: t.Any) -> None:
        super().__init__(message)
        self.message = message
        # Extra keys for the failure result (component, backup_id, path, ...).
        self.details = {key: value for key, value in details.items() if value is not None}

    def __str__(self) -> str:
        return self.message

    def with_context(self, context: str) -> DrError:
        """A copy of this error whose message ends with context: what else went wrong while failing.

        The copy keeps the class and the details, so that handlers and the failure result see the same
        error; raise it `from` the original. The original is left as it was, so that a caller still
        holding it never sees its message change.
        """
        extended = self.__class__.__new__(self.__class__)
        extended.__dict__.update(self.__dict__)
        extended.details = dict(self.details)
        extended.message = f"{self.message}; {context}"
        Exception.__init__(extended, extended.message)
        return extended


class ConfigurationError(DrError):
    """Options that cannot work together, beyond what the argument spec checks."""


class DependencyMissing(DrError):
    """A Python library or a program the operation needs is not installed."""


def missing_library_message(library: str, purpose: str) -> str:
    """The message for a Python library that is not installed on the host running the module."""
    return (
        f"the Python library {library} is required {purpose} but is not installed for the Python "
        f"that runs this module; install it there (pip install {library}) or set ansible_python_interpreter "
        f"to a Python that has it"
    )


class SourceUnavailable(DrError):
    """A server, endpoint or file the operation reads from cannot be reached."""


class CommandFailed(DrError):
    """An external program ended with a non-zero status."""


class RepositoryError(DrError):
    """The backup repository cannot be read or written."""


class BackupNotFound(RepositoryError):
    """No (complete) backup matches what was asked for."""


class IntegrityError(RepositoryError):
    """Stored data does not match its recorded size or checksum."""


class EncryptionError(RepositoryError):
    """Data cannot be encrypted or decrypted with the keys given."""


class LockHeld(RepositoryError):
    """Another writer holds the lock of a component."""


class StaleLock(LockHeld):
    """A lock whose holder is gone; it is broken only when asked to."""


class SwapFailed(DrError):
    """A verified restore could not be put in place of the live data; the message says where each copy is."""


class TargetNotEmpty(DrError):
    """A restore target holds data and the options do not allow replacing it."""


class VerificationFailed(DrError):
    """Restored data does not match what the backup recorded."""


class WaitTimeout(DrError):
    """Something did not reach the wanted state in the time allowed."""


class GateRefused(DrError):
    """A safety gate (health, RPO, expected current state) refused the change."""
