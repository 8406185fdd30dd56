"""What every bench part shares: the databases it measures (a fresh SQLite file, and the
PostgreSQL of RENTREE_TEST_POSTGRES_URL emptied first when it is set) and the floors, the
simplest fastest way of doing the same work on the same input in the same run: lxml
`iterparse` counting records, and rows written into plain tables with one executemany per
table (SQLite) or COPY (PostgreSQL) in one transaction."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from bench_figures import Timing, timed
from lxml import etree
from sqlalchemy import Engine

from rentree.infra.aaf import RECORD_TAGS
from rentree.infra.db import is_postgresql, truncate_all
from rentree.infra.engine import make_engine
from rentree.infra.migrate import upgrade


def databases(folder: Path, name: str) -> Iterator[tuple[str, Engine]]:
    """(label, migrated empty engine): SQLite in `folder/<name>.db`, then PostgreSQL when
    RENTREE_TEST_POSTGRES_URL is set; each engine is disposed when the caller moves on."""
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(f"{name}.db*"):
        leftover.unlink()
    urls = [("SQLite", f"sqlite:///{folder / f'{name}.db'}")]
    if os.environ.get("RENTREE_TEST_POSTGRES_URL"):
        urls.append(("PostgreSQL", os.environ["RENTREE_TEST_POSTGRES_URL"]))
    for label, url in urls:
        engine = make_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            truncate_all(conn)
        try:
            yield label, engine
        finally:
            engine.dispose()


def parse_floor(paths: list[Path]) -> tuple[Timing, int]:
    """lxml iterparse over the files, counting records and clearing them: the reading floor."""
    count = 0
    with timed() as took:
        for path in paths:
            for _event, record in etree.iterparse(
                str(path),
                events=("end",),
                tag=tuple(RECORD_TAGS),
                resolve_entities=False,
                load_dtd=False,
                no_network=True,
            ):
                count += 1
                record.clear(keep_tail=False)
                parent = record.getparent()
                while record.getprevious() is not None:
                    del parent[0]
    return took, count


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text (lists joined, structs as JSON): what a plain table takes."""
    columns = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List):
            columns.append(pl.col(name).list.join(",").alias(name))
        elif isinstance(dtype, pl.Struct):
            columns.append(pl.col(name).struct.json_encode().alias(name))
        else:
            columns.append(pl.col(name).cast(pl.String).alias(name))
    return frame.select(columns)


def write_floor(engine: Engine, frames: dict[str, pl.DataFrame]) -> tuple[Timing, int]:
    """The frames written into plain scratch tables (rolled back), the fastest way: one
    executemany per table (SQLite), COPY (PostgreSQL), one transaction."""
    plain = {k: _plain(f) for k, f in frames.items() if f.height}
    rows = sum(f.height for f in plain.values())
    with engine.connect() as conn:
        with conn.begin() as transaction, timed() as took:
            for kind, frame in plain.items():
                table = f"floor_{kind}"
                columns = ", ".join(f'"{c}" TEXT' for c in frame.columns)
                conn.exec_driver_sql(f'CREATE TEMPORARY TABLE "{table}" ({columns})')
                if is_postgresql(conn):
                    buffer = io.BytesIO()
                    frame.write_csv(buffer, include_header=False)
                    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                    with cursor.copy(f'COPY "{table}" FROM STDIN (FORMAT csv)') as copy:
                        copy.write(buffer.getvalue())
                else:
                    marks = ", ".join("?" for _ in frame.columns)
                    conn.exec_driver_sql(
                        f'INSERT INTO "{table}" VALUES ({marks})', list(frame.iter_rows())
                    )
            transaction.rollback()
        # SQLite's DDL does not roll back: the next floor on this pooled connection starts clean
        for kind in plain:
            conn.exec_driver_sql(f'DROP TABLE IF EXISTS "floor_{kind}"')
        conn.commit()
    return took, rows
