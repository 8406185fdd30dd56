"""`storage-report`: per user, school and region, the space used by app and area, quota
use, what emptying the trashes would free, the top users, the users above 80% of their
quota, and the share bookmarks whose members left (R13)."""

from __future__ import annotations

from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from rentree.flows.common import (
    RunContext,
    markdown_table,
    new_year_of,
    open_run,
    publish_links,
    publish_summary,
    publish_table,
    run_name,
)
from rentree.infra.reports import write_report
from rentree.tasks.bookmarks import bookmark_cleanup_report
from rentree.tasks.storage_report import storage_report as compute_storage_report
from rentree.tasks.storage_report import write_storage_report
from rentree.tasks.years import current_years

PHASE = "storage-report"


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def write_reports(ctx: RunContext) -> tuple[dict[str, Any], pl.DataFrame, list[str]]:
    """Reads the directory and writes the report files: connection and storage errors retry."""
    prefix = ctx.reports_prefix()
    with ctx.workspace.engine.connect() as conn:
        report = compute_storage_report(conn, ctx.settings)
        closing, new = current_years(conn)
        bookmarks = bookmark_cleanup_report(conn, closing or new or "")
    keys = write_storage_report(ctx.store, prefix, report)
    written = write_report(ctx.store, prefix, "bookmark_cleanup", bookmarks)
    keys += [written.csv_key, written.parquet_key]
    summary = {**report.summary(), "bookmark_members_left": bookmarks.height}
    return summary, report.schools, keys


@flow(name="storage-report", flow_run_name=run_name(PHASE), log_prints=True)
def storage_report() -> dict[str, Any]:
    """Write the storage report under reports/<year>/storage-report/<run>/."""
    with open_run(PHASE, None, resolve_year=new_year_of) as ctx:
        summary, schools, keys = write_reports(ctx)
        publish_links(ctx, keys)
        publish_table(ctx, "schools", schools, "Space used per school")
        publish_summary(ctx, "Storage report", [("Region", markdown_table([summary]))])
        ctx.summary = {**summary, "reports": keys}
        return ctx.result()
