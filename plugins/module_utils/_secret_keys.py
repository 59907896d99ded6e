# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""secret_keys: set some keys of a JSON secret in Secrets Manager, as a new version, and leave the rest alone.

The secret's other keys (the password), its description, KMS key, rotation, replication, resource policy and
tags are neither read into the result nor changed: only get_secret_value and put_secret_value are called. A
secret that already holds the values gets no new version. No value of the secret is ever returned.
"""

from __future__ import annotations

import json
import typing as t

from ansible_collections.resilience.dr.plugins.module_utils._aws.errors import BotoCoreError, ClientError, error_code, failure
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError

IAM_HINT = ("the role needs secretsmanager:GetSecretValue and secretsmanager:PutSecretValue on the secret (and "
            "kms:Decrypt, kms:GenerateDataKey on its KMS key)")


def _call(client: t.Any, region: str, what: str, method: str, **kwargs: t.Any) -> t.Any:
    try:
        return getattr(client, method)(aws_retry=True, **kwargs)
    except (ClientError, BotoCoreError) as error:
        if error_code(error) == "ResourceNotFoundException":
            raise ConfigurationError(f"Secrets Manager in {region} has no secret {kwargs.get('SecretId')}; check "
                                     "secret_id and region (a replica secret lives in its own region)") from None
        raise failure(error, f"Secrets Manager in {region}", what, IAM_HINT) from None


def _typed(value: t.Any, stored: t.Any) -> t.Any:
    """value as the secret holds it: a number where the secret has a number (the port of an RDS secret)."""
    if isinstance(stored, int) and not isinstance(stored, bool) and isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def set_keys(client: t.Any, region: str, secret_id: str, keys: dict[str, t.Any], *, check_mode: bool,
             diff: bool) -> dict[str, t.Any]:
    """Put keys into the JSON object the secret holds; changed only when one of them held another value."""
    current = _call(client, region, f"read secret {secret_id}", "get_secret_value", SecretId=secret_id)
    text = current.get("SecretString")
    try:
        stored = json.loads(text) if text is not None else None
    except ValueError:
        stored = None
    if not isinstance(stored, dict):
        raise ConfigurationError(
            f"secret {secret_id} in {region} does not hold a JSON object (as the RDS secrets do: "
            '{"host": ..., "port": ..., "password": ...}); its keys cannot be set - write it by hand'
        )
    keys = {key: _typed(value, stored.get(key)) for key, value in keys.items()}
    changed_keys = sorted(key for key, value in keys.items() if stored.get(key) != value)
    result: dict[str, t.Any] = {
        "changed": bool(changed_keys), "changed_keys": changed_keys, "arn": current.get("ARN"),
        "name": current.get("Name"), "previous_version_id": current.get("VersionId"), "version_id": current.get("VersionId"),
    }
    if diff:
        # Key names only: the values before may be secret.
        result["diff"] = {"before": {"keys": {key: "(another value)" for key in changed_keys}},
                          "after": {"keys": {key: "(the new value)" for key in changed_keys}}}
    if not changed_keys or check_mode:
        if check_mode and changed_keys:
            result["version_id"] = None
        return result
    merged = dict(stored, **keys)
    written = _call(client, region, f"write a new version of secret {secret_id}", "put_secret_value",
                    SecretId=secret_id, SecretString=json.dumps(merged))
    result["version_id"] = written.get("VersionId")
    return result
