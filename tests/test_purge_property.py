"""Property: for any set of shares, purge then undo is the identity on the shares table."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from rentree.infra.db import truncate_all
from rentree.tasks.content.purge.apply import apply_share_purge
from rentree.tasks.content.purge.plan import plan_share_purge
from rentree.tasks.content.purge.undo import undo_share_purge
from tests.content_builders import (
    CLOSING,
    insert_content,
    shares_frame,
    small_region,
    sorted_table,
)

NOW = datetime(2024, 10, 1, 9, 0, tzinfo=UTC)
SHARE_KEY = ["resource_id", "recipient_kind", "recipient_id"]

_REGION = small_region()
RESOURCES = [*_REGION["resources"]["resource_id"], "gone-resource"]
RECIPIENTS = {
    "user": [*_REGION["users"]["external_id"], "nobody"],
    "group": [*_REGION["groups"]["group_id"], "2023-2024:0599999Z:all"],
    "bookmark": [*_REGION["bookmarks"]["bookmark_id"]],
}

share_rows = st.lists(
    st.tuples(
        st.sampled_from(RESOURCES),
        st.sampled_from(sorted(RECIPIENTS)).flatmap(
            lambda kind: st.tuples(st.just(kind), st.sampled_from(RECIPIENTS[kind]))
        ),
        st.sampled_from(["read", "contrib", "manage"]),
    ).map(lambda t: (t[0], t[1][0], t[1][1], t[2])),
    max_size=40,
    unique_by=lambda row: row[:3],
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=share_rows, keep_for_members=st.booleans())
def test_purge_then_undo_is_the_identity_on_shares(
    engine: Engine, rows: list[tuple[str, str, str, str]], keep_for_members: bool
) -> None:
    content = {**_REGION, "shares": shares_frame(rows)}
    with engine.begin() as conn:
        truncate_all(conn)
        insert_content(conn, content)
    with engine.connect() as conn:
        before = sorted_table(conn, "shares", SHARE_KEY)
    with engine.begin() as conn:
        plan = plan_share_purge(conn, CLOSING)
        apply_share_purge(conn, plan, "run-p", NOW, keep_for_members=keep_for_members)
    with engine.connect() as conn:
        purged = sorted_table(conn, "shares", SHARE_KEY)
    remaining_closing = purged.join(
        content["groups"].filter(
            (pl.col("kind") == "scolarite") & (pl.col("school_year") == CLOSING)
        ),
        left_on="recipient_id",
        right_on="group_id",
    ).filter(pl.col("recipient_kind") == "group")
    assert remaining_closing.is_empty()
    with engine.begin() as conn:
        undo_share_purge(conn, "run-p", NOW)
    with engine.connect() as conn:
        after = sorted_table(conn, "shares", SHARE_KEY)
    assert after.equals(before)
