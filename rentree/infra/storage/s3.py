"""An S3-compatible bucket through boto3, with short connect timeouts and one-sentence
errors for an endpoint or bucket that cannot be used."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from rentree.infra.settings import ConfigurationError


class S3Store:
    """An S3-compatible bucket (AWS, MinIO, Ceph RGW, Garage) under an optional prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        client: Any | None = None,
        *,
        connect_timeout: float = 3.0,
        max_attempts: int = 3,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self.endpoint_url = endpoint_url
        self.connect_timeout = connect_timeout
        # botocore's defaults (60 s connect timeout, legacy retries) make an unreachable
        # endpoint a minute-long silence; a short connect timeout and few standard retries
        # report it within seconds while a slow transfer (read timeout) still completes.
        self.client = client or _client(
            endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=60,
            max_attempts=max_attempts,
            # SigV4: what every AWS region accepts for presigned report links
            signature_version="s3v4",
        )

    def _key(self, key: str) -> str:
        return self.prefix + key

    def list(self, prefix: str) -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            keys.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
        return sorted(k for k in keys if not k.endswith("/"))

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def size(self, key: str) -> int:
        head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        return int(head["ContentLength"])

    def read_bytes(self, key: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        return bytes(body.read())

    @contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        try:
            yield body
        finally:
            body.close()

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def upload(self, path: Path, key: str) -> None:
        # upload_file streams in multipart chunks: large feed files never sit in memory.
        self.client.upload_file(str(path), self.bucket, self._key(key))

    def download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.client.download_file(self.bucket, self._key(key), str(path))

    def move(self, src: str, dst: str) -> None:
        self.client.copy(
            {"Bucket": self.bucket, "Key": self._key(src)}, self.bucket, self._key(dst)
        )
        self.client.delete_object(Bucket=self.bucket, Key=self._key(src))

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def link(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def browser_link(self, key: str, expires_seconds: int) -> str | None:
        # signed locally, no request: the URL opens in a browser without credentials
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": self._key(key)},
                ExpiresIn=expires_seconds,
            )
        )

    def not_regular(self, prefix: str) -> Sequence[str]:
        return []  # an S3 object is always a plain object

    def set_aside(self, key: str, dst: str) -> None:
        self.move(key, dst)

    def clean_unfinished(self, older_than: timedelta, prefix: str = "") -> int:
        """Abort the multipart uploads (large uploads and copies) an interrupted run left."""
        before = datetime.now(UTC) - older_than
        paginator = self.client.get_paginator("list_multipart_uploads")
        left = [
            upload
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix))
            for upload in page.get("Uploads", [])
            if upload["Initiated"] < before
        ]
        for upload in left:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        return len(left)

    def ensure_layout(self) -> None:
        # S3 has no folders; the bucket must exist and be reachable.
        self.check()

    def check(self) -> None:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        where = self.endpoint_url or "AWS"
        try:
            # one attempt, short timeouts: this is the question "is it there at all"
            self._probe_client().head_bucket(Bucket=self.bucket)
        except (ConnectTimeoutError, ReadTimeoutError):
            raise ConfigurationError(
                f"RENTREE_STORAGE_URL={self.url}: the S3 endpoint {where} did not answer within "
                f"{self.connect_timeout:g} s; check RENTREE_S3_ENDPOINT_URL and the network."
            ) from None
        except EndpointConnectionError:
            raise ConfigurationError(
                f"RENTREE_STORAGE_URL={self.url}: the S3 endpoint {where} cannot be reached; "
                "check RENTREE_S3_ENDPOINT_URL and that the service is running."
            ) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            problem = "does not exist" if code in {"404", "NoSuchBucket"} else f"answers {code}"
            raise ConfigurationError(
                f"RENTREE_STORAGE_URL={self.url}: the bucket {self.bucket!r} {problem} at "
                f"{where}; create it or fix the credentials and RENTREE_S3_ENDPOINT_URL."
            ) from None
        except BotoCoreError as exc:
            raise ConfigurationError(
                f"RENTREE_STORAGE_URL={self.url}: the bucket {self.bucket!r} cannot be used "
                f"({type(exc).__name__}); fix the credentials and RENTREE_S3_ENDPOINT_URL."
            ) from None

    def _probe_client(self) -> Any:
        return _client(
            self.endpoint_url,
            connect_timeout=self.connect_timeout,
            read_timeout=self.connect_timeout,
            max_attempts=1,
        )


def _client(
    endpoint_url: str | None,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    **config: Any,
) -> Any:
    """A boto3 S3 client with path-style addressing and standard retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        config=Config(
            s3={"addressing_style": "path"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            **config,
        ),
    )
