"""Deciding teacher-class attachment requests under R10, writing nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, Table, case, exists, func, select

from rentree.infra.db import cross_join
from rentree.infra.frames import read_frame
from rentree.infra.naming import year_of_ids
from rentree.infra.schema import classes, structures, user_classes, users
from rentree.infra.staging import staging_table
from rentree.tasks.rules.years import current_years

_CLASS_ID = r"^\d{4}-\d{4}:[0-9]{7}[A-Z]:.+$"
REQUEST_SCHEMA = {"teacher_external_id": pl.String, "class_external_id": pl.String}
_RESULT_SCHEMA = {**REQUEST_SCHEMA, "reason": pl.String}

NO_STUDENT = "no student of this class is in the ENT yet (R10): kept pending"
UNKNOWN_CLASS = "the class is not in the ENT yet: kept pending until it appears with a student"
TEACHER_MISSING = "the teacher is marked missing from the staff feed: kept pending"
UNKNOWN_TEACHER = "no person with this id in the ENT: check the teacher id"
NOT_A_TEACHER = "this person is not a teacher (profile {profile}): refused"
BAD_CLASS_ID = "not a class id (<school-year>:<UAI>:<class code>): refused"
UNKNOWN_SCHOOL = "no school with this class id's UAI in the ENT: check the class id; refused"
NOT_CURRENT_YEAR = "the class is not of the current school year ({year}): refused"


@dataclass(frozen=True)
class AttachmentResult:
    """What became of each request: attached, pending (with reason) or refused (with reason)."""

    attached: pl.DataFrame  # teacher_external_id, class_external_id, reason (null or "already")
    pending: pl.DataFrame  # teacher_external_id, class_external_id, reason
    refused: pl.DataFrame  # teacher_external_id, class_external_id, reason

    @property
    def all_attached(self) -> bool:
        return self.pending.is_empty() and self.refused.is_empty()

    def not_attached(self) -> pl.DataFrame:
        """Pending and refused requests together, with their outcome, for reports and the CLI."""
        return pl.concat(
            [
                self.pending.with_columns(pl.lit("pending").alias("outcome")),
                self.refused.with_columns(pl.lit("refused").alias("outcome")),
            ]
        ).sort("teacher_external_id", "class_external_id")

    def counts(self) -> dict[str, int]:
        return {
            "attached": self.attached.height,
            "pending": self.pending.height,
            "refused": self.refused.height,
        }


@dataclass(frozen=True)
class AttachmentPlan:
    """Each request decided under R10 (reads only): its `outcome` (attach, attached, pending,
    refused) and its `reason`."""

    decided: pl.DataFrame

    def result(self) -> AttachmentResult:
        columns = [*REQUEST_SCHEMA, "reason"]
        outcome = pl.col("outcome")
        return AttachmentResult(
            attached=self.decided.filter(outcome.is_in(["attach", "attached"])).select(columns),
            pending=self.decided.filter(outcome == "pending").select(columns),
            refused=self.decided.filter(outcome == "refused").select(columns),
        )

    def summary(self) -> dict[str, int]:
        return self.result().counts()


def plan_attachments(conn: Connection, requests: pl.DataFrame) -> AttachmentPlan:
    """Decide teacher-class attachment requests under R10, writing nothing."""
    wanted = (
        requests.select(
            pl.col("teacher_external_id").cast(pl.String).str.strip_chars(),
            pl.col("class_external_id").cast(pl.String).str.strip_chars(),
        )
        .drop_nulls()
        .unique()
        .sort("teacher_external_id", "class_external_id")
    )
    if wanted.is_empty():
        return AttachmentPlan(pl.DataFrame(schema={**_RESULT_SCHEMA, "outcome": pl.String}))
    asked = staging_table(conn, "attach_requests", wanted, ["class_external_id"])
    decided = read_frame(
        conn,
        _decision_query(asked),
        schema_overrides={
            "teacher_external_id": pl.String,
            "class_external_id": pl.String,
            "profile": pl.String,
            "school_year": pl.String,
            "structure_uai": pl.String,
            "class_label": pl.String,
        },
    )
    current = attachment_year(conn)
    id_uai = pl.col("class_external_id").str.extract(r"^\d{4}-\d{4}:([0-9]{7}[A-Z]):")
    known_schools = _known_schools(conn, decided["class_external_id"])
    well_formed = pl.col("class_external_id").str.contains(_CLASS_ID)
    unknown_school = ~id_uai.is_in(known_schools)
    other_year = pl.col("class_external_id").str.extract(r"^(\d{4}-\d{4}):") != pl.lit(
        current or "", dtype=pl.String
    )
    decided = decided.with_columns(
        pl.when(pl.col("profile").is_null())
        .then(pl.lit("refused"))
        .when(pl.col("profile") != "Teacher")
        .then(pl.lit("refused"))
        .when(~well_formed)
        .then(pl.lit("refused"))
        .when(unknown_school)
        .then(pl.lit("refused"))
        .when(other_year)
        .then(pl.lit("refused"))
        .when(pl.col("already") == 1)
        .then(pl.lit("attached"))
        .when(pl.col("teacher_missing") == 1)
        .then(pl.lit("pending"))
        .when(pl.col("class_known") == 0)
        .then(pl.lit("pending"))
        .when(pl.col("has_student") == 0)
        .then(pl.lit("pending"))
        .otherwise(pl.lit("attach"))
        .alias("outcome"),
        pl.when(pl.col("profile").is_null())
        .then(pl.lit(UNKNOWN_TEACHER))
        .when(pl.col("profile") != "Teacher")
        .then(pl.format(NOT_A_TEACHER.replace("{profile}", "{}"), pl.col("profile")))
        .when(~well_formed)
        .then(pl.lit(BAD_CLASS_ID))
        .when(unknown_school)
        .then(pl.lit(UNKNOWN_SCHOOL))
        .when(other_year)
        .then(pl.lit(NOT_CURRENT_YEAR.format(year=current or "none yet")))
        .when(pl.col("already") == 1)
        .then(pl.lit("already attached"))
        .when(pl.col("teacher_missing") == 1)
        .then(pl.lit(TEACHER_MISSING))
        .when(pl.col("class_known") == 0)
        .then(pl.lit(UNKNOWN_CLASS))
        .when(pl.col("has_student") == 0)
        .then(pl.lit(NO_STUDENT))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("reason"),
        # a pending request for an unknown class is filed under the class id's school year
        pl.coalesce(pl.col("school_year"), year_of_ids(pl.col("class_external_id"))).alias(
            "school_year"
        ),
    )
    return AttachmentPlan(decided)


def _decision_query(asked: Table) -> Select[Any]:
    """Each request with what decides it: the teacher's profile and state, the class, and
    whether the class has a present student and already has this teacher."""
    teacher, klass = users.alias("teacher"), classes.alias("requested_class")
    link, pupil = user_classes.alias("link"), users.alias("pupil")
    # CROSS JOIN fixes SQLite's order: the class's links, then each user by key (not every
    # pupil of the region for each request)
    has_student = (
        exists()
        .select_from(cross_join(link, pupil))
        .where(
            link.c.class_external_id == asked.c.class_external_id,
            pupil.c.external_id == link.c.user_external_id,
            pupil.c.profile == "Student",
            pupil.c.missing_since.is_(None),
        )
    )
    already = exists().where(
        user_classes.c.class_external_id == asked.c.class_external_id,
        user_classes.c.user_external_id == asked.c.teacher_external_id,
    )
    return select(
        asked.c.teacher_external_id,
        asked.c.class_external_id,
        teacher.c.profile,
        case((teacher.c.missing_since.is_(None), 0), else_=1).label("teacher_missing"),
        klass.c.school_year,
        klass.c.structure_uai,
        klass.c.label.label("class_label"),
        case((klass.c.external_id.is_(None), 0), else_=1).label("class_known"),
        case((has_student, 1), else_=0).label("has_student"),
        case((already, 1), else_=0).label("already"),
    ).select_from(
        asked.outerjoin(teacher, teacher.c.external_id == asked.c.teacher_external_id).outerjoin(
            klass, klass.c.external_id == asked.c.class_external_id
        )
    )


def attachment_year(conn: Connection) -> str | None:
    """The school year attachments are for: the directory's new year, or, before any year is
    recorded, the newest year that has classes."""
    year = current_years(conn)[1]
    if year is None:
        year = conn.scalar(select(func.max(classes.c.school_year)))
    return year


def _known_schools(conn: Connection, class_ids: pl.Series) -> list[str]:
    """The UAIs named by these class ids that the directory knows (one query)."""
    uais = class_ids.str.extract(r"^\d{4}-\d{4}:([0-9]{7}[A-Z]):").drop_nulls().unique()
    if uais.is_empty():
        return []
    return list(conn.scalars(select(structures.c.uai).where(structures.c.uai.in_(uais.to_list()))))
