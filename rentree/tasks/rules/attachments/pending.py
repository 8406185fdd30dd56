"""The pending list (R10): requests kept until their class has a student, with the reason."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    delete,
    exists,
    insert,
    literal,
    select,
    update,
)

from rentree.infra.frames import read_frame
from rentree.infra.schema import pending_attachments
from rentree.infra.staging import staging_table
from rentree.tasks.rules.attachments.decide import REQUEST_SCHEMA


def keep_pending(conn: Connection, rows: pl.DataFrame, run_id: str, now: datetime) -> None:
    """Upsert the pending requests: a request asked again keeps its first date, new reason."""
    if rows.is_empty():
        return
    asked = staging_table(
        conn,
        "attach_pending",
        rows.select(*REQUEST_SCHEMA, "school_year", "reason"),
        ["class_external_id"],
    )
    p = pending_attachments.c
    conn.execute(
        update(pending_attachments)
        .where(
            p.teacher_external_id == asked.c.teacher_external_id,
            p.class_external_id == asked.c.class_external_id,
        )
        .values(reason=asked.c.reason)
    )
    new = select(
        asked.c.teacher_external_id,
        asked.c.class_external_id,
        asked.c.school_year,
        asked.c.reason,
        literal(now, p.requested_at.type),
        literal(run_id, p.run_id.type),
    ).where(~_same_request(asked))
    conn.execute(
        insert(pending_attachments).from_select(
            [
                "teacher_external_id",
                "class_external_id",
                "school_year",
                "reason",
                "requested_at",
                "run_id",
            ],
            new,
        )
    )


def take_off_pending(conn: Connection, done: pl.DataFrame) -> None:
    """The requests decided otherwise than pending (attached or refused) leave the list."""
    if done.height:
        finished = staging_table(conn, "attach_done", done, ["class_external_id"])
        conn.execute(delete(pending_attachments).where(_same_request(finished)))


def pending_requests(conn: Connection, year: str) -> pl.DataFrame:
    """The year's requests kept pending (R10)."""
    p = pending_attachments.c
    pending = read_frame(
        conn,
        select(p.teacher_external_id, p.class_external_id).where(p.school_year == year),
        schema_overrides=REQUEST_SCHEMA,
    )
    return pending if pending.height else pl.DataFrame(schema=REQUEST_SCHEMA)


def _same_request(staged: Table) -> ColumnElement[bool]:
    """A pending request that the staged table also holds."""
    p = pending_attachments.c
    return exists().where(
        staged.c.teacher_external_id == p.teacher_external_id,
        staged.c.class_external_id == p.class_external_id,
    )
