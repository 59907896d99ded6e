# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Evidence of a security incident, collected on the host of one component.

Each piece is a file in a private staging directory (0700, files 0600) with
what it is, where and when (UTC) it was collected, its size and the SHA-256
of its bytes, computed here, on the host it came from. evidence_store checks
that SHA-256 again when it stores the piece in the repository, so a piece
changed on its way to the repository is refused (chain of custody).

Pieces: PostgreSQL pg_stat_activity and the authentication failures of the
server's current log file (when the connection may read it), Redis CLIENT
LIST and ACL LOG, and the log files the plan names. Where this code writes
the text (sessions, clients) the connection's own password is replaced by
********; log files are copied as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import typing as t
from dataclasses import asdict, dataclass

from ansible_collections.resilience.dr.plugins.module_utils._atomic import private_file
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable
from ansible_collections.resilience.dr.plugins.module_utils._timing import Clock, format_time, utc_now

KINDS = ("postgresql", "redis", "files")
REDACTED = "********"
# Lines of the PostgreSQL log that say a login was refused.
AUTH_FAILURE = re.compile(r"authentication failed|no pg_hba\.conf entry|password does not match|"
                          r"role \"[^\"]*\" does not exist|FATAL:  too many connections")
AUTH_FAILURE_LINES = 5000  # the newest lines of the log kept


@dataclass
class Piece:
    """One file of evidence, as recorded in the evidence set's manifest."""

    name: str  # its name in the evidence set: <component>/<file>
    what: str  # pg_stat_activity, auth_failures, client_list, acl_log, log_file
    component: str
    host: str  # where it was collected
    source: str  # what it was read from (server address, log file path; never a password)
    collected_at: str = ""
    size: int = 0
    sha256: str = ""

    @classmethod
    def from_dict(cls, data: t.Mapping[str, t.Any]) -> Piece:
        try:
            keys = ("name", "what", "component", "host", "source", "collected_at", "size", "sha256")
            return cls(**{key: data[key] for key in keys})
        except KeyError as error:
            raise ConfigurationError(f"an evidence piece misses {error}: give the pieces evidence_collect returned") from None


def redact(text: str, secrets: t.Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def sha256_file(path: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


class Collector:
    """Writes the pieces of one component into directory/<component>/, each with its time and SHA-256."""

    def __init__(self, directory: str, component: str, *, check_mode: bool, clock: Clock = utc_now,
                 host: str | None = None) -> None:
        self.directory = directory
        self.component = component
        self.check_mode = check_mode
        self.clock = clock
        self.host = host or socket.gethostname()
        self.pieces: list[Piece] = []

    def _piece(self, file_name: str, what: str, source: str) -> Piece:
        piece = Piece(name=f"{self.component}/{file_name}", what=what, component=self.component, host=self.host,
                      source=source)
        self.pieces.append(piece)
        return piece

    def path(self, piece: Piece) -> str:
        return os.path.join(self.directory, piece.name)

    def _prepare(self) -> None:
        # The staging directory's parents may not exist on a component's host (the path is the controller's).
        path = os.path.join(self.directory, self.component)
        try:
            os.makedirs(self.directory, 0o700, exist_ok=True)
            os.makedirs(path, 0o700, exist_ok=True)
        except OSError as error:
            raise ConfigurationError(f"cannot create the evidence directory {path} on {self.host}: {error.strerror}") from None

    def add_text(self, file_name: str, what: str, source: str, produce: t.Callable[[], str]) -> None:
        piece = self._piece(file_name, what, source)
        if self.check_mode:
            return
        self._prepare()
        piece.collected_at = format_time(self.clock())
        with private_file(self.path(piece)) as handle:
            handle.write(produce().encode("utf-8"))
        piece.size, piece.sha256 = sha256_file(self.path(piece))

    def add_file(self, path: str) -> None:
        piece = self._piece("log-" + re.sub(r"[^A-Za-z0-9._-]", "_", path.strip("/")), "log_file", path)
        if self.check_mode:
            return
        self._prepare()
        piece.collected_at = format_time(self.clock())
        try:
            source = open(path, "rb")
        except OSError as error:
            raise SourceUnavailable(f"cannot read the log file {path} on {self.host} for the evidence of "
                                    f"{self.component}: {error.strerror}") from None
        with source, private_file(self.path(piece)) as handle:
            for chunk in iter(lambda: source.read(1024 * 1024), b""):
                handle.write(chunk)
        piece.size, piece.sha256 = sha256_file(self.path(piece))

    def result(self) -> dict[str, t.Any]:
        return {"changed": bool(self.pieces) and not self.check_mode, "component": self.component,
                "host": self.host, "directory": self.directory, "pieces": [asdict(piece) for piece in self.pieces]}


def auth_failures(log_text: str) -> str:
    """The lines of a PostgreSQL log that record refused logins (of its newest AUTH_FAILURE_LINES lines)."""
    lines = log_text.splitlines()[-AUTH_FAILURE_LINES:]
    return "".join(line + "\n" for line in lines if AUTH_FAILURE.search(line))


def as_json(value: t.Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"
