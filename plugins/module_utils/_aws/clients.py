# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The clients of the modules built on AnsibleAWSModule, with one retry policy.

AnsibleAWSModule.client() reads the amazon.aws connection options (region,
endpoint_url, credentials, profile, aws_ca_bundle, aws_config); the client it
returns is wrapped here with AWSRetry's jittered backoff, so every call made
with aws_retry=True is retried on throttling and on the codes a service
answers while it is busy (RETRY_CODES). An error that reaches the caller is
final; _aws.errors translates it.
"""

from __future__ import annotations

import typing as t

from ansible_collections.amazon.aws.plugins.module_utils.botocore import HAS_BOTO3
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.resilience.dr.plugins.module_utils._errors import DependencyMissing, missing_library_message

if t.TYPE_CHECKING:  # pragma: no cover - imported for the type checker only
    from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

# Attempts of one call, with jittered backoff between them (AWSRetry's default delay and cap).
RETRIES = 10
# Codes a service answers when it is busy rather than refusing, retried like throttling:
# Route 53 accepts one change of a zone at a time; S3 slows a prefix down under load.
RETRY_CODES: dict[str, tuple[str, ...]] = {
    "route53": ("PriorRequestNotComplete",),
    "s3": ("SlowDown", "RequestTimeout"),
}


def require_boto3() -> None:
    """For modules made with check_boto3=False, which need boto3 only for some of their work."""
    if not HAS_BOTO3:
        raise DependencyMissing(missing_library_message("boto3", "to call AWS APIs"))


def retry_policy(service: str) -> t.Callable[..., t.Any]:
    """The retry decorator for the clients of service: AWSRetry's jittered backoff with the service's busy codes."""
    extra = list(RETRY_CODES.get(service, ())) or None
    return AWSRetry.jittered_backoff(retries=RETRIES, catch_extra_error_codes=extra)


def aws_client(module: AnsibleAWSModule, service: str, **kwargs: t.Any) -> t.Any:
    """A client of service with the project's retry policy; kwargs (region, endpoint) go to module.client().

    Calls retry only when they pass aws_retry=True, as every call of _rds, _dns.route53 and _s3_restore does.
    """
    return module.client(service, retry_decorator=retry_policy(service), **kwargs)
