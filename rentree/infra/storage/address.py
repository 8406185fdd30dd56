"""Opening a store: from the settings (RENTREE_STORAGE_URL), or from a `StoreAddress` that
travels to a worker on another host."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rentree.infra.settings import ConfigurationError, Settings
from rentree.infra.storage.interface import ObjectStore
from rentree.infra.storage.local import LocalStore
from rentree.infra.storage.s3 import S3Store


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
