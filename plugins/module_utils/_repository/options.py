# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Repository options shared by every module that reads or writes backups.

Each function returns one group of options. Every module of the `repository`
action group (meta/runtime.yml) accepts all of them, plan_repository_argument_spec(),
so that one `module_defaults` entry for `group/resilience.dr.repository` can hand
the plan's whole repository to every such module; a module passes the groups it
uses to open_repository, which drops the others so that an option the module
ignores never changes what it does. The doc fragment resilience.dr.repository
(plugins/doc_fragments/repository.py) documents the same options: keep the two in step.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable, Iterable

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository import crypto
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends import S3Options, open_backend
from ansible_collections.resilience.dr.plugins.module_utils._repository.repository import Repository
from ansible_collections.resilience.dr.plugins.module_utils._repository.signing import Signer, Verifier


def repository_argument_spec() -> dict[str, t.Any]:
    """Where the repository is and how to reach it (used by every repository module)."""
    return dict(
        repository=dict(type="str", required=True),
        # The S3 connection takes the names and aliases of amazon.aws's own options (its doc fragments common and
        # region), so a play's AWS settings reach a repository as they reach amazon.aws modules.
        endpoint_url=dict(type="str", aliases=["aws_endpoint_url"]),
        region=dict(type="str", aliases=["aws_region"]),
        # A DR plan keeps the access key ID secret too (docs/dr-plan.md): masked like the secret key.
        access_key=dict(type="str", no_log=True, aliases=["aws_access_key_id", "aws_access_key"]),
        secret_key=dict(type="str", no_log=True, aliases=["aws_secret_access_key", "aws_secret_key"]),
        session_token=dict(type="str", no_log=True, aliases=["aws_session_token"]),
        profile=dict(type="str", aliases=["aws_profile"]),
        validate_certs=dict(type="bool", default=True),
        aws_ca_bundle=dict(type="path"),
        aws_config=dict(type="dict"),
        s3_sse=dict(type="str", choices=["AES256", "aws:kms"]),
        s3_sse_kms_key_id=dict(type="str"),
    )


def identity_argument_spec() -> dict[str, t.Any]:
    """The age secret key for reading encrypted backups (used by the modules that read backup contents)."""
    return dict(
        encryption_identity_file=dict(type="path"),
        encryption_identity=dict(type="str", no_log=True),
    )


IDENTITY_MUTUALLY_EXCLUSIVE = [("encryption_identity_file", "encryption_identity")]


def lock_argument_spec() -> dict[str, t.Any]:
    """Waiting for and breaking the component lock (used by the modules that write or delete backups)."""
    return dict(
        lock_timeout=dict(type="int", default=60),
        break_stale_lock=dict(type="bool", default=False),
    )


def backup_argument_spec() -> dict[str, t.Any]:
    """How new backups are written (used by the backup modules)."""
    return dict(
        encryption_recipients=dict(type="list", elements="str", default=[]),
        compression_level=dict(type="int", default=3),
        compression_threads=dict(type="int", default=0),
        retention_class=dict(type="str", choices=["standard", "pinned"], default="standard"),
        s3_object_lock_mode=dict(type="str", choices=["GOVERNANCE", "COMPLIANCE"]),
        s3_object_lock_days=dict(type="int"),
        signing_key_file=dict(type="path"),
    )


def signature_argument_spec() -> dict[str, t.Any]:
    """The keys whose signatures make a backup trusted (used by the modules that read backups)."""
    return dict(
        signing_public_keys=dict(type="list", elements="str", default=[]),
    )


# The option groups of the repository contract. The `repository` group is used by every module; a module
# names the others it uses (open_repository's `uses`).
OPTION_GROUPS: dict[str, Callable[[], dict[str, t.Any]]] = {
    "repository": repository_argument_spec,
    "identity": identity_argument_spec,
    "lock": lock_argument_spec,
    "backup": backup_argument_spec,
    "signatures": signature_argument_spec,
}


