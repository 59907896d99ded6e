# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How to reach S3 outside AnsibleAWSModule: the amazon.aws connection options, without importing boto3."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Connection:
    """The amazon.aws connection options; what is unset falls back to boto3's default chain.

    ca_bundle is aws_ca_bundle, config is aws_config (botocore.config.Config's keywords).
    """

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    validate_certs: bool = True
    ca_bundle: str | None = None
    config: dict[str, t.Any] = field(default_factory=dict)
