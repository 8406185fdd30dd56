"""A small region for the retire-missing tests: the content builders' region with people
marked missing on one day, shares with them and by them, a guest and a manual link."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal
from sqlalchemy import Connection, Engine

from rentree.infra import schema
from rentree.infra.frames import read_table
from rentree.infra.naming import class_group_id, class_id
from rentree.tasks.rules.retirement.apply import apply_retirement, undo_retirement
from rentree.tasks.rules.retirement.plan import RetirementPlan, plan_retirement
from rentree.tasks.rules.retirement.rules import RetirementRules
from tests.content_builders import NEW, U2, pairs_frame, shares_frame, small_region

MARK = date(2024, 9, 20)
RULES = RetirementRules(notice_days=14)
NEW_CE1 = class_group_id(class_id(NEW, "0590001A", "CE1-A"), "students")
# Every table a retirement run may change (the journal and notices are its bookkeeping).
DIRECTORY_TABLES = (
    "users", "user_structures", "user_classes", "relations", "groups", "group_members",
    "bookmarks", "bookmark_members", "resources", "shares", "user_feed_ids",
    "pending_attachments",
)  # fmt: skip


def at(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), UTC)


def days_after_mark(days: int) -> date:
    return MARK + timedelta(days=days)


def retirement_region() -> dict[str, pl.DataFrame]:
    """`small_region()` with: sm (student, local account with a code) and t2 (teacher)
    missing since MARK; g1 (guest) and p1 (manual school link) missing too; sm in a
    current-year scolarité group; doc-1 of t1 shared with sm by name."""
    content = small_region()
    missing = {"sm": MARK, "t2": MARK, "g1": MARK, "p1": MARK}
    users = content["users"].with_columns(
        pl.col("external_id")
        .replace_strict(missing, default=None, return_dtype=pl.Date)
        .alias("missing_since"),
        pl.when(pl.col("external_id") == "sm")
        .then(pl.lit("ABCD2345"))
        .otherwise(None)
        .alias("activation_code"),
        pl.when(pl.col("external_id") == "sm")
        .then(pl.lit("pending"))
        .otherwise(pl.col("activation_state"))
        .alias("activation_state"),
    )
    user_structures = pl.concat(
        [
            content["user_structures"],
            pl.DataFrame(
                [("p1", "0590001A", "manual", False)],
                schema=content["user_structures"].schema,
                orient="row",
            ),
        ]
    )
    members = pl.concat(
        [content["group_members"], pairs_frame(("group_id", "user_external_id"), [(NEW_CE1, "sm")])]
    )
    shares = pl.concat(
        [
            content["shares"],
            shares_frame([("doc-1", "user", "sm", "read"), ("nb-1", "user", "s2", "read")]),
        ]
    )
    relations = pairs_frame(("student_external_id", "relative_external_id"), [("sm", "r2")])
    return {
        **content,
        "users": users,
        "user_structures": user_structures,
        "group_members": members,
        "shares": shares,
        "relations": relations,
    }


def run_once(
    engine: Engine, day: date, run_id: str, rules: RetirementRules = RULES
) -> tuple[RetirementPlan, dict[str, int]]:
    """Plan and apply one retirement run on `day` (09:00 UTC), committed."""
    with engine.begin() as conn:
        plan = plan_retirement(conn, rules, day, at(day), NEW)
        return plan, apply_retirement(conn, plan, run_id, at(day))


def directory(conn: Connection) -> dict[str, pl.DataFrame]:
    """The directory tables, sorted on every column, to compare before and after."""
    frames: dict[str, pl.DataFrame] = {}
    for name in DIRECTORY_TABLES:
        frame = read_table(conn, schema.metadata.tables[name])
        frames[name] = frame.sort(frame.columns, nulls_last=True)
    return frames


def undo_each_stage_gives_back(engine: Engine) -> dict[str, int]:
    """Notice (day 90), deactivation (104) and retirement (180) runs, then on day 181 the
    retirement and the deactivation undone, checking after each undo that the directory is
    exactly as it was before that stage; returns the retirement undo's counts."""
    run_once(engine, days_after_mark(90), "notice")
    with engine.connect() as conn:
        before_deactivation = directory(conn)
    run_once(engine, days_after_mark(104), "deactivate")
    with engine.connect() as conn:
        before_retirement = directory(conn)
    run_once(engine, days_after_mark(180), "retire")
    now = at(days_after_mark(181))
    with engine.begin() as conn:
        undone = undo_retirement(conn, "retire", now)
        for name, frame in directory(conn).items():
            assert_frame_equal(frame, before_retirement[name], check_dtypes=False)
        undo_retirement(conn, "deactivate", now)
        for name, frame in directory(conn).items():
            assert_frame_equal(frame, before_deactivation[name], check_dtypes=False)
    return undone


def ids(frame: pl.DataFrame, column: str = "external_id") -> set[Any]:
    return set(frame[column].to_list())


__all__ = ["U2"]
