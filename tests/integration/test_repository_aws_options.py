# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An s3:// repository reached with amazon.aws's option names, and through TLS with a private CA (aws_ca_bundle).

The lab's moto server speaks plain http; for the TLS test a TLS front end of this test (a certificate of its
own CA, for 127.0.0.1) forwards every connection to it, so botocore verifies a real certificate chain.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BACKUP = "resilience.dr.files_backup"
INFO = "resilience.dr.backup_info"
# A validity wide enough for any day these tests run on (TLS checks it against the real clock).
NOT_BEFORE = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
NOT_AFTER = datetime.datetime(2120, 1, 1, tzinfo=datetime.timezone.utc)


def certificate(subject: str, key: t.Any, issuer: x509.Name | None = None, issuer_key: t.Any = None,
                ca: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(NOT_BEFORE).not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def pem(item: x509.Certificate) -> bytes:
    return item.public_bytes(serialization.Encoding.PEM)


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            end.close()


@pytest.fixture(scope="module")
def tls_endpoint(lab: dict[str, t.Any], tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[tuple[str, Path]]:
    """https://127.0.0.1:PORT in front of the lab's moto server, and the PEM file of the CA that signed its certificate."""
    directory = tmp_path_factory.mktemp("tls")
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("resilience.dr test CA", ca_key, ca=True)
    server = certificate("127.0.0.1", server_key, issuer=ca.subject, issuer_key=ca_key)
    (directory / "ca.pem").write_bytes(pem(ca))
    (directory / "server.pem").write_bytes(pem(server))
    (directory / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    moto = urlsplit(lab["aws"]["endpoint_url"])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                client, _address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                secured = context.wrap_socket(client, server_side=True)
            except (ssl.SSLError, OSError):
                client.close()  # a client that refused the certificate: what one of the tests expects
                continue
            upstream = socket.create_connection((moto.hostname, moto.port))
            for source, sink in ((secured, upstream), (upstream, secured)):
                threading.Thread(target=pump, args=(source, sink), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}", directory / "ca.pem"
    finally:
        stopping.set()
        thread.join(timeout=5)
        listener.close()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "uploads"
    (root / "invoices").mkdir(parents=True)
    (root / "invoices" / "2026-11.pdf").write_bytes(b"%PDF-1.7 invoice\n")
    return root


def test_a_repository_is_reached_with_the_amazon_aws_option_names(ansible, aws, s3_bucket, tree):
    repository = {"repository": f"s3://{s3_bucket}/backups", "component": "uploads"}
    backup = ansible.module(BACKUP, {
        **repository, "path": str(tree), "aws_access_key": aws["access_key"], "aws_secret_key": aws["secret_key"],
        "aws_endpoint_url": aws["endpoint_url"], "aws_region": aws["region"],
    })
    assert not backup["failed"], backup["msg"]
    assert backup["changed"]
    listed = ansible.module(INFO, {
        **repository, "aws_access_key_id": aws["access_key"], "aws_secret_access_key": aws["secret_key"],
        "aws_endpoint_url": aws["endpoint_url"], "aws_region": aws["region"],
    })
    assert not listed["failed"], listed["msg"]
    assert [item["backup_id"] for item in listed["backups"]] == [backup["backup_id"]]


def test_a_tls_endpoint_of_a_private_ca_is_verified_with_aws_ca_bundle(ansible, aws, s3_bucket, tls_endpoint, tree):
    url, ca_bundle = tls_endpoint
    options = {**aws, "endpoint_url": url, "repository": f"s3://{s3_bucket}/backups", "component": "uploads"}

    unverified = ansible.module(INFO, options)
    assert unverified["failed"]
    assert "CERTIFICATE_VERIFY_FAILED" in unverified["msg"], unverified["msg"]

    backup = ansible.module(BACKUP, {**options, "path": str(tree), "aws_ca_bundle": str(ca_bundle)})
    assert not backup["failed"], backup["msg"]
    listed = ansible.module(INFO, {**options, "aws_ca_bundle": str(ca_bundle)})
    assert not listed["failed"], listed["msg"]
    assert [item["backup_id"] for item in listed["backups"]] == [backup["backup_id"]]


def test_an_aws_ca_bundle_that_is_not_a_ca_bundle_fails_naming_it(ansible, aws, s3_bucket, tls_endpoint, tree):
    url, ca_bundle = tls_endpoint
    not_a_bundle = ca_bundle.parent / "server.key"
    result = ansible.module(BACKUP, {**aws, "endpoint_url": url, "repository": f"s3://{s3_bucket}/backups",
                                     "component": "uploads", "path": str(tree), "aws_ca_bundle": str(not_a_bundle)})
    assert result["failed"]
    assert result["msg"].startswith(f"aws_ca_bundle {not_a_bundle} holds no CA certificate"), result["msg"]
