"""The store interface behaves the same on a local folder and on S3 over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from rentree.infra.storage import ObjectStore, sha256_of


def test_write_read_list_exists(store: ObjectStore) -> None:
    store.write_bytes("landing/2024-2025/a.xml", b"<a/>")
    store.write_bytes("landing/2024-2025/b.xml", b"<b/>")
    store.write_bytes("archive/2024-2025/20240826/c.xml", b"<c/>")
    assert store.list("landing/2024-2025/") == [
        "landing/2024-2025/a.xml",
        "landing/2024-2025/b.xml",
    ]
    assert store.exists("landing/2024-2025/a.xml")
    assert not store.exists("landing/2024-2025/zzz.xml")
    assert store.read_bytes("landing/2024-2025/b.xml") == b"<b/>"
    assert store.list("quarantine/") == []
    store.write_bytes("landing/2024-2025/c.xml", b"<c>12345</c>")
    assert store.size("landing/2024-2025/c.xml") == 12


def test_move_removes_source_and_keeps_bytes(store: ObjectStore) -> None:
    store.write_bytes("landing/2024-2025/a.xml", b"payload")
    store.move("landing/2024-2025/a.xml", "archive/2024-2025/20240826/a.xml")
    assert not store.exists("landing/2024-2025/a.xml")
    assert store.read_bytes("archive/2024-2025/20240826/a.xml") == b"payload"


def test_large_file_is_streamed_both_ways(store: ObjectStore, tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    block = b"x" * (1024 * 1024)
    with big.open("wb") as out:
        for _ in range(12):  # above boto3's 8 MB multipart threshold
            out.write(block)
    store.upload(big, "landing/2024-2025/big.xml")
    back = tmp_path / "back.xml"
    store.download("landing/2024-2025/big.xml", back)
    assert back.stat().st_size == 12 * 1024 * 1024
    import hashlib

    assert (
        sha256_of(store, "landing/2024-2025/big.xml")
        == hashlib.sha256(big.read_bytes()).hexdigest()
    )
    with store.open_read("landing/2024-2025/big.xml") as stream:
        assert stream.read(10) == b"x" * 10


def test_local_store_refuses_keys_outside_its_root(tmp_path: Path) -> None:
    from rentree.infra.storage import LocalStore

    local = LocalStore(tmp_path / "root")
    with pytest.raises(ValueError, match="leaves the storage root"):
        local.write_bytes("../escape.txt", b"no")
