"""R10: a teacher is attached to a class ("rattachement enseignant – classe") only once at
least one student of that class is in the ENT; until then the request waits, pending, and is
applied by itself when a student arrives.

Every request is decided in one set-based pass (a staging table joined to the directory):
- attached: valid teacher (profile Teacher, not missing), known class with a present
  student: a `user_classes` link (source manual) and membership of `<class id>:teachers`;
- pending (kept in `pending_attachments` with the reason): the class has no student yet,
  the class is not in the ENT yet (classes appear with the family import), or the teacher
  is marked missing;
- refused (not kept): unknown teacher, a person who is not a teacher, a class id that
  cannot exist: not of the form `<school-year>:<UAI>:<code>`, a school the ENT does not
  know, or a school year that is not the current one (a closed year's class never gets a
  pupil again). Only a well-formed class of the current year may wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from rentree.infra.db import cross_join
from rentree.infra.frames import read_frame
from rentree.infra.naming import class_group_id, year_of_ids
from rentree.infra.schema import (
    classes,
    group_members,
    groups,
    pending_attachments,
    structures,
    user_classes,
    user_structures,
    users,
)
from rentree.infra.staging import staging_table
from rentree.tasks.rules.years import current_years
from rentree.tasks.sync.apply import apply_change_set
from rentree.tasks.sync.changeset import ChangeSet

_CLASS_ID = r"^\d{4}-\d{4}:[0-9]{7}[A-Z]:.+$"
_REQUEST_SCHEMA = {"teacher_external_id": pl.String, "class_external_id": pl.String}
_RESULT_SCHEMA = {**_REQUEST_SCHEMA, "reason": pl.String}

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


def request_attachments(
    conn: Connection, requests: pl.DataFrame, run_id: str, now: datetime
) -> AttachmentResult:
    """Decide and apply teacher-class attachment requests (R10), inside the caller's transaction."""
    return apply_attachments(conn, plan_attachments(conn, requests), run_id, now)


@dataclass(frozen=True)
class AttachmentPlan:
    """Each request decided under R10 (reads only): its `outcome` (attach, attached, pending,
    refused) and its `reason`."""

    decided: pl.DataFrame

    def result(self) -> AttachmentResult:
        columns = [*_REQUEST_SCHEMA, "reason"]
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


def apply_attachments(
    conn: Connection, plan: AttachmentPlan, run_id: str, now: datetime
) -> AttachmentResult:
    """Carry out the plan in the caller's transaction: the links made, the pending requests
    kept (and those decided otherwise taken off the pending list)."""
    decided = plan.decided
    if decided.is_empty():
        return plan.result()
    to_attach = decided.filter(pl.col("outcome") == "attach")
    _attach(conn, to_attach, run_id, now)
    pending = decided.filter(pl.col("outcome") == "pending")
    _keep_pending(conn, pending, run_id, now)
    # attached or refused requests leave the pending list
    done = decided.filter(pl.col("outcome") != "pending").select(*_REQUEST_SCHEMA)
    if done.height:
        finished = staging_table(conn, "attach_done", done, ["class_external_id"])
        conn.execute(delete(pending_attachments).where(_same_request(finished)))
    return plan.result()


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


def _same_request(staged: Table) -> ColumnElement[bool]:
    """A pending request that the staged table also holds."""
    p = pending_attachments.c
    return exists().where(
        staged.c.teacher_external_id == p.teacher_external_id,
        staged.c.class_external_id == p.class_external_id,
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


def _keep_pending(conn: Connection, rows: pl.DataFrame, run_id: str, now: datetime) -> None:
    """Upsert the pending requests: a request asked again keeps its first date, new reason."""
    if rows.is_empty():
        return
    asked = staging_table(
        conn,
        "attach_pending",
        rows.select(*_REQUEST_SCHEMA, "school_year", "reason"),
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


def apply_pending_attachments(
    conn: Connection, year: str, run_id: str, now: datetime
) -> AttachmentResult:
    """R10, by itself: the year's pending requests are decided again; those whose class now
    has a student are attached and leave the list."""
    return request_attachments(conn, pending_requests(conn, year), run_id, now)


def pending_requests(conn: Connection, year: str) -> pl.DataFrame:
    """The year's requests kept pending (R10)."""
    p = pending_attachments.c
    pending = read_frame(
        conn,
        select(p.teacher_external_id, p.class_external_id).where(p.school_year == year),
        schema_overrides=_REQUEST_SCHEMA,
    )
    return pending if pending.height else pl.DataFrame(schema=_REQUEST_SCHEMA)


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
        schema_overrides=_REQUEST_SCHEMA,
    )
    return frame if frame.height else pl.DataFrame(schema=_REQUEST_SCHEMA)


def attach_school_team(
    conn: Connection, uai: str, year: str, run_id: str, now: datetime
) -> AttachmentResult:
    """The whole teaching team of a school to every class of that school year, under R10."""
    return request_attachments(conn, school_team_requests(conn, uai, year), run_id, now)
