# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The S3 repository's client: the amazon.aws option names, aws_config, and aws_ca_bundle.

Real botocore clients are made from module parameters as a repository module receives them; no request is
sent (reaching a TLS endpoint with a private CA is tested in tests/integration/test_repository_aws_options.py).
"""
from __future__ import annotations

import datetime
import typing as t
from pathlib import Path

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.resilience.dr.plugins.module_utils._aws.connection import Connection
from ansible_collections.resilience.dr.plugins.module_utils._aws.session import tls_verify
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError
from ansible_collections.resilience.dr.plugins.module_utils._repository.copy_options import open_copy_repositories
from ansible_collections.resilience.dr.plugins.module_utils._repository.options import (
    open_repository,
    plan_repository_argument_spec,
)

# A fixed moment for the certificate's validity, so the test never depends on today's date.
NOT_BEFORE = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)


def module_params(args: dict[str, t.Any]) -> dict[str, t.Any]:
    """The parameters a repository module gets for args: aliases resolved, defaults filled, as AnsibleModule does."""
    result = ArgumentSpecValidator(plan_repository_argument_spec()).validate(args)
    assert result.error_messages == []
    return result.validated_parameters


def s3_client(args: dict[str, t.Any]) -> t.Any:
    repository = open_repository(module_params({"repository": "s3://backups/site-a", **args}))
    return t.cast(t.Any, repository.backend).client


def ca_certificate(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "resilience.dr test CA")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_BEFORE + datetime.timedelta(days=36500))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_the_amazon_aws_option_names_reach_the_client():
    client = s3_client({
        "aws_access_key": "AKIDALIAS", "aws_secret_key": "secret-by-alias", "aws_session_token": "token-by-alias",
        "aws_endpoint_url": "http://127.0.0.1:9", "aws_region": "eu-west-2",
    })
    credentials = client._request_signer._credentials  # pylint: disable=protected-access
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        "AKIDALIAS", "secret-by-alias", "token-by-alias")
    assert (client.meta.endpoint_url, client.meta.region_name) == ("http://127.0.0.1:9", "eu-west-2")


@pytest.mark.parametrize(("alias", "option"), [
    ("aws_access_key_id", "access_key"), ("aws_access_key", "access_key"),
    ("aws_secret_access_key", "secret_key"), ("aws_secret_key", "secret_key"),
    ("aws_session_token", "session_token"), ("aws_profile", "profile"),
    ("aws_region", "region"), ("aws_endpoint_url", "endpoint_url"),
])
def test_every_amazon_aws_alias_sets_its_option(alias, option):
    assert module_params({"repository": "/srv/backups", alias: "given"})[option] == "given"


def test_aws_config_reaches_the_client_over_the_defaults_and_keeps_the_standard_retry_mode():
    config = s3_client({"endpoint_url": "http://127.0.0.1:9", "aws_config": {"connect_timeout": 1}}).meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 120)
    # The client counts the first attempt too: max_attempts 5 (retries) is total_max_attempts 6.
    assert config.retries == {"mode": "standard", "total_max_attempts": 6}
    assert config.s3 == {"addressing_style": "path"}

    config = s3_client({"endpoint_url": "http://127.0.0.1:9", "aws_config": {
        "retries": {"max_attempts": 9}, "s3": {"use_accelerate_endpoint": False}}}).meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 10}
    assert config.s3 == {"addressing_style": "path", "use_accelerate_endpoint": False}


def test_without_aws_config_the_client_is_as_before():
    config = s3_client({"region": "eu-west-1"}).meta.config
    assert (config.connect_timeout, config.read_timeout, config.retries) == (10, 120, {"mode": "standard", "total_max_attempts": 6})
    assert config.s3 is None


@pytest.mark.parametrize("aws_config", [{"connect_timeout_s": 1}, {"retries": {"mode": "eventually"}}])
def test_an_aws_config_botocore_does_not_take_is_refused_naming_the_option(aws_config):
    with pytest.raises(ConfigurationError, match="aws_config is not a botocore configuration"):
        s3_client({"region": "eu-west-1", "aws_config": aws_config})


def test_a_ca_bundle_is_what_the_client_verifies_with(tmp_path):
    bundle = str(ca_certificate(tmp_path / "ca.pem"))
    assert tls_verify(Connection(ca_bundle=bundle)) == bundle
    client = s3_client({"region": "eu-west-1", "aws_ca_bundle": bundle})
    assert client._endpoint.http_session._verify == bundle  # pylint: disable=protected-access


def test_validate_certs_off_wins_over_a_ca_bundle_and_without_either_the_default_cas_verify(tmp_path):
    bundle = str(ca_certificate(tmp_path / "ca.pem"))
    assert tls_verify(Connection(validate_certs=False, ca_bundle=bundle)) is False
    assert tls_verify(Connection()) is True


def test_a_ca_bundle_that_holds_no_certificate_is_refused_before_any_request(tmp_path):
    not_a_bundle = tmp_path / "ca.pem"
    not_a_bundle.write_text("this is a key list, not certificates\n")
    with pytest.raises(ConfigurationError, match=f"aws_ca_bundle {not_a_bundle} holds no CA certificate"):
        s3_client({"region": "eu-west-1", "aws_ca_bundle": str(not_a_bundle)})
    with pytest.raises(ConfigurationError, match=f"aws_ca_bundle {tmp_path}/missing.pem is not a file"):
        s3_client({"region": "eu-west-1", "aws_ca_bundle": str(tmp_path / "missing.pem")})


def test_backup_copy_reaches_both_sides_with_the_shared_ca_bundle_and_settings(tmp_path):
    bundle = str(ca_certificate(tmp_path / "ca.pem"))
    params = {"repository": "s3://site-a/backups", "destination_repository": "s3://site-b/backups",
              "destination_region": "eu-west-2", "region": "eu-west-1", "aws_ca_bundle": bundle,
              "aws_config": {"connect_timeout": 2}}
    for repository in open_copy_repositories(params):
        client = t.cast(t.Any, repository.backend).client
        assert client._endpoint.http_session._verify == bundle  # pylint: disable=protected-access
        assert client.meta.config.connect_timeout == 2
