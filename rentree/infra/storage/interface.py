"""The one storage interface: what rentree needs of a backend (storage.md).

Keys are `/`-separated paths under one root. Large objects are streamed through files,
never held whole in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, Protocol

# how much of an object is read or copied at a time
CHUNK = 1024 * 1024


class ObjectStore(Protocol):
    """What rentree needs of a storage backend."""

    url: str

    def list(self, prefix: str) -> list[str]:
        """Keys under a prefix, sorted."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """The object's length in bytes, without reading it."""
        ...

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
