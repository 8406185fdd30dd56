"""The set-based forms of the ids rentree makes give, row by row, what the per-value
functions of `infra.naming` give (one naming, two ways to compute it)."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from rentree.infra.naming import class_id, class_ids, uai_of_ids, year_of_ids

UAIS = st.from_regex(r"\A0[0-9]{6}[A-Z]\Z")
CODES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@given(st.lists(st.tuples(st.none() | UAIS, st.none() | CODES), max_size=40))
def test_class_ids_of_a_column_are_class_id_of_each_row(
    rows: list[tuple[str | None, str | None]],
) -> None:
    year = "2025-2026"
    frame = pl.DataFrame(rows, schema={"uai": pl.String, "code": pl.String}, orient="row")
    ids = frame.select(class_ids(year, pl.col("uai"), pl.col("code")).alias("id"))["id"]
    expected = [None if u is None or c is None else class_id(year, u, c) for u, c in rows]
    assert ids.to_list() == expected
    made = frame.with_columns(ids).drop_nulls("id")
    read = made.select(year_of_ids(pl.col("id")).alias("year"), uai_of_ids(pl.col("id")).alias("u"))
    assert read["year"].to_list() == [year] * made.height
    assert read["u"].to_list() == made["uai"].to_list()
