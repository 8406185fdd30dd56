"""A generated region's content inventory imports with zero rejects once its closing year's
feeds are in the directory: every user, group, bookmark and resource it names exists, no
Guest login is taken by a pupil, and each table's rows are all imported."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select

from rentree.infra.frames import read_frame
from rentree.infra.naming import landing_key
from rentree.infra.schema import users as users_table
from rentree.infra.settings import Settings
from rentree.infra.storage import LocalStore
from rentree.synthetic import GeneratedRegion, generate_region
from rentree.tasks.content.inventory.apply import import_content
from rentree.tasks.content.inventory.read import read_inventory
from rentree.tasks.imports.outcome import FAMILY_IMPORT_TYPES, STAFF_TYPES
from rentree.tasks.imports.pending import import_pending

SETTINGS = Settings(database_url="sqlite://", storage_url="unused")
AUGUST = datetime(2025, 8, 25, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> GeneratedRegion:
    return generate_region("tiny", tmp_path_factory.mktemp("tiny") / "region")


def test_tiny_inventory_imports_with_zero_rejects(
    engine: Engine, region: GeneratedRegion, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "storage")
    store.ensure_layout()
    closing = region.manifest["closing_year"]
    for path in sorted((region.out / "landing" / closing).iterdir()):
        store.upload(path, landing_key(closing, path.name))
    outcomes = import_pending(
        engine, store, SETTINGS, closing, ("EtabEducNat", *STAFF_TYPES, *FAMILY_IMPORT_TYPES),
        run_id="closing", now=AUGUST,
    )  # fmt: skip
    assert [o.status for o in outcomes] == ["applied"], [o.reason for o in outcomes]

    with engine.begin() as conn:
        imported = import_content(conn, store, read_inventory(region.out / "content"), now=AUGUST)
    assert imported.rejects.rows() == []
    assert imported.rejected == 0
    counts = imported.counts()
    expected = region.manifest["counts"]["content"]
    assert dict(zip(counts["table"], counts["rows"], strict=True)) == expected
    assert dict(zip(counts["table"], counts["imported"], strict=True)) == expected
    for table, rows in expected.items():
        assert pl.read_parquet(region.out / "content" / f"{table}.parquet").height == rows

    # Guests keep the logins the inventory gave them, distinct from every pupil's.
    with engine.connect() as conn:
        users = read_frame(
            conn, select(users_table.c.external_id, users_table.c.profile, users_table.c.login)
        )
    guests = users.filter(pl.col("profile") == "Guest")
    assert guests.height == expected["users"]
    logins = users["login"].drop_nulls()
    assert logins.n_unique() == logins.len()
