# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boto3 session and clients of an s3:// repository, made from the amazon.aws connection options.

The repository modules are plain AnsibleModules (a repository may be a local
directory, and boto3 takes most of a second to import), so they build their
S3 client here rather than through AnsibleAWSModule: the same options
(endpoint_url, region, access_key, secret_key, session_token, profile,
validate_certs, aws_ca_bundle, aws_config) mean what they mean in amazon.aws,
and retries are botocore's standard mode (exponential backoff with jitter on
throttling and 5xx) instead of AWSRetry, since the repository's calls are
made by boto3's own upload machinery too.
"""

from __future__ import annotations

import os
import ssl
import sys
import typing as t
from types import ModuleType

from ansible_collections.resilience.dr.plugins.module_utils._aws.connection import Connection
from ansible_collections.resilience.dr.plugins.module_utils._aws.errors import BotoCoreError
from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DependencyMissing,
    missing_library_message,
)

# botocore.config.Config's defaults for a repository, before the user's aws_config.
STANDARD_RETRIES = {"mode": "standard", "max_attempts": 5}
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 120


def import_boto3() -> tuple[ModuleType, ModuleType]:
    """boto3 and botocore.config, imported only when an S3 client is made."""
    try:
        import boto3  # pylint: disable=import-outside-toplevel
        import botocore.config  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise DependencyMissing(missing_library_message("boto3", "for an s3:// repository")) from None
    return boto3, sys.modules["botocore.config"]


def tls_verify(connection: Connection) -> bool | str:
    """botocore's verify: False without validate_certs, else the CA bundle's path when given, else True.

    The bundle is read here, so that a path that is not a CA bundle fails before any request, naming the option.
    """
    if not connection.validate_certs:
        return False
    if not connection.ca_bundle:
        return True
    path = connection.ca_bundle
    if not os.path.isfile(path):
        raise ConfigurationError(f"aws_ca_bundle {path} is not a file; give the path of a PEM file of CA certificates")
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError) as error:
        raise ConfigurationError(
            f"aws_ca_bundle {path} holds no CA certificate that can be read ({error}); give a PEM file of CA certificates"
        ) from None
    return path


def client_config(connection: Connection, **defaults: t.Any) -> t.Any:
    """botocore.config.Config: the standard retry mode and defaults, then the user's aws_config over them.

    aws_config's retries replace the defaults' but keep the standard mode unless they name another; its s3
    settings are merged key by key over the defaults'.
    """
    _boto3, botocore_config = import_boto3()
    settings: dict[str, t.Any] = dict(
        retries=dict(STANDARD_RETRIES), connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, **defaults,
    )
    for key, value in (connection.config or {}).items():
        if key == "retries" and isinstance(value, dict):
            settings[key] = {"mode": STANDARD_RETRIES["mode"], **value}
        elif key == "s3" and isinstance(value, dict):
            settings[key] = {**(settings.get(key) or {}), **value}
        else:
            settings[key] = value
    try:
        return botocore_config.Config(**settings)
    except (TypeError, ValueError, BotoCoreError) as error:
        raise ConfigurationError(f"aws_config is not a botocore configuration: {error}") from None


def with_s3_settings(config: t.Any, **s3: t.Any) -> t.Any:
    """config with s3 settings set over its own (a client of the same repository that signs differently)."""
    _boto3, botocore_config = import_boto3()
    return config.merge(botocore_config.Config(s3={**(config.s3 or {}), **s3}))


def boto3_session(connection: Connection) -> t.Any:
    """A boto3 session with the connection's credentials, profile and region (boto3's default chain for what is unset)."""
    boto3, _config = import_boto3()
    return boto3.session.Session(
        aws_access_key_id=connection.access_key,
        aws_secret_access_key=connection.secret_key,
        aws_session_token=connection.session_token,
        profile_name=connection.profile,
        region_name=connection.region,
    )


def s3_client(boto_session: t.Any, connection: Connection, config: t.Any) -> t.Any:
    """An S3 client of boto_session with config, at the connection's endpoint, verifying TLS as the connection says."""
    return boto_session.client("s3", endpoint_url=connection.endpoint_url, verify=tls_verify(connection), config=config)