def plan_repository_argument_spec() -> dict[str, t.Any]:
    """Every plan-level repository option, accepted by every repository module (documented by resilience.dr.repository).

    A module that does not use an option accepts and ignores it, as amazon.aws modules do with the common AWS
    options, so that the plan's repository can be given once as module_defaults of group/resilience.dr.repository.
    """
    spec: dict[str, t.Any] = {}
    for group in OPTION_GROUPS.values():
        spec.update(group())
    return spec


def used_parameters(params: dict[str, t.Any], uses: Iterable[str]) -> dict[str, t.Any]:
    """params without the options of the contract's groups that are not in uses (the `repository` group always stays).

    What a module ignores then falls back to open_repository's defaults, exactly as if it had not been given.
    """
    unknown = set(uses) - set(OPTION_GROUPS)
    if unknown:
        raise ValueError(f"unknown repository option groups: {', '.join(sorted(unknown))}")
    ignored: set[str] = set()
    for name, group in OPTION_GROUPS.items():
        if name != "repository" and name not in uses:
            ignored.update(group())
    return {key: value for key, value in params.items() if key not in ignored}


def open_repository(params: dict[str, t.Any], uses: Iterable[str] | None = None) -> Repository:
    """A Repository configured from module parameters.

    uses names the option groups (OPTION_GROUPS) the module uses; the options of the other groups are ignored.
    None reads every option present in params.
    """
    if uses is not None:
        params = used_parameters(params, uses)
    repository = params["repository"]
    s3 = S3Options(
        endpoint_url=params.get("endpoint_url"),
        region=params.get("region"),
        access_key=params.get("access_key"),
        secret_key=params.get("secret_key"),
        session_token=params.get("session_token"),
        profile=params.get("profile"),
        validate_certs=params.get("validate_certs", True),
        ca_bundle=params.get("aws_ca_bundle"),
        config=params.get("aws_config") or {},
        sse=params.get("s3_sse"),
        sse_kms_key_id=params.get("s3_sse_kms_key_id"),
        object_lock_mode=params.get("s3_object_lock_mode"),
        object_lock_days=params.get("s3_object_lock_days"),
    )
    if s3.sse_kms_key_id and s3.sse != "aws:kms":
        raise ConfigurationError("s3_sse_kms_key_id needs s3_sse: aws:kms")
    if bool(s3.object_lock_mode) != bool(s3.object_lock_days):
        raise ConfigurationError("s3_object_lock_mode and s3_object_lock_days go together")
    if not repository.startswith("s3://") and (s3.sse or s3.object_lock_mode):
        raise ConfigurationError(f"s3_sse and s3_object_lock_* apply to s3:// repositories, not {repository}")

    recipient_keys = [key.strip() for key in params.get("encryption_recipients") or [] if key and key.strip()]
    recipients = crypto.parse_recipients(recipient_keys) if recipient_keys else []
    identities: list[t.Any] = []
    if params.get("encryption_identity_file"):
        identities = crypto.load_identity_file(params["encryption_identity_file"])
    elif params.get("encryption_identity"):
        identities = crypto.parse_identities(params["encryption_identity"], "encryption_identity")

    level = params.get("compression_level", 3)
    if not 1 <= level <= 19:
        raise ConfigurationError(f"compression_level {level} is outside zstd's 1 (fastest) to 19 (smallest)")
    threads = params.get("compression_threads", 0)
    if threads < 0:
        raise ConfigurationError("compression_threads must be 0 (one per CPU) or more")
    lock_timeout = params.get("lock_timeout", 60)
    if lock_timeout < 0:
        raise ConfigurationError("lock_timeout must not be negative")
    signer = Signer.from_file(params["signing_key_file"]) if params.get("signing_key_file") else None
    public_keys = [key for key in params.get("signing_public_keys") or [] if key and str(key).strip()]
    verifier = Verifier.from_texts(public_keys) if public_keys else None

    return Repository(
        open_backend(repository, s3),
        recipients=recipients,
        recipient_keys=recipient_keys,
        identities=identities,
        compression_level=level,
        # zstandard counts -1 as "one thread per CPU"; users write 0 as with `zstd -T0`.
        compression_threads=-1 if threads == 0 else threads,
        lock_timeout=lock_timeout,
        break_stale_lock=params.get("break_stale_lock", False),
        signer=signer,
        verifier=verifier,
    )
