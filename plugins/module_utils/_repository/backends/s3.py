# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A repository under an S3 prefix (AWS or an S3-compatible store)."""

from __future__ import annotations

import threading
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import ModuleType

from ansible_collections.resilience.dr.plugins.module_utils._aws.connection import Connection
from ansible_collections.resilience.dr.plugins.module_utils._errors import ConfigurationError, RepositoryError
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.base import (
    Backend,
    ObjectWriter,
    StoredObject,
    VerifiedWriter,
)
from ansible_collections.resilience.dr.plugins.module_utils._repository.backends.s3_writers import (
    UPLOADS_IN_FLIGHT,
    S3VerifiedWriter,
    S3Writer,
)


def _aws_session() -> ModuleType:
    """_aws.session, imported with boto3 when the first S3 backend is made.

    boto3 takes most of a second to import, botocore's exceptions (_aws.errors) a tenth: both are imported only
    for S3 repositories, never for a local one.
    """
    # pylint: disable-next=import-outside-toplevel
    from ansible_collections.resilience.dr.plugins.module_utils._aws import session

    session.import_boto3()
    return session


# Connections kept per S3 client: enough for the parts of several files
# uploaded at once (backup_copy sends four files at a time), so none is
# opened and discarded per part.
S3_CONNECTIONS = 4 * UPLOADS_IN_FLIGHT + 4


@dataclass(frozen=True)
class S3Options(Connection):
    """The connection (amazon.aws options) and what the repository asks of S3 for every object it writes."""

    sse: str | None = None
    sse_kms_key_id: str | None = None
    object_lock_mode: str | None = None
    object_lock_days: int | None = None


_IAM_HINT = "; the credentials lack permission for this (see the IAM policy in docs/repository-format.md)"
MISSING = ("NoSuchKey", "404", "NotFound")
PRECONDITION_FAILED = ("PreconditionFailed", "ConditionalRequestConflict", "412")


