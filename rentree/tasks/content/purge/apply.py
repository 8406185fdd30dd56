"""Applying the purge in the caller's transaction, journalled so that it can be undone."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    String,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    tuple_,
)
from sqlalchemy.sql.elements import ColumnElement

from rentree.infra.db import STATISTICS_ROWS, refresh_statistics
from rentree.infra.schema import (
    group_members,
    purge_journal,
    resources,
    shares,
)
from rentree.infra.staging import staging_table
from rentree.tasks.content.purge.plan import SHARE_KEY, PurgePlan, PurgeRunError
from rentree.tasks.sync.change_log import json_object, log_selected, rows_written


def log_shares(
    conn: Connection,
    run_id: str,
    now: datetime,
    operation: str,
    where: ColumnElement[bool],
    *,
    before: bool,
) -> None:
    """One change_log row per journal row matching `where`, written in one statement."""
    j = purge_journal.c
    state = json_object(conn, [("rights", j.rights)])
    log_selected(
        conn,
        run_id=run_id,
        at=now,
        entity="share",
        entity_id=j.resource_id + literal("|") + j.recipient_kind + literal("|") + j.recipient_id,
        operation=operation,
        where=where,
        **({"before": state} if before else {"after": state}),
    )


def _journal_has(conn: Connection, run_id: str) -> bool:
    found = conn.execute(
        select(func.count()).select_from(purge_journal).where(purge_journal.c.run_id == run_id)
    ).scalar_one()
    return bool(found)


def apply_share_purge(
    conn: Connection,
    plan: PurgePlan,
    run_id: str,
    now: datetime,
    keep_for_members: bool = False,
) -> dict[str, int]:
    """Remove the planned shares that still exist, journalled under `run_id` (R5).

    Runs inside the caller's transaction. With `keep_for_members`, each removed group share
    becomes a read-only share to each member the group has now, unless that member already
    has a share of the resource (the existing one, at least as strong, is kept) or owns it;
    those derived shares are journalled too, so that an undo removes them.
    """
    if _journal_has(conn, run_id):
        raise PurgeRunError(
            f"Run {run_id} already purged shares; start a new run to purge again, "
            f"or undo run {run_id} first."
        )
    counts = {"shares_planned": plan.total, "shares_removed": 0, "member_shares_created": 0}
    if plan.total == 0:
        return counts
    tmp = staging_table(conn, "share_purge", plan.shares.select(SHARE_KEY), list(SHARE_KEY))
    # PostgreSQL plans the journal's insert and the delete below on the staged rows' real
    # count, a hash join, not a nested loop of one index probe per planned share
    if plan.total >= STATISTICS_ROWS:
        refresh_statistics(conn, [tmp])
    s, j = shares.c, purge_journal.c
    removed = rows_written(
        conn,
        insert(purge_journal).from_select(
            [*SHARE_KEY, "rights", "run_id", "school_year", "purged_at", "derived"],
            select(
                s.resource_id,
                s.recipient_kind,
                s.recipient_id,
                s.rights,
                literal(run_id, String),
                literal(plan.closing_year, String),
                literal(now, DateTime(timezone=True)),
                literal(False, Boolean),
            ).select_from(shares.join(tmp, and_(*(tmp.c[k] == s[k] for k in SHARE_KEY)))),
        ),
    )
    purged = and_(j.run_id == run_id, j.derived.is_(False))
    log_shares(conn, run_id, now, "purge", purged, before=True)
    # the journal's rows of this run are the staged shares that exist: delete those
    conn.execute(
        delete(shares).where(
            tuple_(s.resource_id, s.recipient_kind, s.recipient_id).in_(
                select(tmp.c.resource_id, tmp.c.recipient_kind, tmp.c.recipient_id)
            )
        )
    )
    counts["shares_removed"] = removed
    if keep_for_members:
        counts["member_shares_created"] = _share_with_members(conn, plan, run_id, now)
    return counts


def _share_with_members(conn: Connection, plan: PurgePlan, run_id: str, now: datetime) -> int:
    j, gm, r, s = purge_journal.c, group_members.c, resources.c, shares.c
    already_shared = exists().where(
        s.resource_id == j.resource_id,
        s.recipient_kind == "user",
        s.recipient_id == gm.user_external_id,
    )
    members = (
        select(
            j.resource_id,
            literal("user", String),
            gm.user_external_id,
            literal("read", String),
            literal(run_id, String),
            literal(plan.closing_year, String),
            literal(now, DateTime(timezone=True)),
            literal(True, Boolean),
        )
        .distinct()
        .select_from(
            purge_journal.join(group_members, gm.group_id == j.recipient_id).join(
                resources, r.resource_id == j.resource_id
            )
        )
        .where(
            j.run_id == run_id,
            j.derived.is_(False),
            gm.user_external_id != r.owner_external_id,
            ~already_shared,
        )
    )
    created = rows_written(
        conn,
        insert(purge_journal).from_select(
            [*SHARE_KEY, "rights", "run_id", "school_year", "purged_at", "derived"],
            members,
        ),
    )
    derived = and_(j.run_id == run_id, j.derived.is_(True))
    conn.execute(
        insert(shares).from_select(
            [*SHARE_KEY, "rights"],
            select(j.resource_id, j.recipient_kind, j.recipient_id, j.rights).where(derived),
        )
    )
    log_shares(conn, run_id, now, "member_share", derived, before=False)
    return created
