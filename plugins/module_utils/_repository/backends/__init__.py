# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where backups are stored: a local directory or an S3 prefix.

base.py holds the interface both backends offer (and the writer pieces they
share), local.py and s3.py the backends, local_writers.py and s3_writers.py
how each makes a write visible only when it is whole.
"""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.base import (
    Backend,
    ObjectWriter,
    StoredObject,
    VerifiedWriter,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.s3 import S3Backend, S3Options

__all__ = [
    "Backend",
    "LocalBackend",
    "ObjectWriter",
    "S3Backend",
    "S3Options",
    "StoredObject",
    "VerifiedWriter",
    "open_backend",
]


def open_backend(repository: str, s3: S3Options | None = None) -> Backend:
    """The backend for a repository given as a local absolute path or an s3:// URL."""
    if repository.startswith("s3://"):
        return S3Backend(repository, s3 or S3Options())
    if "://" in repository:
        raise ConfigurationError(
            f"repository {repository!r} is neither a local absolute path nor an s3://bucket/prefix URL"
        )
    return LocalBackend(repository)
