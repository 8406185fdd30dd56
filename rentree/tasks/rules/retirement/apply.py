"""The effect steps of a retirement run, its undo, and the return of a person (R1).

Stage 1, deactivation: the account cannot log in (`deactivated_at`), a local account's
activation code is voided, and the person leaves the current year's scolarité groups.
Stage 2, retirement: the account leaves the directory with its links (schools, classes,
relatives, feed ids, pending attachments), memberships, share-bookmark entries and the
shares made to it by name. Productions (`resources`) and the shares of them are never
touched (R4): the run's handover report tells the ENT applications what to do with them.

Everything is set-based, inside the caller's transaction: the people go into a temporary
table, and each table gets one journal statement and one UPDATE or DELETE.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import (
    Connection,
    DateTime,
    String,
    Table,
    and_,
    column,
    delete,
    exists,
    func,
    literal,
    null,
    select,
    tuple_,
    union,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from rentree.infra.schema import (
    bookmark_members,
    group_members,
    groups,
    pending_attachments,
    relations,
    retirement_journal,
    retirement_notices,
    shares,
    user_classes,
    user_feed_ids,
    user_structures,
    users,
)
from rentree.infra.staging import staging_table
from rentree.tasks.rules.retirement.journal import (
    RunStamp,
    journal,
    journal_has,
    journalled,
    log_changes,
    mark_undone,
    prune_journal,
    restore_columns,
    restore_rows,
)
from rentree.tasks.rules.retirement.plan import RetirementPlan
from rentree.tasks.sync.change_log import rows_written

# What deactivation changes on an account (and what its undo and a return set back).
DEACTIVATION_COLUMNS = ("external_id", "deactivated_at", "activation_code")


class RetirementRunError(ValueError):
    """A run id that cannot be applied or undone; the message is one sentence."""


def _people(conn: Connection, name: str, ids: pl.DataFrame) -> ColumnElement[str]:
    """The people's ids in a temporary table; returns its id column for IN (...) tests."""
    return staging_table(
        conn, name, ids.select("external_id").unique(), ["external_id"]
    ).c.external_id


def _in(col: ColumnElement[str], people: ColumnElement[str]) -> ColumnElement[bool]:
    return col.in_(select(people))


def deactivate(
    conn: Connection, people: pl.DataFrame, school_year: str | None, stamp: RunStamp
) -> dict[str, int]:
    """Stage 1 for `people` (external_id): journalled under the stamp's run."""
    if people.is_empty():
        return {"deactivated": 0, "group_memberships_removed": 0}
    ids = _people(conn, "retire_deactivate", people)
    who = and_(_in(users.c.external_id, ids), users.c.deactivated_at.is_(None))
    deactivated = journal(conn, users, who, stamp, "deactivate", DEACTIVATION_COLUMNS)
    # the group is tested per membership found (through the members' index): an IN list of
    # the year's groups makes SQLite walk every membership of those groups instead
    current_group = exists().where(
        groups.c.group_id == group_members.c.group_id,
        groups.c.kind == "scolarite",
        groups.c.school_year == (school_year or ""),
    )
    memberships = and_(_in(group_members.c.user_external_id, ids), current_group)
    removed = journal(conn, group_members, memberships, stamp, "remove")
    conn.execute(delete(group_members).where(memberships))
    conn.execute(update(users).where(who).values(deactivated_at=stamp.at, activation_code=null()))
    return {"deactivated": deactivated, "group_memberships_removed": removed}


def relations_of(ids: ColumnElement[str]) -> ColumnElement[bool]:
    """The relations with one of the people `ids` on either side, as one IN on the
    relation's key. PostgreSQL runs an OR of two IN lists as a subplan per row once the list
    outgrows its work_mem: a region's retirement of 190,000 people against a million
    relations had not finished that one statement after a quarter of an hour."""
    either = relations.alias("either_side")
    key = (either.c.student_external_id, either.c.relative_external_id)
    return tuple_(relations.c.student_external_id, relations.c.relative_external_id).in_(
        union(
            select(*key).where(_in(either.c.student_external_id, ids)),
            select(*key).where(_in(either.c.relative_external_id, ids)),
        )
    )


def _retirement_targets(ids: ColumnElement[str]) -> list[tuple[Table, ColumnElement[bool], str]]:
    """Each table a retirement removes rows from, which rows, and the count's name."""
    return [
        (user_structures, _in(user_structures.c.user_external_id, ids), "school_links"),
        (user_classes, _in(user_classes.c.user_external_id, ids), "class_links"),
        (relations, relations_of(ids), "relations"),
        (group_members, _in(group_members.c.user_external_id, ids), "group_memberships"),
        (
            bookmark_members,
            and_(bookmark_members.c.member_kind == "user", _in(bookmark_members.c.member_id, ids)),
            "bookmark_entries",
        ),
        (
            shares,
            and_(shares.c.recipient_kind == "user", _in(shares.c.recipient_id, ids)),
            "shares_to_them",
        ),
        (user_feed_ids, _in(user_feed_ids.c.user_external_id, ids), "feed_ids"),
        (
            pending_attachments,
            _in(pending_attachments.c.teacher_external_id, ids),
            "pending_attachments",
        ),
        (
            retirement_notices,
            _in(retirement_notices.c.user_external_id, ids),
            "notices_removed",
        ),
        (users, _in(users.c.external_id, ids), "retired"),
    ]


