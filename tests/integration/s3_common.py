# Copyright: resilience.dr contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An S3 component of a plan on the lab's moto server, and what its bucket holds."""

from __future__ import annotations

import typing as t


def s3_component(aws: dict[str, str], bucket: str, rpo: str = "0s") -> dict[str, t.Any]:
    """The plan's product-images component: the images/ prefix of `bucket`, rolled back with object versions."""
    return {"name": "product-images", "kind": "s3", "rto": "1h", "rpo": rpo,
            "connection": {"bucket": bucket, "prefix": "images/", **aws}, "backup": {"method": "versioning"}}


def objects(client: t.Any, bucket: str, prefix: str = "") -> dict[str, bytes]:
    """Every object of the bucket (under prefix) by key, with its content."""
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listing}
