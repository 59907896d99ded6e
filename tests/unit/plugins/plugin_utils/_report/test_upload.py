# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the dr_report callback keeps a report: its settings per run, and a failed upload's message.

The upload itself is tested against the lab's S3 server (tests/integration/test_awx_jobs.py).
"""

from __future__ import annotations

import socket

import pytest

from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, DrError
from ansible_collections.resilience.dr.plugins.plugin_utils._report.upload import (
    REPORT_FILES,
    ReportSettings,
    report_settings,
    upload_report,
)

OPTIONS = {"report_dir": "reports", "report_s3_url": "s3://from-config/reports", "report_s3_endpoint_url": None,
           "report_s3_sse": "AES256", "report_s3_sse_kms_key_id": None}


def test_settings_are_the_callback_options_without_extra_variables():
    assert report_settings(OPTIONS, {}) == ReportSettings(report_dir="reports", s3_url="s3://from-config/reports")


def test_extra_variables_of_the_run_win_over_the_options():
    settings = report_settings(OPTIONS, {"dr_report_dir": "/var/tmp/dr", "dr_report_s3_url": "s3://job/prefix",
                                         "dr_report_s3_endpoint_url": "http://127.0.0.1:9000",
                                         "dr_report_s3_sse": "aws:kms", "dr_report_s3_sse_kms_key_id": "alias/dr"})
    assert settings == ReportSettings(report_dir="/var/tmp/dr", s3_url="s3://job/prefix",
                                      s3_endpoint_url="http://127.0.0.1:9000", s3_sse="aws:kms",
                                      s3_sse_kms_key_id="alias/dr")


def test_an_empty_extra_variable_leaves_the_option_in_force():
    # A job template carries dr_report_s3_endpoint_url: "" for AWS itself.
    settings = report_settings({**OPTIONS, "report_s3_endpoint_url": "http://minio:9000"},
                               {"dr_report_s3_endpoint_url": "", "dr_report_s3_url": ""})
    assert settings.s3_endpoint_url == "http://minio:9000" and settings.s3_url == "s3://from-config/reports"


def test_no_url_anywhere_means_no_upload():
    assert report_settings({**OPTIONS, "report_s3_url": None}, {}).s3_url is None


@pytest.mark.parametrize(("extra_vars", "message"), [
    ({"dr_report_s3_url": "https://bucket.example.com/reports"}, "is not an s3://bucket/prefix URL"),
    ({"dr_report_s3_sse": "aws:kms:dsse"}, "is not one of AES256, aws:kms"),
    ({"dr_report_s3_sse_kms_key_id": "alias/dr"}, "needs report_s3_sse aws:kms"),
])
def test_wrong_settings_are_refused_naming_the_setting(extra_vars, message):
    with pytest.raises(ConfigurationError, match=message):
        report_settings(OPTIONS, extra_vars)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_store_is_an_error_naming_it_and_the_local_files_stay(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    directory = tmp_path / "20261123T040000Z-level1_component"
    directory.mkdir()
    for name in REPORT_FILES:
        (directory / name).write_text(name)
    # Nothing listens on the port: a real connection refusal, retried by botocore, then reported.
    settings = ReportSettings(report_dir=str(tmp_path), s3_url="s3://dr-reports/awx",
                              s3_endpoint_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(DrError, match=r"s3://dr-reports/awx"):
        upload_report(str(directory), settings)
    assert sorted(path.name for path in directory.iterdir()) == sorted(REPORT_FILES)
