"""The whole-team form of an attachment request: every present teacher of a school to every
class of the school in a year."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import Connection, and_, select

from rentree.infra.frames import read_frame
from rentree.infra.schema import classes, user_structures, users
from rentree.tasks.rules.attachments.apply import request_attachments
from rentree.tasks.rules.attachments.decide import REQUEST_SCHEMA, AttachmentResult


def school_team_requests(conn: Connection, uai: str, year: str) -> pl.DataFrame:
    """Every present teacher of the school (feed structure link) x every class of the school
    in that year: the whole-team form of the attachment."""
    us, u, c = user_structures.c, users.c, classes.c
    frame = read_frame(
        conn,
        select(u.external_id.label("teacher_external_id"), c.external_id.label("class_external_id"))
        .select_from(user_structures)
        .join(users, u.external_id == us.user_external_id)
        .join(classes, and_(c.structure_uai == us.structure_uai, c.school_year == year))
        .where(
            us.structure_uai == uai,
            us.source == "feed",
            u.profile == "Teacher",
            u.missing_since.is_(None),
        )
        .order_by(u.external_id, c.external_id),
        schema_overrides=REQUEST_SCHEMA,
    )
    return frame if frame.height else pl.DataFrame(schema=REQUEST_SCHEMA)


def attach_school_team(
    conn: Connection, uai: str, year: str, run_id: str, now: datetime
) -> AttachmentResult:
    """The whole teaching team of a school to every class of that school year, under R10."""
    return request_attachments(conn, school_team_requests(conn, uai, year), run_id, now)
