"""Object storage: one small interface, a local folder and S3 (boto3) behind it.

Keys are `/`-separated paths under one root (storage.md). Large objects are streamed
through files, never held whole in memory.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol

from rentree.infra.naming import STORAGE_ROOTS
from rentree.infra.settings import ConfigurationError, Settings

_CHUNK = 1024 * 1024


class ObjectStore(Protocol):
    """What rentree needs of a storage backend."""

    url: str

    def list(self, prefix: str) -> list[str]:
        """Keys under a prefix, sorted."""
        ...

    def exists(self, key: str) -> bool: ...

    def read_bytes(self, key: str) -> bytes:
        """A small object whole (reports, change sets)."""
        ...

    @contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        """A streamed read: a binary file object over the object."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None: ...

    def upload(self, path: Path, key: str) -> None:
        """Store a local file under a key, streamed."""
        ...

    def download(self, key: str, path: Path) -> None: ...

    def move(self, src: str, dst: str) -> None: ...

    def delete(self, key: str) -> None:
        """Only for `landing/` and `held/` after a move elsewhere; never for archive data."""
        ...

    def link(self, key: str) -> str:
        """Where an operator finds the object (a path or an s3:// URL)."""
        ...

    def ensure_layout(self) -> None:
        """Create the storage roots of storage.md (idempotent)."""
        ...


def sha256_of(store: ObjectStore, key: str) -> str:
    digest = hashlib.sha256()
    with store.open_read(key) as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


class LocalStore:
    """A local folder laid out like the bucket."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.url = f"file://{self.root}"

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents and path != self.root:
            raise ValueError(f"{key!r} leaves the storage root {self.root}.")
        return path

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    @contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        with self._path(key).open("rb") as stream:
            yield stream

    def _atomic_write(self, key: str, fill: Any) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{path.name}")
        with tmp.open("wb") as out:
            fill(out)
        tmp.replace(path)

    def write_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(key, lambda out: out.write(data))

    def upload(self, path: Path, key: str) -> None:
        def fill(out: IO[bytes]) -> None:
            with path.open("rb") as src:
                shutil.copyfileobj(src, out, _CHUNK)

        self._atomic_write(key, fill)

    def download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(key), path)

    def move(self, src: str, dst: str) -> None:
        target = self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._path(src).replace(target)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def link(self, key: str) -> str:
        return str(self._path(key))

    def ensure_layout(self) -> None:
        for root in STORAGE_ROOTS:
            (self.root / root).mkdir(parents=True, exist_ok=True)


class S3Store:
    """An S3-compatible bucket (AWS, MinIO, Ceph RGW, Garage) under an optional prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        client: Any | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
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

    def read_bytes(self, key: str) -> bytes:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        return bytes(body.read())

    @contextmanager
    def open_read(self, key: str) -> Iterator[IO[bytes]]:
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        try:
            yield body  # type: ignore[misc]
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

    def ensure_layout(self) -> None:
        # S3 has no folders; the bucket must exist and be reachable.
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise ConfigurationError(
                f"RENTREE_STORAGE_URL={self.url}: the bucket {self.bucket!r} cannot be reached "
                f"({exc}); create it or fix RENTREE_S3_ENDPOINT_URL and the credentials."
            ) from None


def open_store(settings: Settings) -> ObjectStore:
    """The store that RENTREE_STORAGE_URL names."""
    url = settings.storage_url
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigurationError(
                f"RENTREE_STORAGE_URL={url!r} names no bucket; write s3://bucket/prefix."
            )
        return S3Store(bucket, prefix, endpoint_url=settings.s3_endpoint_url)
    if "://" in url and not url.startswith("file://"):
        raise ConfigurationError(
            f"RENTREE_STORAGE_URL={url!r} is neither s3://bucket/prefix nor a folder; fix it."
        )
    return LocalStore(settings.local_storage_root())
