"""Property: whatever people are marked missing and whatever they share, undoing a
retirement run and then a deactivation run gives back the directory exactly as it was
before each."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from rentree.infra.db import truncate_all
from tests.content_builders import insert_content, shares_frame
from tests.retirement_builders import (
    MARK,
    retirement_region,
    undo_each_stage_gives_back,
)

_REGION = retirement_region()
PEOPLE = sorted(_REGION["users"].filter(pl.col("profile") != "Guest")["external_id"])
RESOURCES = sorted(_REGION["resources"]["resource_id"])

marks = st.dictionaries(st.sampled_from(PEOPLE), st.integers(min_value=0, max_value=120))
extra_shares = st.lists(
    st.tuples(st.sampled_from(RESOURCES), st.sampled_from(PEOPLE)),
    max_size=8,
    unique=True,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(missing=marks, shared=extra_shares)
def test_undo_of_each_stage_gives_the_directory_back(
    engine: Engine, missing: dict[str, int], shared: list[tuple[str, str]]
) -> None:
    users = _REGION["users"].with_columns(
        pl.col("external_id")
        .replace_strict(
            {uid: MARK - timedelta(days=days) for uid, days in missing.items()},
            default=None,
            return_dtype=pl.Date,
        )
        .alias("missing_since")
    )
    old = _REGION["shares"]
    known = set(zip(old["resource_id"], old["recipient_id"], strict=True))
    more = shares_frame([(r, "user", u, "read") for r, u in shared if (r, u) not in known])
    content = {**_REGION, "users": users, "shares": pl.concat([_REGION["shares"], more])}
    with engine.begin() as conn:
        truncate_all(conn)
        insert_content(conn, content)
    undo_each_stage_gives_back(engine)