def retire(conn: Connection, people: pl.DataFrame, stamp: RunStamp) -> dict[str, int]:
    """Stage 2 for `people` (external_id): every row removed is journalled first."""
    counts: dict[str, int] = {}
    if people.is_empty():
        return {name: 0 for _, _, name in _retirement_targets(column("external_id", String))}
    ids = _people(conn, "retire_remove", people)
    for tbl, rows, name in _retirement_targets(ids):
        counts[name] = journal(conn, tbl, rows, stamp, "retire")
        conn.execute(delete(tbl).where(rows))
    return counts


def not_noticed(ids: ColumnElement[str]) -> ColumnElement[bool]:
    """The people of `ids` whom no notice names yet, as NOT EXISTS: PostgreSQL cannot make a
    NOT IN an anti-join (a NULL in the list would change its answer) and probes the list per
    person, like the OR of `relations_of`, once it outgrows its work_mem."""
    return ~exists().where(retirement_notices.c.user_external_id == ids)


def record_notices(conn: Connection, people: pl.DataFrame, run_id: str, now: datetime) -> int:
    """The notice about `people` was written now: their deactivation waits from now on."""
    if people.is_empty():
        return 0
    ids = _people(conn, "retire_notices", people)
    return rows_written(
        conn,
        retirement_notices.insert().from_select(
            ["user_external_id", "run_id", "noticed_at"],
            select(ids, literal(run_id, String), literal(now, DateTime(timezone=True))).where(
                not_noticed(ids)
            ),
        ),
    )


def undo_retirement(conn: Connection, run_id: str, now: datetime) -> dict[str, int]:
    """Put back exactly what run `run_id` changed: the rows its retirements removed, the
    accounts it deactivated (code and all) and their group memberships, and forget the
    notices it wrote (and those of the people it deactivated: a later run must notify again
    before deactivating them). Returns counts; an undone run gives zeros."""
    restored_users = select(retirement_journal.c.entity_id).where(
        retirement_journal.c.run_id == run_id,
        retirement_journal.c.entity == users.name,
        retirement_journal.c.undone_at.is_(None),
    )
    # two statements, not an OR of the two (see `relations_of`)
    conn.execute(delete(retirement_notices).where(retirement_notices.c.run_id == run_id))
    conn.execute(
        delete(retirement_notices).where(
            retirement_notices.c.user_external_id.in_(
                restored_users.where(retirement_journal.c.stage == "deactivate")
            )
        )
    )
    counts = {"accounts_restored": 0, "accounts_reactivated": 0, "rows_restored": 0}
    for tbl, _, _ in _retirement_targets(column("external_id", String)):
        put_back = restore_rows(conn, tbl, run_id, "retire", now)
        if tbl is users:
            counts["accounts_restored"] = put_back
        else:
            counts["rows_restored"] += put_back
    counts["rows_restored"] += restore_rows(conn, group_members, run_id, "deactivate", now)
    counts["accounts_reactivated"] = restore_columns(
        conn, users, run_id, "deactivate", now, DEACTIVATION_COLUMNS[1:]
    )
    mark_undone(conn, run_id, now)
    return counts


def reactivate_returning(
    conn: Connection, returning: pl.DataFrame, run_id: str, now: datetime
) -> int:
    """People back in a feed (R1, the sync's `users_back`): a deactivated account logs in
    again with the activation code it had, and its notice is forgotten. Logged
    `reactivate`. Returns the accounts reactivated."""
    if returning.is_empty():
        return 0
    ids = _people(conn, "retire_back", returning)
    conn.execute(delete(retirement_notices).where(_in(retirement_notices.c.user_external_id, ids)))
    deactivated = and_(_in(users.c.external_id, ids), users.c.deactivated_at.is_not(None))
    j = retirement_journal.c
    # the code the account had when its latest deactivation (not undone) voided it
    code = (
        select(journalled(conn, users.c.activation_code))
        .where(
            j.entity == users.name,
            j.stage == "deactivate",
            j.entity_id == users.c.external_id,
            j.undone_at.is_(None),
        )
        .order_by(j.change_id.desc())
        .limit(1)
    )
    log_changes(
        conn, users, deactivated, RunStamp(run_id, "back", now), "reactivate", ["external_id"]
    )
    return rows_written(
        conn,
        update(users)
        .where(deactivated)
        .values(deactivated_at=null(), activation_code=code.scalar_subquery()),
    )


def apply_retirement(
    conn: Connection, plan: RetirementPlan, run_id: str, now: datetime
) -> dict[str, int]:
    """The run's effect step, in the caller's transaction: forget the journal past the second
    grace period, record the notices written, deactivate, retire. Raises
    `RetirementRunError` when the run id already changed the directory."""
    noticed = conn.scalar(select(func.count()).where(retirement_notices.c.run_id == run_id))
    if noticed or journal_has(conn, run_id):
        raise RetirementRunError(
            f"Run {run_id} already deactivated or retired people; start a new run, "
            f"or undo run {run_id} first."
        )
    counts = {"journal_rows_pruned": prune_journal(conn, plan.rules.journal_cutoff(now))}
    counts["notices_recorded"] = record_notices(conn, plan.ids("to_notice"), run_id, now)
    counts |= deactivate(
        conn, plan.ids("to_deactivate"), plan.school_year, RunStamp(run_id, "deactivate", now)
    )
    counts |= retire(conn, plan.ids("to_retire"), RunStamp(run_id, "retire", now))
    return counts
