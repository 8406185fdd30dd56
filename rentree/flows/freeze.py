"""`freeze`: close the year for changes (R7), snapshot it, tell owners what the purge will
remove (R6) and list the share bookmarks whose members left (R13)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from prefect.cache_policies import NO_CACHE

from rentree.flows.run.artifacts import (
    markdown_table,
    nothing_done,
    publish_summary,
    publish_table,
)
from rentree.flows.run.context import RunContext, new_year_of, open_run
from rentree.flows.run.guard import directory_guard
from rentree.flows.run.phase import SchoolYear, phase_flow
from rentree.flows.run.planned import plan_and_report, plan_then_apply
from rentree.flows.run.tasks import safe_task
from rentree.tasks.content.export import write_snapshot
from rentree.tasks.rules.year_plans import FreezePlan, plan_freeze, write_freeze_reports
from rentree.tasks.rules.years import freeze_year

PHASE = "freeze"


@safe_task(cache_policy=NO_CACHE)
def close_year(ctx: RunContext) -> dict[str, Any]:
    """R7: a domain change in one transaction; no retry (it is transactional)."""
    assert ctx.school_year is not None
    with ctx.workspace.engine.begin() as conn:
        state = freeze_year(conn, ctx.school_year, datetime.now(UTC))
    return {"phase": state.phase, "frozen_at": state.frozen_at}


@safe_task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def snapshot(ctx: RunContext, planned: FreezePlan) -> dict[str, Any]:
    """The directory export under snapshots/ (storage and connection failures are retried)."""
    with ctx.workspace.engine.connect() as conn:
        summary = write_snapshot(conn, ctx.store, planned.school_year, planned.snapshot_label)
    return {"location": summary.location, "rows": summary.rows}


def apply(ctx: RunContext, planned: FreezePlan, sections: list[tuple[str, str]]) -> dict:
    with directory_guard(ctx):
        closed = close_year(ctx)
    snap = snapshot(ctx, planned)
    ctx.summary.update(phase=closed["phase"], snapshot_location=snap["location"])
    publish_summary(
        ctx,
        f"Freeze of {planned.school_year}",
        [
            *sections,
            (
                "Applied",
                f"The year is now **{closed['phase']}** (R7): its feed files are held, nobody "
                f"loses access. Snapshot: `{snap['location']}`.",
            ),
        ],
    )
    return ctx.result()


@phase_flow(PHASE)
def freeze(year: SchoolYear | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Close a school year (default: the current one) for changes, snapshot it, and write
    the pre-purge notice and the bookmark clean-up report for the owners.

    Args:
        year: Closing school year to freeze, written YYYY-YYYY (e.g. 2024-2025); empty: the
            directory's current year.
        dry_run: Write the notice and the bookmark report and say what the snapshot would
            hold, but neither close the year nor write the snapshot.
    """
    with open_run(PHASE, year, dry_run=dry_run, resolve_year=new_year_of) as ctx:
        if ctx.school_year is None:
            return nothing_done(
                ctx, "Freeze", "The directory holds no school year: nothing to freeze."
            )
        year = ctx.school_year
        planned, keys = plan_and_report(
            ctx, lambda conn: plan_freeze(conn, year, date.today()), write_freeze_reports
        )
        rows = [{"table": t, "rows": n} for t, n in planned.snapshot_rows.items()]
        publish_table(ctx, "snapshot", pl.DataFrame(rows), "Rows per table in the freeze snapshot")
        sections = [
            (
                "Plan",
                "The year becomes **frozen** (R7)"
                + (" (it already is)" if planned.already_frozen else "")
                + f"; a snapshot under `{planned.snapshot_key}`:\n\n{markdown_table(rows)}",
            ),
            (
                "Owners",
                f"{planned.notice.height} shares listed in the pre-purge notice (R6); "
                f"{planned.bookmarks.height} bookmark members that left (R13).",
            ),
        ]
        return plan_then_apply(
            ctx,
            f"Freeze of {ctx.school_year}",
            planned,
            lambda p: apply(ctx, p, sections),
            reports=keys,
            sections=sections,
        )
