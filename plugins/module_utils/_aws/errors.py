# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AWS errors in one place: botocore's exception classes, the code and message of a failed call, and its translation.

RDS, Route 53, s3_restore and the S3 repository catch the same botocore
exceptions and read the same fields of them; a denied call becomes a
ConfigurationError that names the IAM permissions to grant, an unreachable
endpoint a SourceUnavailable that says what to check. Retries happen below
this (AWSRetry for clients made by AnsibleAWSModule, botocore's standard
retry mode for the S3 repository), so an error seen here is final.
"""

from __future__ import annotations

from ansible_collections.resilience.dr.plugins.module_utils._errors import (
    ConfigurationError,
    DrError,
    SourceUnavailable,
)

try:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    HAS_BOTOCORE = True
except ImportError:  # pragma: no cover - the modules report the missing library
    HAS_BOTOCORE = False

    class BotoCoreError(Exception):  # type: ignore[no-redef]
        """Stands in while botocore is not installed."""

    class ClientError(Exception):  # type: ignore[no-redef]
        """Stands in while botocore is not installed."""

    class EndpointConnectionError(BotoCoreError):  # type: ignore[no-redef]
        """Stands in while botocore is not installed."""


__all__ = [
    "ACCESS_DENIED",
    "HAS_BOTOCORE",
    "BotoCoreError",
    "ClientError",
    "EndpointConnectionError",
    "error_code",
    "error_message",
    "failure",
    "is_access_denied",
]

# Codes with which AWS services (and S3-compatible stores) refuse a call the credentials may not make.
ACCESS_DENIED = frozenset({
    "AccessDenied",
    "AccessDeniedException",
    "AllAccessDisabled",
    "NotAuthorized",
    "UnauthorizedOperation",
})

UNREACHABLE_HINT = "check region, endpoint_url, the network and the credentials"


def error_code(error: BaseException, default: str | None = None) -> str:
    """The AWS error code of a failed call (NoSuchKey, AccessDenied, ...); default, else the exception's type name."""
    response = getattr(error, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    if code:
        return str(code)
    return type(error).__name__ if default is None else default


def error_message(error: BaseException) -> str:
    """The message AWS sent with the error, else the exception's text."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Message", error))


def is_access_denied(error: BaseException) -> bool:
    return error_code(error) in ACCESS_DENIED


def failure(error: BaseException, service: str, what: str, iam_hint: str, unreachable_hint: str = UNREACHABLE_HINT) -> DrError:
    """The error to raise for a failed call of service while doing what.

    Denied: a ConfigurationError ending in iam_hint (the permissions to
    grant); any other answer of the service: SourceUnavailable with its code
    and message; no answer (botocore's own errors): SourceUnavailable with
    unreachable_hint.
    """
    if isinstance(error, ClientError):
        message = f"{service} failed to {what}: {error_code(error)}: {error_message(error)}"
        if is_access_denied(error):
            return ConfigurationError(f"{message}; {iam_hint}")
        return SourceUnavailable(message)
    return SourceUnavailable(f"{service} could not be reached to {what}: {error}; {unreachable_hint}")
