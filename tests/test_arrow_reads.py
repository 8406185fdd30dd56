"""A read of committed rows (`select_frame(..., committed=True)`) gives the frame the
driver's read gives; on PostgreSQL it comes as Arrow from a connection of its own, on SQLite
always through the caller's connection (a second SQLite library in the process would break
the first one's locks), and a query only the caller's connection can answer (a staged
table) is still answered."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, select

from rentree.infra import frames
from rentree.infra.arrow_reads import read_arrow
from rentree.infra.db import insert_frame, is_postgresql
from rentree.infra.frames import select_frame
from rentree.infra.schema import structures, user_structures, users
from rentree.infra.staging import staging_table
from tests.content_builders import users_frame

PEOPLE = 3_000
SCHEMA: dict[str, Any] = {
    "external_id": pl.String,
    "login": pl.String,
    "quota_bytes": pl.Int64,
    "missing_since": pl.Date,
    "director": pl.Boolean,
}


def _people() -> pl.DataFrame:
    """Pupils with no login, no quota and no date for the first thousands of rows, then some:
    a column's first values say nothing of its type."""
    rows = []
    for i in range(PEOPLE + 10):
        late = i >= PEOPLE
        rows.append(
            (
                f"p{i:05d}",
                "Student",
                "Léa",
                f"Nom{i}",
                1024 * i if late else None,
                date(2024, 9, 1 + i % 20) if late else None,
            )
        )
    frame = users_frame(rows)
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) >= PEOPLE)
        .then("login." + pl.col("external_id"))
        .otherwise(None)
        .alias("login")
    )


def _query() -> Any:
    return (
        select(
            users.c.external_id,
            users.c.login,
            users.c.quota_bytes,
            users.c.missing_since,
            user_structures.c.director,
        )
        .join(user_structures, user_structures.c.user_external_id == users.c.external_id)
        .where(users.c.profile == "Student")
    )


def _directory(engine: Engine) -> None:
    people = _people()
    with engine.begin() as conn:
        insert_frame(
            conn,
            structures,
            pl.DataFrame(
                {"external_id": ["S1"], "uai": ["0590001A"], "name": ["École"], "type": ["1D"]}
            ),
        )
        insert_frame(conn, users, people)
        insert_frame(
            conn,
            user_structures,
            people.select(
                pl.col("external_id").alias("user_external_id"),
                pl.lit("0590001A").alias("structure_uai"),
                pl.lit("feed").alias("source"),
                (pl.int_range(pl.len()) % 7 == 0).alias("director"),
            ),
        )


def test_a_committed_read_gives_the_drivers_frame(engine: Engine) -> None:
    _directory(engine)
    with engine.connect() as conn:
        through_driver = select_frame(conn, _query(), SCHEMA)
        committed = select_frame(conn, _query(), SCHEMA, committed=True)
        arrow = read_arrow(conn, _query())
    assert through_driver.height == PEOPLE + 10
    assert through_driver["login"].null_count() == PEOPLE
    assert through_driver["missing_since"].drop_nulls().len() == 10
    assert committed.schema == through_driver.schema
    assert committed.sort("external_id").equals(through_driver.sort("external_id"))
    # PostgreSQL's rows come as Arrow; SQLite's never through a second SQLite library
    assert (arrow is not None) is is_postgresql(engine)


def test_a_read_taken_in_batches_gives_the_frame_of_one_batch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver's rows are taken a batch at a time: batches whose columns hold only nulls
    still come out typed, and every row comes once, in the query's order."""
    _directory(engine)
    query = _query().order_by(users.c.external_id)
    with engine.connect() as conn:
        whole = select_frame(conn, query, SCHEMA)
        monkeypatch.setattr(frames, "_BATCH_ROWS", 1_000)
        batched = select_frame(conn, query, SCHEMA)
    assert whole.height == PEOPLE + 10
    assert batched.schema == pl.Schema(SCHEMA)
    assert batched.equals(whole)


def test_a_literal_with_a_percent_sign_reads_the_same_rows(engine: Engine) -> None:
    _directory(engine)
    with engine.begin() as conn:
        conn.execute(
            users.update().where(users.c.external_id == "p00002").values(last_name="Cent%")
        )
    query = _query().where(users.c.last_name == "Cent%")
    with engine.connect() as conn:
        through_driver = select_frame(conn, query, SCHEMA)
        committed = select_frame(conn, query, SCHEMA, committed=True)
    assert through_driver["external_id"].to_list() == ["p00002"]
    assert committed.equals(through_driver)


def test_an_empty_read_keeps_its_schema(engine: Engine) -> None:
    with engine.connect() as conn:
        frame = select_frame(conn, _query(), SCHEMA, committed=True)
    assert frame.height == 0
    assert frame.schema == pl.Schema(SCHEMA)


def test_a_staged_table_is_read_through_the_callers_connection(engine: Engine) -> None:
    _directory(engine)
    asked = pl.DataFrame({"external_id": ["p00001", f"p{PEOPLE + 1:05d}", "nobody"]})
    with engine.begin() as conn:
        staged = staging_table(conn, "asked", asked, ["external_id"])
        query = _query().join(staged, staged.c.external_id == users.c.external_id)
        # the staged table is the caller's own: the Arrow connection cannot see it
        assert read_arrow(conn, query) is None
        frame = select_frame(conn, query, SCHEMA, committed=True)
    assert sorted(frame["external_id"]) == ["p00001", f"p{PEOPLE + 1:05d}"]
    assert frame.filter(pl.col("external_id") == "p00001")["login"].to_list() == [None]
