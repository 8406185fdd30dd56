"""What the store keeps whatever happens: write-once archive/ and quarantine/, landing entries
that are not regular files, and what interrupted writes leave behind."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import polars as pl

from rentree.infra.naming import beside_key, not_regular_key, split_beside
from rentree.infra.reports import write_report
from rentree.infra.storage import LocalStore, ObjectStore, S3Store, move_once, sha256_of

ARCHIVED = "archive/2024-2025/20240902/ENT_Complet_20240902_Eleve_0000.xml"


def test_a_second_file_of_the_same_name_is_kept_beside_the_first(store: ObjectStore) -> None:
    store.write_bytes("landing/2024-2025/a.xml", b"first")
    assert move_once(store, "landing/2024-2025/a.xml", ARCHIVED) == ARCHIVED
    store.write_bytes("landing/2024-2025/a.xml", b"second")
    beside = move_once(store, "landing/2024-2025/a.xml", ARCHIVED)
    assert beside != ARCHIVED and beside.startswith("archive/2024-2025/20240902/")
    assert store.read_bytes(ARCHIVED) == b"first"
    assert store.read_bytes(beside) == b"second"
    assert split_beside(beside.rsplit("/", 1)[-1]) == (
        ARCHIVED.rsplit("/", 1)[-1],
        sha256_of(store, beside)[:16],
    )
    # the very same bytes again: nothing more is stored, the landing file is gone
    store.write_bytes("landing/2024-2025/a.xml", b"second")
    assert move_once(store, "landing/2024-2025/a.xml", ARCHIVED) == beside
    assert not store.exists("landing/2024-2025/a.xml")
    assert len(store.list("archive/")) == 2


def test_a_quarantine_report_is_never_replaced(store: ObjectStore) -> None:
    prefix = "quarantine/2024-2025/20240902/"
    first = write_report(store, prefix, "validation-report", pl.DataFrame({"rule": ["a"]}))
    second = write_report(store, prefix, "validation-report", pl.DataFrame({"rule": ["b"]}))
    again = write_report(store, prefix, "validation-report", pl.DataFrame({"rule": ["b"]}))
    assert first.csv_key == f"{prefix}validation-report.csv"
    assert second.csv_key != first.csv_key and again.csv_key == second.csv_key
    assert b"a" in store.read_bytes(first.csv_key) and b"b" in store.read_bytes(second.csv_key)
    assert store.exists(second.parquet_key)
    # outside the write-once roots a report of the same name is written anew
    reports = write_report(store, "reports/x/", "r", pl.DataFrame({"rule": ["a"]}))
    write_report(store, "reports/x/", "r", pl.DataFrame({"rule": ["c"]}))
    assert b"c" in store.read_bytes(reports.csv_key)


def test_beside_names_keep_their_extension() -> None:
    assert (
        beside_key("q/d/validation-report.csv", "ab" * 32)
        == f"q/d/validation-report.{'ab' * 8}.csv"
    )
    assert beside_key("q/d/README", "cd" * 32) == f"q/d/README.{'cd' * 8}"
    assert split_beside("plain.xml") == ("plain.xml", None)


def test_links_in_landing_are_neither_listed_nor_followed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    store.ensure_layout()
    store.write_bytes(ARCHIVED, b"archived")
    store.write_bytes("landing/2024-2025/real.xml", b"real")
    outside = tmp_path / "outside.xml"
    outside.write_bytes(b"outside")
    landing = tmp_path / "root" / "landing" / "2024-2025"
    os.symlink(tmp_path / "root" / ARCHIVED, landing / "to-archive.xml")
    os.symlink(outside, landing / "to-outside.xml")
    os.symlink(tmp_path, landing / "a-folder")
    assert store.list("landing/2024-2025/") == ["landing/2024-2025/real.xml"]
    odd = store.not_regular("landing/2024-2025/")
    assert odd == [
        "landing/2024-2025/a-folder",
        "landing/2024-2025/to-archive.xml",
        "landing/2024-2025/to-outside.xml",
    ]
    for key in odd:
        store.set_aside(key, not_regular_key("2024-2025", key.rsplit("/", 1)[-1]))
    # the links moved, never what they point to
    assert store.read_bytes(ARCHIVED) == b"archived" and outside.read_bytes() == b"outside"
    assert store.not_regular("landing/2024-2025/") == []
    assert (tmp_path / "root" / not_regular_key("2024-2025", "to-archive.xml")).is_symlink()


def test_unfinished_writes_are_cleaned(store: ObjectStore, tmp_path: Path) -> None:
    if isinstance(store, S3Store):
        started = store.client.create_multipart_upload(
            Bucket=store.bucket, Key=store.prefix + "archive/x.xml"
        )
        store.client.upload_part(
            Bucket=store.bucket,
            Key=store.prefix + "archive/x.xml",
            UploadId=started["UploadId"],
            PartNumber=1,
            Body=b"x" * 1024,
        )

        def unfinished() -> int:
            found = store.client.list_multipart_uploads(Bucket=store.bucket)
            return len(found.get("Uploads", []))
    else:
        assert isinstance(store, LocalStore)
        (store.root / "archive" / ".tmp-x.xml").write_bytes(b"half")

        def unfinished() -> int:
            return len(list(store.root.rglob(".tmp-*")))

    assert unfinished() == 1
    if isinstance(store, LocalStore):  # moto dates every upload in 2010: no age to test there
        assert store.clean_unfinished(timedelta(hours=1)) == 0  # may still be running
    assert store.clean_unfinished(timedelta(seconds=-60), "landing/") == 0  # elsewhere
    assert store.clean_unfinished(timedelta(seconds=-60), "archive/") == 1
    assert unfinished() == 0
