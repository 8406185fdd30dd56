"""A local folder laid out like the bucket: writes are atomic (a temporary file renamed),
symbolic links and devices are never read through."""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from rentree.infra.naming import STORAGE_ROOTS
from rentree.infra.settings import ConfigurationError
from rentree.infra.storage.interface import CHUNK


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

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

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
                shutil.copyfileobj(src, out, CHUNK)

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
