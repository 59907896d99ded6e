# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""secret_keys with a scripted Secrets Manager client: the other keys kept, no value in the result."""

from __future__ import annotations

import json
import typing as t

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._secret_keys import set_keys


class FakeSecrets:
    def __init__(self, value: str) -> None:
        self.versions = [value]

    def get_secret_value(self, aws_retry: bool, SecretId: str) -> dict[str, t.Any]:
        return {"ARN": f"arn:{SecretId}", "Name": SecretId, "SecretString": self.versions[-1],
                "VersionId": f"v{len(self.versions)}"}

    def put_secret_value(self, aws_retry: bool, SecretId: str, SecretString: str) -> dict[str, t.Any]:
        self.versions.append(SecretString)
        return {"VersionId": f"v{len(self.versions)}"}


RDS_SECRET = json.dumps({"engine": "postgres", "host": "old.east", "port": 5432, "username": "orders", "password": "s3cr3t"})


def test_the_keys_are_set_in_a_new_version_and_the_password_kept_and_never_returned():
    fake = FakeSecrets(RDS_SECRET)
    result = set_keys(fake, "us-west-2", "orders", {"host": "new.west", "port": "5432"}, check_mode=False, diff=True)
    assert result["changed"] and result["changed_keys"] == ["host"] and result["version_id"] == "v2"
    assert json.loads(fake.versions[-1]) == {**json.loads(RDS_SECRET), "host": "new.west"}  # the port stays a number
    assert "s3cr3t" not in json.dumps(result) and "old.east" not in json.dumps(result)


def test_a_secret_holding_the_values_gets_no_new_version():
    fake = FakeSecrets(RDS_SECRET)
    result = set_keys(fake, "us-west-2", "orders", {"host": "old.east", "port": "5432"}, check_mode=False, diff=False)
    assert not result["changed"] and len(fake.versions) == 1


def test_check_mode_writes_nothing():
    fake = FakeSecrets(RDS_SECRET)
    result = set_keys(fake, "us-west-2", "orders", {"host": "new.west"}, check_mode=True, diff=False)
    assert result["changed"] and result["version_id"] is None and len(fake.versions) == 1


def test_a_secret_that_is_no_json_object_is_refused():
    with pytest.raises(ConfigurationError, match="does not hold a JSON object"):
        set_keys(FakeSecrets("plain-password"), "us-west-2", "orders", {"host": "x"}, check_mode=False, diff=False)
