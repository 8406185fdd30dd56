"""`rentree init` is harmless twice; exports are one file per table of storage.md, columns in
its order, rows in key order, byte-identical from one run to the next; the freeze snapshot
lands in the store."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import polars as pl
import pytest
from sqlalchemy import Engine, inspect
from typer.testing import CliRunner

from rentree.cli import app
from rentree.contracts.content import EXPORT_TABLES, MINIMUM_COLUMNS
from rentree.infra import schema
from rentree.infra.naming import STORAGE_ROOTS, snapshot_prefix
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.export import write_export, write_snapshot
from tests.frame_builders import insert_tables

# Inserted out of order on purpose: the export sorts them (byte order of UTF-8).
USER_IDS = ["u-b", "U-A", "u-é", "u-a", "u-Z", "u-10", "u-9"]


def seed(engine: Engine) -> None:
    insert_tables(
        engine,
        structures={
            "external_id": ["E2", "E1"],
            "uai": ["0590002B", "0590001A"],
            "name": ["École d'Été", "=Jean-Moulin"],
            "type": ["maternelle", "primaire"],
            "missing_since": [None, date(2024, 9, 2)],
        },
        users={
            "external_id": USER_IDS,
            "profile": ["Student"] * len(USER_IDS),
            "source": ["feed"] * len(USER_IDS),
            "identity": ["local"] * len(USER_IDS),
            "login": [f"login.{i}" for i in range(len(USER_IDS))],
            "first_name": ["Zoé", "Ève", "Noël", "Anaïs", "Chloé", "Léo", "Inès"],
            "last_name": ["Dupont"] * len(USER_IDS),
            "activation_state": ["pending"] * len(USER_IDS),
            "activation_code": [f"K7QZ{i}W9X" for i in range(len(USER_IDS))],
            "created_at": [datetime(2024, 9, 2, 8, i, tzinfo=UTC) for i in range(7)],
        },
        user_structures={
            "user_external_id": ["u-b", "u-a"],
            "structure_uai": ["0590001A", "0590001A"],
            "source": ["feed", "feed"],
            "director": [False, True],
        },
        shares={
            "resource_id": ["r2", "r1", "r1", "r1"],
            "recipient_kind": ["user", "user", "group", "bookmark"],
            "recipient_id": ["u-a", "u-b", "g1", "b1"],
            "rights": ["read", "read", "contrib", "manage"],
        },
    )


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_two_exports_of_the_same_directory_are_byte_identical(
    engine: Engine, tmp_path: Path, fmt: str
) -> None:
    seed(engine)
    with engine.connect() as conn:
        # Fetch batches that do not line up with the row groups: the bytes must not change.
        write_export(conn, tmp_path / "one", fmt, batch_rows=2, row_group_rows=3)  # type: ignore[arg-type]
        write_export(conn, tmp_path / "two", fmt, batch_rows=5, row_group_rows=3)  # type: ignore[arg-type]
    one, two = files(tmp_path / "one"), files(tmp_path / "two")
    assert sorted(one) == sorted(f"{t}.{fmt}" for t in EXPORT_TABLES)
    assert one == two


def test_export_columns_and_row_order(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    with engine.connect() as conn:
        summary = write_export(conn, tmp_path / "out")
    for name in EXPORT_TABLES:
        frame = pl.read_parquet(tmp_path / "out" / f"{name}.parquet")
        table_columns = [c.name for c in schema.metadata.tables[name].columns]
        minimum = list(MINIMUM_COLUMNS[name])
        assert frame.columns[: len(minimum)] == minimum
        hidden = ["activation_code"] if name == "users" else []
        assert sorted(frame.columns) == sorted(c for c in table_columns if c not in hidden)
    users = pl.read_parquet(tmp_path / "out" / "users.parquet")
    assert users["external_id"].to_list() == sorted(USER_IDS, key=lambda s: s.encode())
    assert users.schema["created_at"] == pl.Datetime("us", "UTC")
    shares = pl.read_parquet(tmp_path / "out" / "shares.parquet")
    assert shares.select("resource_id", "recipient_kind").rows() == [
        ("r1", "bookmark"),
        ("r1", "group"),
        ("r1", "user"),
        ("r2", "user"),
    ]
    assert summary.rows["users"] == len(USER_IDS)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_never_holds_activation_codes(engine: Engine, tmp_path: Path, fmt: str) -> None:
    seed(engine)
    with engine.connect() as conn:
        write_export(conn, tmp_path / "out", fmt)  # type: ignore[arg-type]
    for path in sorted((tmp_path / "out").iterdir()):
        frame = (
            pl.read_parquet(path)
            if fmt == "parquet"
            else pl.read_csv(path, separator=";", infer_schema=False)
        )
        assert "activation_code" not in frame.columns
        for column in frame.columns:
            values = frame[column].cast(pl.String).drop_nulls()
            assert not values.str.contains("K7QZ").any(), (path.name, column)


def test_csv_export_is_semicolon_separated_and_formula_safe(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    with engine.connect() as conn:
        write_export(conn, tmp_path / "out", "csv")
    structures = (tmp_path / "out" / "structures.csv").read_text(encoding="utf-8").splitlines()
    assert structures[0] == "external_id;uai;name;type;district;town;postcode;rpi;missing_since"
    assert structures[1] == "E1;0590001A;'=Jean-Moulin;primaire;;;;;2024-09-02"
    users = (tmp_path / "out" / "users.csv").read_text(encoding="utf-8")
    assert "2024-09-02T08:00:00+00:00" in users
    assert "Zoé" in users


def test_freeze_snapshot_lands_in_the_store(
    engine: Engine, store: ObjectStore, tmp_path: Path
) -> None:
    seed(engine)
    with engine.connect() as conn:
        summary = write_snapshot(conn, store, "2024-2025", "freeze")
        write_export(conn, tmp_path / "local")
    prefix = snapshot_prefix("2024-2025", "freeze")
    assert store.list(prefix) == sorted(f"{prefix}{t}.parquet" for t in EXPORT_TABLES)
    for name in EXPORT_TABLES:
        key = f"{prefix}{name}.parquet"
        assert store.read_bytes(key) == (tmp_path / "local" / f"{name}.parquet").read_bytes()
    assert summary.rows["shares"] == 4


def cli_env(engine: Engine, storage_url: str) -> dict[str, str]:
    return {
        "RENTREE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "RENTREE_STORAGE_URL": storage_url,
    }


def test_init_twice_is_harmless(engine: Engine, tmp_path: Path) -> None:
    env = cli_env(engine, str(tmp_path / "storage"))
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["init"], env=env)
        assert result.exit_code == 0, result.output
    assert set(schema.metadata.tables) <= set(inspect(engine).get_table_names())
    assert all((tmp_path / "storage" / root).is_dir() for root in STORAGE_ROOTS)


def test_init_twice_is_harmless_on_s3(engine: Engine, moto_endpoint: str) -> None:
    bucket = f"rentree-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)
    env = cli_env(engine, f"s3://{bucket}/region") | {"RENTREE_S3_ENDPOINT_URL": moto_endpoint}
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["init"], env=env)
        assert result.exit_code == 0, result.output
        assert f"s3://{bucket}/region/" in result.output


def test_cli_export_writes_every_table(engine: Engine, tmp_path: Path) -> None:
    seed(engine)
    env = cli_env(engine, str(tmp_path / "storage"))
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    result = runner.invoke(
        app, ["export", "--out", str(tmp_path / "out"), "--format", "csv"], env=env
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{t}.csv" for t in EXPORT_TABLES
    )
    wrong = runner.invoke(
        app, ["export", "--out", str(tmp_path / "x"), "--format", "xlsx"], env=env
    )
    assert wrong.exit_code == 2
    assert "--format 'xlsx' is not known" in wrong.output
