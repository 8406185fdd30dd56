"""Carrying out decided attachment requests: the links made, the pending list kept."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import Connection, and_, select

from rentree.infra.frames import read_frame
from rentree.infra.naming import class_group_id
from rentree.infra.schema import group_members, groups
from rentree.infra.staging import staging_table
from rentree.tasks.rules.attachments.decide import (
    REQUEST_SCHEMA,
    AttachmentPlan,
    AttachmentResult,
    plan_attachments,
)
from rentree.tasks.rules.attachments.pending import keep_pending, take_off_pending
from rentree.tasks.sync.apply import apply_change_set
from rentree.tasks.sync.changeset import ChangeSet


def request_attachments(
    conn: Connection, requests: pl.DataFrame, run_id: str, now: datetime
) -> AttachmentResult:
    """Decide and apply teacher-class attachment requests (R10), inside the caller's transaction."""
    return apply_attachments(conn, plan_attachments(conn, requests), run_id, now)


def apply_attachments(
    conn: Connection, plan: AttachmentPlan, run_id: str, now: datetime
) -> AttachmentResult:
    """Carry out the plan in the caller's transaction: the links made, the pending requests
    kept (and those decided otherwise taken off the pending list)."""
    decided = plan.decided
    if decided.is_empty():
        return plan.result()
    _attach(conn, decided.filter(pl.col("outcome") == "attach"), run_id, now)
    keep_pending(conn, decided.filter(pl.col("outcome") == "pending"), run_id, now)
    # attached or refused requests leave the pending list
    take_off_pending(conn, decided.filter(pl.col("outcome") != "pending").select(*REQUEST_SCHEMA))
    return plan.result()


def _attach(conn: Connection, rows: pl.DataFrame, run_id: str, now: datetime) -> None:
    """Links (source manual) and teachers-group memberships, written and logged like any
    change set (tasks.apply)."""
    if rows.is_empty():
        return
    links = rows.select(
        pl.col("teacher_external_id").alias("user_external_id"),
        "class_external_id",
        "school_year",
        pl.lit("manual").alias("source"),
    )
    teachers_group = rows.with_columns(
        pl.col("class_external_id")
        .map_elements(lambda c: class_group_id(c, "teachers"), return_dtype=pl.String)
        .alias("group_id")
    )
    existing = _existing_groups(conn, teachers_group["group_id"].unique())
    # the plan creates every class's groups with the class; this only covers a class made
    # by hand or by an older version
    missing_groups = (
        teachers_group.filter(~pl.col("group_id").is_in(existing))
        .unique("group_id")
        .select(
            "group_id",
            pl.lit("scolarite").alias("kind"),
            "school_year",
            "structure_uai",
            "class_external_id",
            pl.lit("teachers").alias("audience"),
            pl.format("{} – enseignants", pl.col("class_label")).alias("name"),
        )
    )
    members = teachers_group.select(
        "group_id", pl.col("teacher_external_id").alias("user_external_id")
    )
    members = members.join(
        _existing_members(conn, members), on=["group_id", "user_external_id"], how="anti"
    )
    change_set = ChangeSet(
        school_year=str(rows["school_year"][0]),
        delivery="",
        file_hashes=(),
        fingerprint="",
        class_links_made=links,
        groups_created=missing_groups,
        group_members_added=members,
    )
    apply_change_set(conn, change_set, run_id, now)


def _existing_groups(conn: Connection, ids: pl.Series) -> list[str]:
    asked = staging_table(conn, "attach_groups", ids.to_frame("group_id"), ["group_id"])
    return list(
        conn.scalars(
            select(groups.c.group_id).join_from(
                groups, asked, asked.c.group_id == groups.c.group_id
            )
        )
    )


def _existing_members(conn: Connection, members: pl.DataFrame) -> pl.DataFrame:
    asked = staging_table(conn, "attach_members", members, ["group_id"])
    m = group_members.c
    found = read_frame(
        conn,
        select(m.group_id, m.user_external_id).join_from(
            group_members,
            asked,
            and_(asked.c.group_id == m.group_id, asked.c.user_external_id == m.user_external_id),
        ),
        schema_overrides={"group_id": pl.String, "user_external_id": pl.String},
    )
    if found.is_empty():
        return pl.DataFrame(schema={"group_id": pl.String, "user_external_id": pl.String})
    return found
