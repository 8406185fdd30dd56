"""SQLite's bulk insert says a column holding one value in every row once, in the statement,
and stores exactly the rows it was given (property test against the frame itself)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event

from rentree.infra import schema
from rentree.infra.db import insert_frame
from rentree.infra.frames import read_table

# text a literal must quote right: quotes, the driver's and Python's placeholders, accents
TEXT = st.one_of(
    st.sampled_from(["", "École d'Été", "l''a", "?", "%s", "%(x)s", ":name", "--", "é;\n"]),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8),
)
NULLABLE = ("district", "town", "postcode", "rpi")


@st.composite
def structures_frames(draw: st.DrawFn) -> pl.DataFrame:
    """Structures rows with each column drawn either as one value in every row or free."""
    rows = draw(st.integers(1, 12))
    columns: dict[str, list[Any]] = {"external_id": [f"s{i}" for i in range(rows)]}
    columns["uai"] = [f"{i:07d}A" for i in range(rows)]
    for name, values in (
        ("name", TEXT),
        ("type", st.sampled_from(["maternelle", "elementaire", "primaire"])),
        *((n, st.none() | TEXT) for n in NULLABLE),
        ("missing_since", st.none() | st.dates(date(2000, 1, 1), date(2040, 1, 1))),
    ):
        if draw(st.booleans()):
            columns[name] = [draw(values)] * rows
        else:
            columns[name] = draw(st.lists(values, min_size=rows, max_size=rows))
    return pl.DataFrame(columns, schema_overrides={"missing_since": pl.Date})


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frame=structures_frames())
def test_a_sqlite_bulk_insert_binds_a_constant_column_once_and_stores_the_rows_given(
    sqlite_engine: Engine, frame: pl.DataFrame
) -> None:
    bound: list[int] = []

    def record(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, many: bool) -> None:
        if statement.startswith('INSERT INTO "structures"'):
            bound.extend(len(row) for row in parameters) if many else bound.append(len(parameters))

    event.listen(sqlite_engine, "before_cursor_execute", record)
    try:
        with sqlite_engine.connect() as conn, conn.begin() as transaction:
            insert_frame(conn, schema.structures, frame)
            back = read_table(conn, schema.structures).sort("external_id")
            transaction.rollback()
    finally:
        event.remove(sqlite_engine, "before_cursor_execute", record)
    assert back.select(frame.columns).equals(frame.sort("external_id"))
    # each row binds only the columns holding more than one value (nulls count as one)
    varying = sum(frame[c].n_unique() > 1 for c in frame.columns)
    assert bound == [varying] * frame.height
