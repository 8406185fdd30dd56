"""Object storage: one small interface, a local folder and S3 (boto3) behind it.

Keys are `/`-separated paths under one root (storage.md). Large objects are streamed
through files, never held whole in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from rentree.infra.naming import STORAGE_ROOTS, beside_key, is_write_once
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

    def browser_link(self, key: str, expires_seconds: int) -> str | None:
        """A URL a browser opens directly (S3: presigned HTTPS, valid `expires_seconds`);
        None for a local folder, whose reports the report server serves."""
        ...

    def ensure_layout(self) -> None:
        """Create the storage roots of storage.md (idempotent): `rentree init` only."""
        ...

    def check(self) -> None:
        """Raise ConfigurationError (one sentence) when the root cannot be used: a folder that
        does not exist or is a file, a bucket that cannot be reached."""
        ...

    def not_regular(self, prefix: str) -> Sequence[str]:
        """Entries under a prefix that are not regular files (symbolic links, devices...):
        `list` never shows them, and nothing reads through them."""
        ...

    def set_aside(self, key: str, dst: str) -> None:
        """Move an entry that `not_regular` named (the link itself, never what it points to)."""
        ...

    def clean_unfinished(self, older_than: timedelta, prefix: str = "") -> int:
        """Drop what interrupted writes left under a prefix (temporary files, unfinished
        multipart uploads) started more than `older_than` ago; returns how many."""
        ...


@dataclass(frozen=True)
class StoreAddress:
    """Where a store is, in plain picklable values: what a worker on another host needs to
    open the same store (`s3://bucket/prefix` and its endpoint, or an absolute folder).
    Credentials are not in it: a worker finds its own, the boto3 way."""

    url: str
    endpoint_url: str | None = None

    def open(self) -> ObjectStore:
        if self.url.startswith("s3://"):
            bucket, _, prefix = self.url.removeprefix("s3://").partition("/")
            return S3Store(bucket, prefix, endpoint_url=self.endpoint_url)
        return LocalStore(Path(self.url.removeprefix("file://")))


def address_of(store: ObjectStore) -> StoreAddress:
    return StoreAddress(store.url, getattr(store, "endpoint_url", None))


def sha256_of(store: ObjectStore, key: str) -> str:
    digest = hashlib.sha256()
    with store.open_read(key) as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _free_key(store: ObjectStore, key: str, digest: str) -> tuple[str, bool]:
    """Where an object of this content goes under `key` in a write-once root, and whether the
    very same bytes lie there already."""
    for candidate in (key, beside_key(key, digest), beside_key(key, digest, len(digest))):
        if not store.exists(candidate):
            return candidate, False
        if sha256_of(store, candidate) == digest:
            return candidate, True
    raise FileExistsError(f"{key}: two different objects claim the same content hash.")


def move_once(store: ObjectStore, src: str, dst: str) -> str:
    """Move an object, never replacing one of a write-once root (`archive/`, `quarantine/`):
    another object of that name stays, and this one goes beside it (its name suffixed by its
    hash); the same bytes there already just end the source. Returns where it lies now."""
    if not is_write_once(dst) or not store.exists(dst):
        store.move(src, dst)
        return dst
    target, present = _free_key(store, dst, sha256_of(store, src))
    if present:
        store.delete(src)
    else:
        store.move(src, target)
    return target


def write_once(store: ObjectStore, key: str, data: bytes) -> str:
    """Write an object like `move_once` moves one; returns its key."""
    if not is_write_once(key) or not store.exists(key):
        store.write_bytes(key, data)
        return key
    target, present = _free_key(store, key, hashlib.sha256(data).hexdigest())
    if not present:
        store.write_bytes(target, data)
    return target


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
        return sorted(k for k, regular in self._entries(base) if regular)

    def _entries(self, base: Path) -> Iterator[tuple[str, bool]]:
        """(key, is a regular file) of every entry under a folder, links not followed."""
        for folder, dirs, names in os.walk(base, followlinks=False):
            for name in [*names, *(d for d in dirs if Path(folder, d).is_symlink())]:
                path = Path(folder, name)
                if name.startswith(".tmp-"):
                    continue
                regular = stat.S_ISREG(path.lstat().st_mode)
                yield path.relative_to(self.root).as_posix(), regular

    def not_regular(self, prefix: str) -> Sequence[str]:
        base = self.root / prefix.strip("/")
        if base.is_symlink() or not base.is_dir():
            return []
        return sorted(k for k, regular in self._entries(base) if not regular)

    def set_aside(self, key: str, dst: str) -> None:
        # The link itself moves (its parent folder resolved, not its target).
        source = self._path(key.rsplit("/", 1)[0]) / key.rsplit("/", 1)[-1]
        target = self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(source, target)

    def clean_unfinished(self, older_than: timedelta, prefix: str = "") -> int:
        before = time.time() - older_than.total_seconds()
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        left = [p for p in base.rglob(".tmp-*") if p.lstat().st_mtime < before]
        for path in left:
            path.unlink(missing_ok=True)
        return len(left)

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

    def browser_link(self, key: str, expires_seconds: int) -> str | None:
        return None

    def ensure_layout(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            self.check()
        for root in STORAGE_ROOTS:
            (self.root / root).mkdir(parents=True, exist_ok=True)

    def check(self) -> None:
        if self.root.is_dir():
            return
        what = "is a file, not a folder" if self.root.exists() else "does not exist"
        raise ConfigurationError(
            f"RENTREE_STORAGE_URL: the storage folder {self.root} {what}; run `rentree init` "
            "to create it, or fix RENTREE_STORAGE_URL."
        )


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
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"
        self.endpoint_url = endpoint_url
        self.connect_timeout = connect_timeout
        # botocore's defaults (60 s connect timeout, legacy retries) make an unreachable
        # endpoint a minute-long silence; a short connect timeout and few standard retries
        # report it within seconds while a slow transfer (read timeout) still completes.
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                s3={"addressing_style": "path"},
                # SigV4: what every AWS region accepts for presigned report links
                signature_version="s3v4",
                connect_timeout=connect_timeout,
                read_timeout=60,
                retries={"max_attempts": max_attempts, "mode": "standard"},
            ),
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
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=self.connect_timeout,
                read_timeout=self.connect_timeout,
                retries={"max_attempts": 1, "mode": "standard"},
            ),
        )


def open_store(settings: Settings) -> ObjectStore:
    """The store that RENTREE_STORAGE_URL names."""
    url = settings.storage_url
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigurationError(
                f"RENTREE_STORAGE_URL={url!r} names no bucket; write s3://bucket/prefix."
            )
        return S3Store(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url,
            connect_timeout=settings.s3_connect_timeout_seconds,
            max_attempts=settings.s3_max_attempts,
        )
    if "://" in url and not url.startswith("file://"):
        raise ConfigurationError(
            f"RENTREE_STORAGE_URL={url!r} is neither s3://bucket/prefix nor a folder; fix it."
        )
    return LocalStore(settings.local_storage_root())
