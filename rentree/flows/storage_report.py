"""`storage-report`: per user, school and region, the space used by app and area, quota
use, what emptying the trashes would free, the top users, the users above 80% of their
quota, and the share bookmarks whose members left (R13)."""

from __future__ import annotations

import base64
from typing import Any

import polars as pl
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from rentree.flows.run.artifacts import (
    markdown_table,
    publish_links,
    publish_summary,
    publish_table,
)
from rentree.flows.run.context import RunContext, new_year_of, open_run
from rentree.flows.run.phase import phase_flow
from rentree.flows.run.tasks import safe_task
from rentree.infra.reports import write_report
from rentree.tasks.content.bookmarks import bookmark_cleanup_report
from rentree.tasks.content.storage_report import storage_report as compute_storage_report
from rentree.tasks.content.storage_report import write_storage_report
from rentree.tasks.rules.retirement.stages import retirement_stages, stage_totals
from rentree.tasks.rules.years import current_years

PHASE = "storage-report"


@safe_task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def write_reports(ctx: RunContext) -> tuple[dict[str, Any], pl.DataFrame, list[str]]:
    """Reads the directory and writes the report files: connection and storage errors retry."""
    prefix = ctx.reports_prefix()
    with ctx.workspace.engine.connect() as conn:
        report = compute_storage_report(conn, ctx.settings)
        closing, new = current_years(conn)
        bookmarks = bookmark_cleanup_report(conn, closing or new or "")
        stages = retirement_stages(conn)
        totals = stage_totals(conn)
    keys = write_storage_report(ctx.store, prefix, report)
    written = write_report(ctx.store, prefix, "bookmark_cleanup", bookmarks)
    keys += [written.csv_key, written.parquet_key]
    # R11: the accounts in each stage per school, beside the space they use
    staged = write_report(ctx.store, prefix, "retirement_stages", stages)
    keys += [staged.csv_key, staged.parquet_key]
    summary = {
        **report.summary(),
        "bookmark_members_left": bookmarks.height,
        **{f"accounts_{stage}": count for stage, count in totals.items()},
    }
    return summary, report.schools, keys


def publish_charts(ctx: RunContext, keys: list[str]) -> None:
    """The PNG charts inside a markdown artifact (as data URIs), so the run page shows them
    whatever the store: a local folder or S3 is not reachable from the operator's browser."""
    charts = [key for key in keys if key.endswith(".png")]
    if not charts:
        return
    images = "\n\n".join(
        f"### {key.rsplit('/', 1)[-1].removesuffix('.png').replace('_', ' ')}\n\n"
        f"![{key.rsplit('/', 1)[-1]}](data:image/png;base64,"
        f"{base64.b64encode(ctx.store.read_bytes(key)).decode('ascii')})"
        for key in charts
    )
    create_markdown_artifact(
        markdown=f"# Storage charts\n\n{images}\n",
        key=ctx.artifact_key("charts"),
        description="Space by area (region, schools) and quota use",
    )


@phase_flow(PHASE)
def storage_report() -> dict[str, Any]:
    """Write the storage report under reports/<year>/storage-report/<run>/."""
    with open_run(PHASE, None, resolve_year=new_year_of) as ctx:
        summary, schools, keys = write_reports(ctx)
        publish_links(ctx, keys)
        publish_charts(ctx, keys)
        publish_table(ctx, "schools", schools, "Space used per school")
        publish_summary(ctx, "Storage report", [("Region", markdown_table([summary]))])
        ctx.summary = {**summary, "reports": keys}
        return ctx.result()
