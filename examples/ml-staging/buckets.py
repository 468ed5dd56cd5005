"""The buckets the example reads and writes, through each cloud's own Python client.

Endpoints and credentials come from the environment, as for skyplane itself: boto3 reads the AWS
chain and AWS_ENDPOINT_URL_S3; google-cloud-storage reads Application Default Credentials and
STORAGE_EMULATOR_HOST (the storage emulators: ``npm run emulators``).
"""

from __future__ import annotations

from typing import IO, Any
from urllib.parse import urlsplit

import boto3
from google.cloud import storage

# A shard is read in ranges of this size: one range is held in memory, nothing is written to disk.
READ_CHUNK = 4 << 20


def split_uri(uri: str) -> tuple[str, str, str]:
    """``s3://bucket/prefix/`` → ("s3", "bucket", "prefix/"); only s3:// and gs:// are taken."""
    parts = urlsplit(uri)
    if parts.scheme not in ("s3", "gs") or not parts.netloc:
        raise ValueError(f"{uri!r} is not an s3:// or gs:// URI: give one as s3://BUCKET/PREFIX/")
    prefix = parts.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return parts.scheme, parts.netloc, prefix


class S3Prefix:
    """Shards under an S3 prefix."""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.client: Any = boto3.client("s3")

    def describe(self) -> str:
        """The prefix as a URI."""
        return f"s3://{self.bucket}/{self.prefix}"

    def ensure_bucket(self) -> None:
        """Creates the bucket unless it is there."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except self.client.exceptions.ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put(self, name: str, data: bytes) -> None:
        """Uploads one object under the prefix."""
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=data)

    def shards(self) -> list[str]:
        """The keys under the prefix, sorted."""
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(keys)

    def sizes(self) -> dict[str, int]:
        """Each key's size, relative to the prefix."""
        out: dict[str, int] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        ):
            out.update(
                {o["Key"][len(self.prefix) :]: int(o["Size"]) for o in page.get("Contents", [])}
            )
        return out

    def open(self, key: str) -> IO[bytes]:
        """The object's body as a stream."""
        body: IO[bytes] = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return body


class GcsPrefix:
    """Shards under a GCS prefix."""

    def __init__(self, bucket: str, prefix: str) -> None:
        self.bucket_name = bucket
        self.prefix = prefix
        self.client = storage.Client()
        self.bucket = self.client.bucket(bucket)

    def describe(self) -> str:
        """The prefix as a URI."""
        return f"gs://{self.bucket_name}/{self.prefix}"

    def ensure_bucket(self) -> None:
        """Creates the bucket unless it is there."""
        if not self.bucket.exists():
            self.client.create_bucket(self.bucket_name)

    def put(self, name: str, data: bytes) -> None:
        """Uploads one object under the prefix."""
        self.bucket.blob(self.prefix + name).upload_from_string(data)

    def shards(self) -> list[str]:
        """The keys under the prefix, sorted."""
        return sorted(b.name for b in self.client.list_blobs(self.bucket_name, prefix=self.prefix))

    def sizes(self) -> dict[str, int]:
        """Each key's size, relative to the prefix."""
        return {
            b.name[len(self.prefix) :]: int(b.size)
            for b in self.client.list_blobs(self.bucket_name, prefix=self.prefix)
        }

    def open(self, key: str) -> IO[bytes]:
        """The object as a stream, read in ranges of READ_CHUNK."""
        reader: IO[bytes] = self.bucket.blob(key).open("rb", chunk_size=READ_CHUNK)
        return reader


def open_prefix(uri: str) -> S3Prefix | GcsPrefix:
    """The prefix a URI names."""
    scheme, bucket, prefix = split_uri(uri)
    return S3Prefix(bucket, prefix) if scheme == "s3" else GcsPrefix(bucket, prefix)
