# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repository options: one contract for every module, and what a module ignores changes nothing."""

from __future__ import annotations

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import (
    OPTION_GROUPS,
    open_repository,
    plan_repository_argument_spec,
    used_parameters,
)

# Values a module that uses them would refuse or act on: a restore given these must not notice them.
WRITE_SIDE = dict(
    lock_timeout=-1,
    break_stale_lock=True,
    encryption_recipients=["not-an-age-key"],
    compression_level=99,
    compression_threads=-2,
    retention_class="pinned",
    s3_object_lock_mode="COMPLIANCE",
    signing_key_file="/nonexistent/signing.pem",
)
READ_SIDE = dict(
    encryption_identity_file="/nonexistent/identity.txt",
    signing_public_keys=["not a public key"],
)


def test_the_contract_is_the_union_of_the_groups():
    spec = plan_repository_argument_spec()
    for group in OPTION_GROUPS.values():
        for key, option in group().items():
            assert spec[key] == option
    assert sum(len(group()) for group in OPTION_GROUPS.values()) == len(spec), "two groups define the same option"


def test_a_restore_ignores_the_options_of_backups(tmp_path):
    params = dict(repository=str(tmp_path / "repo"), **WRITE_SIDE)
    with pytest.raises(ConfigurationError):
        open_repository(params)
    repository = open_repository(params, uses=("identity", "signatures"))
    assert repository.lock_timeout == 60
    assert repository.recipients == []
    assert repository.signer is None


def test_a_backup_ignores_the_options_of_restores(tmp_path):
    params = dict(repository=str(tmp_path / "repo"), **READ_SIDE)
    with pytest.raises(ConfigurationError):
        open_repository(params)
    repository = open_repository(params, uses=("lock", "backup"))
    assert repository.identities == []
    assert repository.verifier is None


def test_used_parameters_keep_the_repository_group_and_other_options():
    params = dict(repository="/srv/backups", region="eu-west-1", component="orders-db", **WRITE_SIDE, **READ_SIDE)
    kept = used_parameters(params, ("signatures",))
    assert kept == dict(repository="/srv/backups", region="eu-west-1", component="orders-db",
                        signing_public_keys=["not a public key"])


def test_an_unknown_group_is_a_programming_error():
    with pytest.raises(ValueError, match="signature"):
        used_parameters({"repository": "/srv/backups"}, ("signature",))