class S3Backend(Backend):
    def __init__(self, url: str, options: S3Options) -> None:
        aws_session = _aws_session()
        rest = url[len("s3://"):]
        bucket, _separator, prefix = rest.partition("/")
        if not bucket:
            raise ConfigurationError(f"repository {url!r} names no bucket; write it as s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.location = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.options = options
        self._session = aws_session.boto3_session(options)
        self._config = aws_session.client_config(
            options,
            max_pool_connections=S3_CONNECTIONS,
            s3={"addressing_style": "path"} if options.endpoint_url else None,
        )
        self.client = aws_session.s3_client(self._session, options, self._config)
        self._checksummed_client: t.Any = None
        self._client_guard = threading.Lock()

    def checksummed_client(self) -> t.Any:
        """A client for uploads that carry their own checksum (x-amz-checksum-crc32).

        Such a request's body is checked by S3 against that signed header, so
        botocore need not hash the body a second time for the signature: on
        https it already leaves it unsigned, on plain http (a test endpoint,
        MinIO) it would SHA-256 every byte again. This client never signs the body,
        and is used only for requests that carry the checksum.
        """
        with self._client_guard:
            if self._checksummed_client is None:
                aws_session = _aws_session()
                config = aws_session.with_s3_settings(self._config, payload_signing_enabled=False)
                self._checksummed_client = aws_session.s3_client(self._session, self.options, config)
            return self._checksummed_client

    def object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def put_arguments(self) -> dict[str, t.Any]:
        arguments: dict[str, t.Any] = {}
        if self.options.sse:
            arguments["ServerSideEncryption"] = self.options.sse
            if self.options.sse_kms_key_id:
                arguments["SSEKMSKeyId"] = self.options.sse_kms_key_id
        if self.options.object_lock_mode:
            arguments["ObjectLockMode"] = self.options.object_lock_mode
            arguments["ObjectLockRetainUntilDate"] = datetime.now(timezone.utc) + timedelta(
                days=self.options.object_lock_days or 1
            )
        return arguments

    def ensure_retention(self, object_key: str) -> None:
        """Make sure an object written by multipart upload carries the Object Lock retention asked for.

        S3 applies the retention given to CreateMultipartUpload; some S3-compatible
        stores silently drop it, so check, and set it explicitly if it is missing.
        """
        arguments = self.put_arguments()
        if "ObjectLockMode" not in arguments:
            return
        head = self.call("head_object", object_key, Bucket=self.bucket, Key=object_key)
        if head.get("ObjectLockMode") == arguments["ObjectLockMode"]:
            return
        self.call(
            "put_object_retention", object_key, Bucket=self.bucket, Key=object_key,
            Retention={"Mode": arguments["ObjectLockMode"], "RetainUntilDate": arguments["ObjectLockRetainUntilDate"]},
        )

    def call(self, operation: str, key: str, *, client: t.Any = None, **arguments: t.Any) -> dict[str, t.Any]:
        """One S3 API call (with client, or the backend's own); failures become a RepositoryError naming the object and the AWS error."""
        # Imported here, not at the top, for the reason _aws_session gives; by now it is loaded.
        # pylint: disable-next=import-outside-toplevel
        from ansible_collections.resilience.dr.plugins.module_utils._aws import errors as aws

        try:
            return getattr(client or self.client, operation)(**arguments)
        except aws.ClientError as error:
            code = aws.error_code(error, default="")
            hints = {
                "NoSuchBucket": f"; the bucket {self.bucket} does not exist (create it, or check the repository URL and region)",
                "InvalidAccessKeyId": "; the access key is not known to this endpoint",
                "SignatureDoesNotMatch": "; the secret key does not match the access key",
            }
            hint = _IAM_HINT if aws.is_access_denied(error) else hints.get(code, "")
            raise RepositoryError(
                f"S3 {operation} of s3://{self.bucket}/{key} failed: {code or 'error'}: {aws.error_message(error)}{hint}",
                aws_error_code=code or None,
            ) from None
        except aws.EndpointConnectionError as error:
            raise RepositoryError(
                f"cannot reach the S3 endpoint for {self.location}: {error}; check endpoint_url, region and the network",
            ) from None
        except aws.BotoCoreError as error:
            raise RepositoryError(f"S3 {operation} of s3://{self.bucket}/{key} failed: {error}") from None

    def list_objects(self, prefix: str) -> t.Iterator[StoredObject]:
        full = self.object_key(prefix.rstrip("/") + "/") if prefix else (self.prefix + "/" if self.prefix else "")
        token = None
        while True:
            arguments = {"Bucket": self.bucket, "Prefix": full}
            if token:
                arguments["ContinuationToken"] = token
            page = self.call("list_objects_v2", full, **arguments)
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) + 1:] if self.prefix else item["Key"]
                yield StoredObject(key, int(item["Size"]), item.get("LastModified"))
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list_children(self, prefix: str) -> list[str]:
        full = self.object_key(prefix.rstrip("/") + "/") if prefix else (self.prefix + "/" if self.prefix else "")
        names = []
        token = None
        while True:
            arguments = {"Bucket": self.bucket, "Prefix": full, "Delimiter": "/"}
            if token:
                arguments["ContinuationToken"] = token
            page = self.call("list_objects_v2", full, **arguments)
            for common in page.get("CommonPrefixes", []):
                names.append(common["Prefix"][len(full):].rstrip("/"))
            if not page.get("IsTruncated"):
                return sorted(names)
            token = page["NextContinuationToken"]

    def read_bytes(self, key: str) -> bytes | None:
        try:
            return self.call("get_object", key, Bucket=self.bucket, Key=self.object_key(key))["Body"].read()
        except RepositoryError as error:
            if error.details.get("aws_error_code") in MISSING:
                return None
            raise

    def open_read(self, key: str) -> t.BinaryIO:
        return self.call("get_object", key, Bucket=self.bucket, Key=self.object_key(key))["Body"]

    def open_write(self, key: str) -> ObjectWriter:
        return S3Writer(self, key)

    def open_verified_write(self, key: str) -> VerifiedWriter:
        """A writer whose PUT and parts carry CRC32 checksums that S3 checks on receipt.

        On commit, the size and the checksum S3 stored for the object are
        compared with those of what was sent; a store that keeps no checksums (some
        S3-compatible ones) gets the object read back instead.
        """
        return S3VerifiedWriter(self, key)

    def _conditional(self, operation: str, key: str, **arguments: t.Any) -> bool:
        """Run a conditional write; False when its precondition did not hold."""
        try:
            self.call(operation, key, Bucket=self.bucket, Key=self.object_key(key), **arguments)
        except RepositoryError as error:
            if error.details.get("aws_error_code") in PRECONDITION_FAILED:
                return False
            raise
        return True

    def create_exclusive(self, key: str, data: bytes) -> bool:
        return self._conditional("put_object", key, Body=data, IfNoneMatch="*", **self.put_arguments())

    def _etag_if(self, key: str, expected: bytes) -> str | None:
        """The ETag of key while it holds expected, else None."""
        try:
            response = self.call("get_object", key, Bucket=self.bucket, Key=self.object_key(key))
        except RepositoryError as error:
            if error.details.get("aws_error_code") in MISSING:
                return None
            raise
        return response["ETag"] if response["Body"].read() == expected else None

    def replace_if_unchanged(self, key: str, expected: bytes, data: bytes) -> bool:
        etag = self._etag_if(key, expected)
        return etag is not None and self._conditional("put_object", key, Body=data, IfMatch=etag, **self.put_arguments())

    def delete_if_unchanged(self, key: str, expected: bytes) -> bool:
        etag = self._etag_if(key, expected)
        return etag is not None and self._conditional("delete_object", key, IfMatch=etag)

    def delete(self, keys: t.Sequence[str]) -> None:
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            response = self.call(
                "delete_objects", batch[0], Bucket=self.bucket,
                Delete={"Objects": [{"Key": self.object_key(key)} for key in batch], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise RepositoryError(
                    f"S3 refused to delete {len(errors)} object(s), first s3://{self.bucket}/{first.get('Key')}: "
                    f"{first.get('Code')}: {first.get('Message')} (an S3 Object Lock retention may still protect it)"
                )

    def close(self) -> None:
        self.client.close()
        if self._checksummed_client is not None:
            self._checksummed_client.close()
