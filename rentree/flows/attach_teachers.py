"""`attach-teachers`: attach teachers to classes from a list, or a whole school's team,
under R10 (a class with no student yet keeps the request pending)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl
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
from rentree.flows.run.phase import SchoolYear, Uai, phase_flow
from rentree.flows.run.planned import plan_and_report, plan_then_apply
from rentree.flows.run.tasks import safe_task
from rentree.tasks.rules.attachments.apply import request_attachments
from rentree.tasks.rules.attachments.decide import AttachmentResult, plan_attachments
from rentree.tasks.rules.attachments.request_lists import (
    REQUEST_COLUMNS,
    no_requests,
    read_requests,
    write_attachment_reports,
)
from rentree.tasks.rules.attachments.school_team import school_team_requests

PHASE = "attach-teachers"


@safe_task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def load_requests(
    ctx: RunContext, requests_key: str | None, pairs: list[list[str]] | None, school: str | None
) -> pl.DataFrame:
    """Requests from a file in the store, an explicit list, and/or a school's whole team."""
    frames = [no_requests()]
    if requests_key:
        data = ctx.store.read_bytes(requests_key)
        frames.append(read_requests(data, requests_key, ctx.settings.attach_requests_max_rows))
    if pairs:
        frames.append(pl.DataFrame(pairs, schema=list(REQUEST_COLUMNS), orient="row"))
    if school:
        assert ctx.school_year is not None
        with ctx.workspace.engine.connect() as conn:
            frames.append(school_team_requests(conn, school, ctx.school_year))
    return pl.concat(frames).unique(maintain_order=True)


@safe_task(cache_policy=NO_CACHE)
def attach(ctx: RunContext, requests: pl.DataFrame) -> AttachmentResult:
    """Decide again under the guard (the directory may have moved) and apply, in one
    transaction."""
    with ctx.workspace.engine.begin() as conn:
        return request_attachments(conn, requests, ctx.run_id, datetime.now(UTC))


def attachment_sections(result: AttachmentResult) -> list[tuple[str, str]]:
    counts = result.counts()
    refused = result.not_attached().head(50).to_dicts()
    return [
        (
            "Outcome",
            f"{counts['attached']} attached, {counts['pending']} kept pending (R10: applied "
            f"by itself once a student arrives), {counts['refused']} refused.",
        ),
        ("Not attached, and why", markdown_table(refused) if refused else ""),
    ]


def report_attachments(ctx: RunContext, result: AttachmentResult, title: str) -> dict[str, Any]:
    """Reports, artifacts and summary of attachment results."""
    keys = write_attachment_reports(ctx.store, ctx.reports_prefix(), result)
    publish_links(ctx, keys)
    publish_summary(ctx, title, attachment_sections(result))
    publish_table(
        ctx, "not-attached", result.not_attached(), "Requests kept pending or refused, and why"
    )
    return {**result.counts(), "reports": keys}


@phase_flow(PHASE)
def attach_teachers(
    year: SchoolYear | None = None,
    requests_key: str | None = None,
    requests: list[list[str]] | None = None,
    school: Uai | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Attach teachers to classes (R10): from a CSV in the store (`requests_key`, header
    teacher_external_id,class_external_id), from `requests` ([[teacher id, class id], ...]),
    or the whole teaching team of `school` (UAI) to its classes of the year. A list of more
    than a few hundred requests goes through the store (`store_requests`): Prefect refuses
    parameters over 512 KB.

    Args:
        year: School year of the classes, written YYYY-YYYY; empty: the year being imported.
        requests_key: Storage key of a CSV request list (header
            teacher_external_id,class_external_id); `rentree run attach-teachers --requests
            FILE.csv` puts it there.
        requests: A short list of [teacher id, class id] pairs, e.g. [["T1",
            "2025-2026:0590001A:CP-A"]].
        school: The UAI of a school: its whole teaching team to every class of the year.
        dry_run: Decide every request and write the reports, but attach nothing and keep
            nothing pending.
    """
    with open_run(PHASE, year, dry_run=dry_run, resolve_year=new_year_of) as ctx:
        wanted = load_requests(ctx, requests_key, requests, school)
        if wanted.is_empty():
            return nothing_done(
                ctx,
                "Teacher attachments",
                "No attachment request: give requests_key, requests or school.",
            )
        planned, keys = plan_and_report(
            ctx,
            lambda conn: plan_attachments(conn, wanted),
            lambda store, prefix, p: write_attachment_reports(store, prefix, p.result()),
        )
        title = f"Teacher attachments {ctx.school_year}"
        return plan_then_apply(
            ctx,
            title,
            planned,
            lambda _: apply(ctx, wanted, title),
            reports=keys,
            sections=attachment_sections(planned.result()),
        )


def apply(ctx: RunContext, wanted: pl.DataFrame, title: str) -> dict[str, Any]:
    with directory_guard(ctx):
        result = attach(ctx, wanted)
    ctx.summary = report_attachments(ctx, result, title)
    if not result.refused.is_empty():
        ctx.status = "rejected"
    return ctx.result()
