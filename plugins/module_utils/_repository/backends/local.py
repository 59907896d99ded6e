# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A repository in a local directory: files 0600, directories 0700, every write renamed into place."""

from __future__ import annotations

import os
import secrets
import typing as t
from datetime import datetime, timezone

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.base import (
    Backend,
    ObjectWriter,
    StoredObject,
    VerifiedWriter,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local_writers import (
    FILE_MODE,
    LocalVerifiedWriter,
    LocalWriter,
    file_digest,
    raise_os_error,
)

DIR_MODE = 0o700


class LocalBackend(Backend):
    def __init__(self, root: str) -> None:
        if not os.path.isabs(root):
            raise ConfigurationError(f"repository {root!r} must be an absolute path or an s3:// URL")
        self.root = os.path.normpath(root)
        self.location = self.root

    def path(self, key: str) -> str:
        parts = [part for part in key.split("/") if part]
        if any(part in (".", "..") for part in parts):
            raise RepositoryError(f"refusing repository key {key!r}: it leaves the repository")
        return os.path.join(self.root, *parts)

    def describe(self, key: str) -> str:
        return self.path(key)

    def make_dirs(self, directory: str) -> None:
        """Create directory and missing parents below the root with mode 0700."""
        missing = []
        current = directory
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for path in reversed(missing):
            try:
                os.mkdir(path, DIR_MODE)
            except FileExistsError:
                continue
            except OSError as error:
                raise_os_error(error, "create directory", path)

    @staticmethod
    def sync_dir(directory: str) -> None:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def list_objects(self, prefix: str) -> t.Iterator[StoredObject]:
        base = self.path(prefix)
        if not os.path.isdir(base):
            return
        for directory, _subdirectories, files in os.walk(base):
            for name in files:
                full = os.path.join(directory, name)
                try:
                    info = os.stat(full)
                except FileNotFoundError:
                    continue
                key = os.path.relpath(full, self.root).replace(os.sep, "/")
                yield StoredObject(key, info.st_size, datetime.fromtimestamp(info.st_mtime, timezone.utc))

    def list_children(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        try:
            return sorted(entry.name for entry in os.scandir(base) if entry.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []
        except OSError as error:
            raise_os_error(error, "list", base)

    def read_bytes(self, key: str) -> bytes | None:
        path = self.path(key)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise_os_error(error, "read", path)

    def open_read(self, key: str) -> t.BinaryIO:
        path = self.path(key)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise RepositoryError(f"{path} is missing", path=path) from None
        except OSError as error:
            raise_os_error(error, "read", path)

    def open_write(self, key: str) -> ObjectWriter:
        return LocalWriter(self, key)

    def open_verified_write(self, key: str) -> VerifiedWriter:
        """A writer whose commit reads the file back and checks it before renaming it into place."""
        return LocalVerifiedWriter(self, key)

    def stored_digest(self, key: str) -> tuple[int, str]:
        path = self.path(key)
        try:
            return file_digest(path)
        except FileNotFoundError:
            raise RepositoryError(f"{path} is missing", path=path) from None
        except OSError as error:
            raise_os_error(error, "read", path)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Create key holding data, unless it exists; it appears whole, never empty or half written.

        The data goes to a temporary file first; os.link then gives it the
        key's name only if that name is free (atomic, like O_EXCL), so a
        reader never finds the object between its creation and its content.
        """
        path = self.path(key)
        directory = os.path.dirname(path)
        temporary = os.path.join(directory, f".{os.path.basename(path)}.partial-{secrets.token_hex(4)}")
        for attempt in range(3):
            self.make_dirs(directory)
            try:
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
                break
            except FileNotFoundError as error:
                # Another process removed the directory, left empty by its release, just after we made it.
                if attempt == 2:
                    raise_os_error(error, "create", temporary)
            except OSError as error:
                raise_os_error(error, "create", temporary)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temporary, path)
            except FileExistsError:
                return False
            except OSError as error:
                raise_os_error(error, "create (as a hard link)", path)
            self.sync_dir(directory)
            return True
        finally:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass

    def replace_if_unchanged(self, key: str, expected: bytes, data: bytes) -> bool:
        # Local locks are taken by processes of this host; the compare and the
        # rename are not one atomic step, which is why breaking a lock is an
        # explicit operator decision (break_stale_lock), never automatic.
        if self.read_bytes(key) != expected:
            return False
        self.write_bytes(key, data)
        return True

    def delete_if_unchanged(self, key: str, expected: bytes) -> bool:
        if self.read_bytes(key) != expected:
            return False
        self.delete([key])
        return True

    def delete(self, keys: t.Sequence[str]) -> None:
        directories = set()
        for key in keys:
            path = self.path(key)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as error:
                raise_os_error(error, "delete", path)
            directories.add(os.path.dirname(path))
        # Remove directories left empty, deepest first, never the root.
        for directory in sorted(directories, key=len, reverse=True):
            while directory != self.root and directory.startswith(self.root):
                try:
                    os.rmdir(directory)
                except OSError:
                    break
                directory = os.path.dirname(directory)
