# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from pyrage import x25519

from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository


@pytest.fixture(scope="session")
def identity():
    return x25519.Identity.generate()


@pytest.fixture
def local_repository(tmp_path):
    def make(**options) -> Repository:
        options.setdefault("compression_level", 1)
        options.setdefault("lock_timeout", 0)
        return Repository(LocalBackend(str(tmp_path / "repo")), **options)

    return make


@pytest.fixture
def encrypted(local_repository, identity):
    return local_repository(
        recipients=[identity.to_public()], recipient_keys=[str(identity.to_public())], identities=[identity]
    )
