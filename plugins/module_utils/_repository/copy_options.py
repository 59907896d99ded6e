# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_copy's options: the source and destination sides, and the since filter.

Each side is an ordinary repository (a local path or s3://bucket/prefix). The
shared S3 options apply to both sides and source_* / destination_* override
them per side, so a cross-account or cross-region copy names only what differs.
"""

from __future__ import annotations

import re
import typing as t
from datetime import datetime

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import open_repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._timing import parse_duration, parse_time

SIDES = ("source", "destination")
CONNECTION_OPTIONS = ("endpoint_url", "region", "validate_certs")
CREDENTIAL_OPTIONS = ("access_key", "secret_key", "session_token", "profile")


def copy_sides_argument_spec() -> dict[str, t.Any]:
    """source_* and destination_* connection options (documented by resilience.dr.copy_endpoints)."""
    spec: dict[str, t.Any] = {}
    for side in SIDES:
        spec.update({
            f"{side}_endpoint_url": dict(type="str"),
            f"{side}_region": dict(type="str"),
            f"{side}_access_key": dict(type="str", no_log=True),  # secret in a DR plan too
            f"{side}_secret_key": dict(type="str", no_log=True),
            f"{side}_session_token": dict(type="str", no_log=True),
            f"{side}_profile": dict(type="str"),
            f"{side}_validate_certs": dict(type="bool"),
        })
    return spec


def side_parameters(params: dict[str, t.Any], side: str) -> dict[str, t.Any]:
    """The open_repository parameters of one side.

    endpoint_url, region and validate_certs of a side default to the shared
    options. Credentials go as a group: a side with any of its own
    (access_key, secret_key, session_token, profile) uses only its own, never
    a mix with the shared ones.
    """
    if side == "source":
        repository = params.get("source_repository") or params.get("repository")
        if not repository:
            raise ConfigurationError("give source_repository (or repository, the plan's repository) to copy from")
    else:
        repository = params.get("destination_repository")
        if not repository:
            raise ConfigurationError("give destination_repository to copy to")
    result: dict[str, t.Any] = {"repository": repository}
    for name in CONNECTION_OPTIONS:
        own = params.get(f"{side}_{name}")
        result[name] = own if own is not None else params.get(name)
    if result["validate_certs"] is None:
        result["validate_certs"] = True
    # The CA bundle and botocore settings are the shared ones on both sides.
    result["aws_ca_bundle"] = params.get("aws_ca_bundle")
    result["aws_config"] = params.get("aws_config")
    own_credentials = any(params.get(f"{side}_{name}") for name in CREDENTIAL_OPTIONS)
    for name in CREDENTIAL_OPTIONS:
        result[name] = params.get(f"{side}_{name}") if own_credentials else params.get(name)
    if side == "source":
        result["encryption_identity_file"] = params.get("encryption_identity_file")
        result["encryption_identity"] = params.get("encryption_identity")
        result["signing_public_keys"] = params.get("signing_public_keys") or []
    else:
        result.update(
            encryption_recipients=params.get("destination_encryption_recipients") or [],
            s3_sse=params.get("s3_sse"),
            s3_sse_kms_key_id=params.get("s3_sse_kms_key_id"),
            s3_object_lock_mode=params.get("s3_object_lock_mode"),
            s3_object_lock_days=params.get("s3_object_lock_days"),
            lock_timeout=params.get("lock_timeout", 60),
            break_stale_lock=params.get("break_stale_lock", False),
            signing_key_file=params.get("signing_key_file"),
        )
    return result


def open_copy_repositories(params: dict[str, t.Any]) -> tuple[Repository, Repository]:
    """The source and destination repositories configured from backup_copy's parameters."""
    source_params = side_parameters(params, "source")
    destination_params = side_parameters(params, "destination")
    if (source_params["repository"].rstrip("/") == destination_params["repository"].rstrip("/")
            and source_params["endpoint_url"] == destination_params["endpoint_url"]):
        raise ConfigurationError(
            f"the source and the destination are the same repository ({source_params['repository']}); "
            "copy to another repository (another bucket, region or site)"
        )
    return open_repository(source_params), open_repository(destination_params)


DURATION = re.compile(r"(\s*\d+\s*[smhdw])+\s*|\s*\d+\s*", re.IGNORECASE)


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """since: a time (2026-11-23T04:00:00Z) or a duration back from now (7d, 36h, 2w3d, seconds)."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    if DURATION.fullmatch(text):
        duration = parse_duration(text, "since")
        return now - duration if duration is not None else None
    try:
        return parse_time(text, "since")
    except ConfigurationError:
        raise ConfigurationError(
            f"since {value!r} is neither a time (2026-11-23T04:00:00Z) nor a duration back from now (7d, 36h, 2w3d)"
        ) from None
