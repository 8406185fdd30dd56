"""The feed-file ledger (`feed_files`): one row per file content and what became of it.

A file is known by the sha256 of its bytes. Its row says whether it was applied, is held
(with the rule and the reason), was quarantined, or failed to apply (set aside with the
reason, until an operator retries it or its files change). An applied row is final: a later hold or
quarantine of the very same bytes leaves it as it is, while any other row is replaced by the
newer one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import polars as pl
from sqlalchemy import ColumnElement, Connection, delete, select, true

from rentree.infra.db import insert_frame
from rentree.infra.naming import FeedName
from rentree.infra.schema import feed_files
from rentree.tasks.sync.changeset import FILES_SCHEMA

FileStatus = Literal["applied", "held", "quarantined", "failed"]

_LEDGER_SCHEMA: dict[str, Any] = {
    **FILES_SCHEMA,
    "school_year": pl.String,
    "status": pl.String,
    "run_id": pl.String,
    "recorded_at": pl.Datetime("us", "UTC"),
    "held_rule": pl.String,
    "reason": pl.String,
}


def files_frame(files: Iterable[tuple[FeedName, str]], academy: str | None = None) -> pl.DataFrame:
    """Files as ledger rows (`changeset.FILES_SCHEMA`) from their parsed names and hashes,
    of one academy of the region (None in a one-academy region)."""
    rows = [
        {
            "content_hash": content_hash,
            "file_name": feed.name,
            "file_type": feed.file_type,
            "mode": feed.mode,
            "extraction_date": feed.extraction_date,
            "chunk": feed.chunk,
            "academy": academy,
        }
        for feed, content_hash in files
    ]
    return pl.DataFrame(rows, schema=FILES_SCHEMA)


def applied_hashes(conn: Connection, hashes: Sequence[str]) -> set[str]:
    """Which of these contents were applied already."""
    if not hashes:
        return set()
    return set(
        conn.scalars(
            select(feed_files.c.content_hash).where(
                feed_files.c.content_hash.in_(list(hashes)), feed_files.c.status == "applied"
            )
        )
    )


def record_feed_files(
    conn: Connection,
    files: pl.DataFrame,
    status: FileStatus,
    *,
    school_year: str,
    run_id: str | None,
    now: datetime,
    held_rule: str | None = None,
    reason: str | None = None,
) -> pl.DataFrame:
    """Write a ledger row per file content (the first file of a hash counts); returns them.

    `files` has the `changeset.FILES_SCHEMA` columns, and may carry its own `held_rule` and
    `reason` columns (one per file) instead of the keyword values. An `applied` row replaces
    any earlier row of its hash; another status replaces earlier rows that are not applied
    and leaves out the files whose very bytes were applied before. Nothing is committed.
    """
    given = {"held_rule": held_rule, "reason": reason}
    rows = (
        files.unique(subset="content_hash", keep="first", maintain_order=True)
        .with_columns(
            pl.lit(school_year).alias("school_year"),
            pl.lit(status).alias("status"),
            pl.lit(run_id).alias("run_id"),
            pl.lit(now).alias("recorded_at"),
            *(pl.lit(v).alias(c) for c, v in given.items() if c not in files.columns),
        )
        .select(pl.col(c).cast(t) for c, t in _LEDGER_SCHEMA.items())
    )
    if rows.is_empty():
        return rows
    hashes = rows["content_hash"].to_list()
    earlier = feed_files.c.content_hash.in_(hashes)
    if status == "applied":
        conn.execute(delete(feed_files).where(earlier))
    else:
        conn.execute(delete(feed_files).where(earlier, feed_files.c.status != "applied"))
        rows = rows.filter(~pl.col("content_hash").is_in(applied_hashes(conn, hashes)))
    insert_frame(conn, feed_files, rows)
    return rows


@dataclass(frozen=True)
class FailedDelivery:
    """A delivery whose apply failed: set aside, with the reason, until retried."""

    delivery: str  # YYYYMMDD
    hashes: frozenset[str]
    types: frozenset[str]
    reason: str


def of_academy(academy: str | None) -> ColumnElement[bool]:
    """The ledger rows of one academy (those of a one-academy region: no academy)."""
    if academy is None:
        return feed_files.c.academy.is_(None)
    return feed_files.c.academy == academy


def failed_deliveries(
    conn: Connection, school_year: str, academy: str | None = None, *, every_academy: bool = False
) -> dict[str, FailedDelivery]:
    """The year's deliveries set aside after a failed apply, by extraction date: of one
    academy (a region of several), or of them all."""
    rows = conn.execute(
        select(
            feed_files.c.extraction_date,
            feed_files.c.content_hash,
            feed_files.c.file_type,
            feed_files.c.reason,
        ).where(
            feed_files.c.school_year == school_year,
            feed_files.c.status == "failed",
            true() if every_academy else of_academy(academy),
        )
    ).all()
    found: dict[str, list[Any]] = {}
    for row in rows:
        found.setdefault(row.extraction_date.strftime("%Y%m%d"), []).append(row)
    return {
        day: FailedDelivery(
            delivery=day,
            hashes=frozenset(r.content_hash for r in entries),
            types=frozenset(r.file_type for r in entries),
            reason=str(entries[0].reason or ""),
        )
        for day, entries in found.items()
    }


def forget_failed(
    conn: Connection, school_year: str, delivery: str, academy: str | None = None
) -> None:
    """The delivery is tried again: its `failed` rows go (in the caller's transaction)."""
    day = datetime.strptime(delivery, "%Y%m%d").date()
    conn.execute(
        delete(feed_files).where(
            feed_files.c.school_year == school_year,
            feed_files.c.status == "failed",
            of_academy(academy),
            feed_files.c.extraction_date == day,
        )
    )
