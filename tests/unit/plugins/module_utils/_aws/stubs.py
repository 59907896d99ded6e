# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""botocore Stubber clients for the unit tests of what moto does not implement (each test says which API)."""

from __future__ import annotations

import typing as t

import boto3
from botocore.stub import Stubber


class Unretried:
    """A stubbed client as our API classes call it: aws_retry is the project's retry wrapper's option, not botocore's."""

    def __init__(self, client: t.Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> t.Any:
        method = getattr(self.client, name)
        return lambda aws_retry=False, **kwargs: method(**kwargs)


class StubbedClient:
    """A client of service in region with a Stubber, as a context: (the client, its Stubber); when the block ends
    without an error, every queued response must have been used."""

    def __init__(self, service: str, region: str) -> None:
        self.client = boto3.client(service, region_name=region, aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x")
        self.stubber = Stubber(self.client)

    def __enter__(self) -> tuple[Unretried, Stubber]:
        self.stubber.activate()
        return Unretried(self.client), self.stubber

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: t.Any) -> None:
        self.stubber.deactivate()
        if kind is None:
            self.stubber.assert_no_pending_responses()


def stubbed_client(service: str, region: str) -> StubbedClient:
    return StubbedClient(service, region)
