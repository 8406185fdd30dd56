"""`freeze`: close the year for changes (R7), snapshot it, tell owners what the purge will
remove (R6) and list the share bookmarks whose members left (R13)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from rentree.flows.run.artifacts import (
    markdown_table,
    nothing_done,
    publish_links,
    publish_summary,
    publish_table,
)
from rentree.flows.run.context import RunContext, new_year_of, open_run
from rentree.flows.run.guard import directory_guard
from rentree.flows.run.phase import phase_flow
from rentree.infra.reports import write_report
from rentree.tasks.content.bookmarks import bookmark_cleanup_report
from rentree.tasks.content.export import write_snapshot
from rentree.tasks.content.purge.plan import pre_purge_notice
from rentree.tasks.content.purge.report import write_notice
from rentree.tasks.rules.years import freeze_year

PHASE = "freeze"


@task(cache_policy=NO_CACHE)
def close_year(ctx: RunContext) -> dict[str, Any]:
    """R7: a domain change in one transaction; no retry (it is transactional)."""
    assert ctx.school_year is not None
    with ctx.workspace.engine.begin() as conn:
        state = freeze_year(conn, ctx.school_year, datetime.now(UTC))
    return {"phase": state.phase, "frozen_at": state.frozen_at}


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def snapshot(ctx: RunContext) -> dict[str, Any]:
    """The directory export under snapshots/ (storage and connection failures are retried)."""
    assert ctx.school_year is not None
    with ctx.workspace.engine.connect() as conn:
        summary = write_snapshot(conn, ctx.store, ctx.school_year, f"freeze-{date.today():%Y%m%d}")
    return {"location": summary.location, "rows": summary.rows}


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def owner_reports(ctx: RunContext) -> tuple[list[str], int, int]:
    """R6 pre-purge notice and R13 bookmark clean-up report, written under reports/."""
    assert ctx.school_year is not None
    with ctx.workspace.engine.connect() as conn:
        notice = pre_purge_notice(conn, ctx.school_year)
        bookmarks = bookmark_cleanup_report(conn, ctx.school_year)
    keys = write_notice(ctx.store, ctx.reports_prefix(), notice)
    written = write_report(ctx.store, ctx.reports_prefix(), "bookmark_cleanup", bookmarks)
    return [*keys, written.csv_key, written.parquet_key], notice.height, bookmarks.height


@phase_flow(PHASE)
def freeze(year: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Close a school year (default: the current one) for changes, snapshot it, and write
    the pre-purge notice and the bookmark clean-up report for the owners.

    Args:
        year: Closing school year to freeze, written YYYY-YYYY (e.g. 2024-2025); empty: the
            directory's current year.
        dry_run: Write the notice and the bookmark report but neither close the year nor write
            the snapshot.
    """
    with open_run(PHASE, year, dry_run=dry_run, resolve_year=new_year_of) as ctx:
        if ctx.school_year is None:
            return nothing_done(
                ctx, "Freeze", "The directory holds no school year: nothing to freeze."
            )
        closed: dict[str, Any] = {"phase": "unchanged (dry run)"}
        if not dry_run:
            with directory_guard(ctx):
                closed = close_year(ctx)
        snap: dict[str, Any] = (
            snapshot(ctx) if not dry_run else {"location": "not written (dry run)", "rows": {}}
        )
        keys, notice_rows, bookmark_rows = owner_reports(ctx)
        publish_links(ctx, keys)
        rows = [{"table": t, "rows": n} for t, n in snap["rows"].items()]
        ctx.summary = {
            "school_year": ctx.school_year,
            "phase": closed["phase"],
            "snapshot": snap["location"],
            "pre_purge_notice_rows": notice_rows,
            "bookmark_cleanup_rows": bookmark_rows,
            "reports": keys,
        }
        publish_summary(
            ctx,
            f"Freeze of {ctx.school_year}",
            [
                (
                    "Applied",
                    f"The year is now **{closed['phase']}** (R7): its feed files are held, "
                    "nobody loses access.",
                ),
                ("Snapshot", f"`{snap['location']}`\n\n{markdown_table(rows)}"),
                (
                    "Owners",
                    f"{notice_rows} shares listed in the pre-purge notice (R6); "
                    f"{bookmark_rows} bookmark members that left (R13).",
                ),
            ],
        )
        publish_table(ctx, "snapshot", pl.DataFrame(rows), "Rows per table in the freeze snapshot")
        return ctx.result()
