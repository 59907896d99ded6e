# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which backend a repository string opens, and where its keys are."""
from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends import open_backend
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.local import LocalBackend
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.s3 import S3Backend, S3Options


def test_an_absolute_path_opens_a_local_repository_whose_keys_stay_inside_it(tmp_path):
    backend = open_backend(f"{tmp_path}/repo/")
    assert isinstance(backend, LocalBackend)
    assert backend.describe("orders-db/B1/manifest.json") == f"{tmp_path}/repo/orders-db/B1/manifest.json"
    with pytest.raises(RepositoryError, match="leaves the repository"):
        backend.describe("orders-db/../../etc/passwd")


@pytest.mark.parametrize(
    ("url", "location", "described"),
    [
        ("s3://backups/site-a/", "s3://backups/site-a", "s3://backups/site-a/orders-db/B1/manifest.json"),
        ("s3://backups", "s3://backups", "s3://backups/orders-db/B1/manifest.json"),
    ],
)
def test_an_s3_url_opens_an_s3_repository_under_its_prefix(url, location, described):
    backend = open_backend(url, S3Options(region="eu-west-1", endpoint_url="http://127.0.0.1:1"))
    try:
        assert isinstance(backend, S3Backend)
        assert backend.location == location
        assert backend.describe("orders-db/B1/manifest.json") == described
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("repository", "message"),
    [
        ("s3:///prefix", "names no bucket"),
        ("ftp://host/backups", "neither a local absolute path nor an s3://bucket/prefix URL"),
        ("backups", "must be an absolute path or an s3:// URL"),
    ],
)
def test_a_repository_that_is_neither_a_local_path_nor_an_s3_url_is_refused(repository, message):
    with pytest.raises(ConfigurationError, match=message):
        open_backend(repository)
