# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The retry policy of the AWS modules' clients: which answers are retried, how often, and which are final.

The clients are real: a real AnsibleAWSModule makes a real botocore client through aws_client. Its answers
are scripted with botocore's Stubber because the faults retried here (a busy Route 53 zone, S3 slowing a
prefix down, throttling) are ones the lab's moto server never gives. AWSRetry's sleeps are recorded instead
of slept.
"""
from __future__ import annotations

import typing as t

import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils import cloud
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.resilience.dr.plugins.module_utils._aws.clients import RETRIES, aws_client

ZONE = {"Id": "/hostedzone/Z1", "Name": "example.test.", "CallerReference": "r", "Config": {"PrivateZone": False},
        "ResourceRecordSetCount": 2}
BUCKET_VERSIONING: dict[str, t.Any] = {"Status": "Enabled"}
INSTANCES: dict[str, t.Any] = {"DBInstances": []}


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(cloud.time, "sleep", slept.append)
    return slept


def client(service: str, **kwargs: t.Any) -> t.Any:
    args = {"region": "eu-west-1", "access_key": "AKIDEXAMPLE", "secret_key": "secret", "endpoint_url": "http://127.0.0.1:1"}
    with patch_module_args(args):
        module = AnsibleAWSModule(argument_spec={})
    return aws_client(module, service, **kwargs)


def busy(stubber: Stubber, method: str, code: str, times: int) -> None:
    for _attempt in range(times):
        stubber.add_client_error(method, service_error_code=code, service_message="busy", http_status_code=400)


def test_route53_retries_a_zone_busy_with_another_change_until_it_answers(sleeps):
    route53 = client("route53")
    with Stubber(route53.client) as stubber:
        busy(stubber, "get_hosted_zone", "PriorRequestNotComplete", 2)
        stubber.add_response("get_hosted_zone", {"HostedZone": ZONE, "DelegationSet": {"NameServers": ["ns1"]}})
        answer = route53.get_hosted_zone(Id="Z1", aws_retry=True)
    assert answer["HostedZone"]["Name"] == "example.test."
    assert len(sleeps) == 2


@pytest.mark.parametrize("code", ["SlowDown", "RequestTimeout", "Throttling"])
def test_s3_retries_slow_down_and_timeouts(sleeps, code):
    s3 = client("s3")
    with Stubber(s3.client) as stubber:
        busy(stubber, "get_bucket_versioning", code, 1)
        stubber.add_response("get_bucket_versioning", BUCKET_VERSIONING)
        assert s3.get_bucket_versioning(Bucket="images", aws_retry=True)["Status"] == "Enabled"
    assert len(sleeps) == 1


@pytest.mark.parametrize("code", ["PriorRequestNotComplete", "AccessDenied"])
def test_a_denied_call_or_a_busy_code_of_another_service_is_final_for_rds(sleeps, code):
    rds = client("rds")
    with Stubber(rds.client) as stubber:
        busy(stubber, "describe_db_instances", code, 1)
        with pytest.raises(ClientError, match=code):
            rds.describe_db_instances(aws_retry=True)
    assert sleeps == []


def test_throttling_is_retried_at_most_the_policy_s_count_then_reaches_the_caller(sleeps):
    rds = client("rds")
    with Stubber(rds.client) as stubber:
        busy(stubber, "describe_db_instances", "Throttling", RETRIES)
        stubber.add_response("describe_db_instances", INSTANCES)
        with pytest.raises(ClientError, match="Throttling"):
            rds.describe_db_instances(aws_retry=True)
    assert len(sleeps) == RETRIES - 1
    assert 0 < max(sleeps) <= 60


def test_the_region_and_endpoint_given_to_aws_client_replace_the_module_s():
    rds = client("rds", region="us-west-2", endpoint="http://127.0.0.1:2")
    assert (rds.client.meta.region_name, rds.client.meta.endpoint_url) == ("us-west-2", "http://127.0.0.1:2")
