"""Reports open correctly in a French spreadsheet (UTF-8 with a BOM, `;`, a decimal comma,
rounded decimals, sizes in bytes with a human unit beside them); Parquet stays exact."""

from __future__ import annotations

import io

import polars as pl

from rentree.infra.reports import write_report
from rentree.infra.storage import ObjectStore


def test_csv_is_for_a_french_spreadsheet_and_parquet_stays_exact(store: ObjectStore) -> None:
    frame = pl.DataFrame(
        {
            "school": ["=HYPERLINK()", "École B"],
            "total_bytes": [1536 * 1024**2, 200],
            "quota_use": [0.834567, None],
            "mean_files": [12.345678, 2.0],
        }
    )
    written = write_report(store, "reports/2025-2026/storage-report/r1/", "schools", frame)
    data = store.read_bytes(written.csv_key)
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "school;total_bytes;total_size;quota_use;mean_files"
    assert lines[1] == "'=HYPERLINK();1610612736;1,5 GiB;0,835;12,35"
    assert lines[2] == "École B;200;200 B;;2,0"
    exact = pl.read_parquet(io.BytesIO(store.read_bytes(written.parquet_key)))
    assert exact.equals(frame)
