"""Undoing a share purge run: the journalled shares put back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Connection,
    DateTime,
    and_,
    delete,
    exists,
    insert,
    literal,
    select,
    tuple_,
    update,
)

from rentree.infra.schema import (
    purge_journal,
    shares,
)
from rentree.tasks.content.purge.apply import log_shares
from rentree.tasks.content.purge.plan import SHARE_KEY
from rentree.tasks.sync.change_log import rows_written


def undo_share_purge(conn: Connection, run_id: str, now: datetime) -> int:
    """Put back exactly the shares run `run_id` removed and remove those it derived.

    Returns how many shares were restored; undoing a run already undone, or a run that
    removed nothing (or an unknown run id: the journal is the only record), restores nothing.
    """
    j, s = purge_journal.c, shares.c
    pending = and_(j.run_id == run_id, j.undone_at.is_(None))
    derived = and_(pending, j.derived.is_(True))
    purged = and_(pending, j.derived.is_(False))
    log_shares(conn, run_id, now, "member_unshare", derived, before=True)
    conn.execute(
        delete(shares).where(
            tuple_(s.resource_id, s.recipient_kind, s.recipient_id).in_(
                select(j.resource_id, j.recipient_kind, j.recipient_id).where(derived)
            )
        )
    )
    # A share re-made meanwhile with the same key is the owner's newer choice: keep it.
    same_key = exists().where(
        s.resource_id == j.resource_id,
        s.recipient_kind == j.recipient_kind,
        s.recipient_id == j.recipient_id,
    )
    restored = rows_written(
        conn,
        insert(shares).from_select(
            [*SHARE_KEY, "rights"],
            select(j.resource_id, j.recipient_kind, j.recipient_id, j.rights).where(
                purged, ~same_key
            ),
        ),
    )
    log_shares(conn, run_id, now, "restore", purged, before=False)
    conn.execute(
        update(purge_journal).where(pending).values(undone_at=literal(now, DateTime(timezone=True)))
    )
    return restored
