# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a failed AWS call becomes an error an operator can act on.

The errors are botocore's own classes built as botocore builds them from an
answer: a denied call or an unreachable endpoint cannot be provoked from the
lab's moto server, which grants everything and is always there.
"""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from ansible_collections.resilience.dr.plugins.module_utils._aws.errors import error_code, error_message, failure, is_access_denied
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, SourceUnavailable

IAM_HINT = "the credentials need rds:CreateDBSnapshot (see docs/rds.md)"


def answer(code: str, message: str = "scripted") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateDBSnapshot")


def test_code_and_message_come_from_the_answer_or_the_exception_itself():
    assert (error_code(answer("Throttling")), error_message(answer("Throttling", "Rate exceeded"))) == ("Throttling", "Rate exceeded")
    unreachable = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert error_code(unreachable) == "EndpointConnectionError"
    assert error_code(unreachable, default="") == ""
    assert "http://127.0.0.1:1" in error_message(unreachable)


@pytest.mark.parametrize("code", ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AllAccessDisabled"])
def test_a_denied_call_is_a_configuration_error_naming_the_permissions(code):
    assert is_access_denied(answer(code))
    error = failure(answer(code, "not authorized"), "RDS in eu-west-1", "create DB snapshot nightly", IAM_HINT)
    assert isinstance(error, ConfigurationError)
    assert error.message == f"RDS in eu-west-1 failed to create DB snapshot nightly: {code}: not authorized; {IAM_HINT}"


def test_another_refusal_is_the_service_being_unavailable_without_an_iam_hint():
    error = failure(answer("Throttling", "Rate exceeded"), "Route 53", "read app.example.test A", IAM_HINT)
    assert not is_access_denied(answer("Throttling"))
    assert isinstance(error, SourceUnavailable)
    assert error.message == "Route 53 failed to read app.example.test A: Throttling: Rate exceeded"


def test_an_unreachable_endpoint_says_what_to_check():
    error = failure(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "Route 53", "list hosted zones", IAM_HINT,
                    "check endpoint_url, the network and the credentials")
    assert isinstance(error, SourceUnavailable)
    assert error.message.startswith("Route 53 could not be reached to list hosted zones: ")
    assert error.message.endswith("; check endpoint_url, the network and the credentials")
