# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the dr_report callback keeps a run's report: the settings, and the copy to an S3 prefix.

A job in AWX runs in a container thrown away afterwards, so its report must
leave it: the callback uploads the files it wrote to ``<s3 url>/<run id>/``
through the repository's S3 backend (the same credentials chain, endpoint
handling, server-side encryption and error messages as an s3:// backup
repository).

Every setting comes from the callback's options (ansible.cfg, environment)
and may be overridden by an extra variable of the run, which is what an AWX
job template can set (it has no environment of its own):
``dr_report_dir``, ``dr_report_s3_url``, ``dr_report_s3_endpoint_url``,
``dr_report_s3_sse``, ``dr_report_s3_sse_kms_key_id``.
"""

from __future__ import annotations

import os
import typing as t
from dataclasses import dataclass

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends import S3Backend, S3Options

REPORT_FILES = ("report.json", "report.md", "report.html")
# Callback option -> the extra variable that overrides it for one run.
OVERRIDES = {
    "report_dir": "dr_report_dir",
    "report_s3_url": "dr_report_s3_url",
    "report_s3_endpoint_url": "dr_report_s3_endpoint_url",
    "report_s3_sse": "dr_report_s3_sse",
    "report_s3_sse_kms_key_id": "dr_report_s3_sse_kms_key_id",
}
SSE_CHOICES = ("AES256", "aws:kms")


@dataclass(frozen=True)
class ReportSettings:
    report_dir: str
    s3_url: str | None = None
    s3_endpoint_url: str | None = None
    s3_sse: str = "AES256"
    s3_sse_kms_key_id: str | None = None


def report_settings(options: dict[str, t.Any], extra_vars: dict[str, t.Any]) -> ReportSettings:
    """The settings of this run: the callback's options, each overridden by its extra variable when that is set.

    An empty extra variable counts as unset, so a job template may carry
    ``dr_report_s3_endpoint_url: ""`` for AWS itself.
    """
    chosen: dict[str, t.Any] = {}
    for option, variable in OVERRIDES.items():
        value = extra_vars.get(variable)
        chosen[option] = str(value) if value not in (None, "") else options.get(option)
    sse = chosen["report_s3_sse"] or "AES256"
    if sse not in SSE_CHOICES:
        raise ConfigurationError(f"dr_report: report_s3_sse {sse!r} is not one of {', '.join(SSE_CHOICES)}")
    if chosen["report_s3_sse_kms_key_id"] and sse != "aws:kms":
        raise ConfigurationError("dr_report: report_s3_sse_kms_key_id needs report_s3_sse aws:kms")
    url = chosen["report_s3_url"] or None
    if url and not url.startswith("s3://"):
        raise ConfigurationError(f"dr_report: report_s3_url {url!r} is not an s3://bucket/prefix URL")
    return ReportSettings(
        report_dir=os.path.expanduser(str(chosen["report_dir"] or "reports")),
        s3_url=url,
        s3_endpoint_url=chosen["report_s3_endpoint_url"] or None,
        s3_sse=sse,
        s3_sse_kms_key_id=chosen["report_s3_sse_kms_key_id"] or None,
    )


def upload_report(directory: str, settings: ReportSettings) -> str:
    """Copy the report files of directory to <s3 url>/<run id>/ with server-side encryption; returns that URL.

    Credentials and region come from boto3's default chain (AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or AWS_SECURITY_TOKEN, AWS_REGION,
    an instance role...). Raises a DrError naming the object that failed.
    """
    if not settings.s3_url:
        raise ConfigurationError("dr_report: no report_s3_url to upload the report to")
    backend = S3Backend(settings.s3_url, S3Options(
        endpoint_url=settings.s3_endpoint_url, sse=settings.s3_sse, sse_kms_key_id=settings.s3_sse_kms_key_id,
    ))
    run = os.path.basename(os.path.normpath(directory))
    try:
        for name in REPORT_FILES:
            with open(os.path.join(directory, name), "rb") as report_file:
                backend.write_bytes(f"{run}/{name}", report_file.read())
    finally:
        backend.close()
    return backend.describe(run)
