"""`attach-teachers`: attach teachers to classes from a list, or a whole school's team,
under R10 (a class with no student yet keeps the request pending)."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from rentree.flows.run.artifacts import (
    markdown_table,
    nothing_done,
    publish_links,
    publish_summary,
    publish_table,
)
from rentree.flows.run.context import RunContext, new_year_of, open_run, run_name, run_transaction
from rentree.flows.run.guard import directory_guard
from rentree.infra.naming import request_list_key
from rentree.infra.reports import write_report
from rentree.infra.storage import ObjectStore
from rentree.tasks.rules.attachments import (
    AttachmentResult,
    request_attachments,
    school_team_requests,
)

PHASE = "attach-teachers"
REQUEST_COLUMNS = ("teacher_external_id", "class_external_id")


class RequestFileError(ValueError):
    """A request list that cannot be read; the message is one sentence."""


def read_requests(data: bytes, where: str) -> pl.DataFrame:
    """The request list: header `teacher_external_id,class_external_id`, `,` or `;`."""
    header = data.split(b"\n", 1)[0]
    separator = ";" if header.count(b";") > header.count(b",") else ","
    try:
        frame = pl.read_csv(io.BytesIO(data), separator=separator, infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise RequestFileError(f"{where} cannot be read as CSV ({exc}); fix the file.") from None
    missing = [c for c in REQUEST_COLUMNS if c not in frame.columns]
    if missing:
        raise RequestFileError(
            f"{where} has no column {', '.join(missing)}; the header must be "
            "teacher_external_id,class_external_id."
        )
    return frame.select(REQUEST_COLUMNS)


def store_requests(store: ObjectStore, data: bytes, where: str, year: str | None) -> str:
    """Check a request list and put it in the store; the flow gets its key (`requests_key`),
    whatever its size."""
    read_requests(data, where)
    key = request_list_key(year, PHASE, hashlib.sha256(data).hexdigest())
    store.write_bytes(key, data)
    return key


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def load_requests(
    ctx: RunContext, requests_key: str | None, pairs: list[list[str]] | None, school: str | None
) -> pl.DataFrame:
    """Requests from a file in the store, an explicit list, and/or a school's whole team."""
    frames = [pl.DataFrame(schema=dict.fromkeys(REQUEST_COLUMNS, pl.String))]
    if requests_key:
        frames.append(read_requests(ctx.store.read_bytes(requests_key), requests_key))
    if pairs:
        frames.append(pl.DataFrame(pairs, schema=list(REQUEST_COLUMNS), orient="row"))
    if school:
        assert ctx.school_year is not None
        with ctx.workspace.engine.connect() as conn:
            frames.append(school_team_requests(conn, school, ctx.school_year))
    return pl.concat(frames).unique(maintain_order=True)


@task(cache_policy=NO_CACHE)
def decide(ctx: RunContext, requests: pl.DataFrame) -> AttachmentResult:
    """R10 on every request in one transaction (rolled back on a dry run)."""
    with run_transaction(ctx) as conn:
        return request_attachments(conn, requests, ctx.run_id, datetime.now(UTC))


def report_attachments(ctx: RunContext, result: AttachmentResult, title: str) -> dict[str, Any]:
    """Reports, artifacts and summary of attachment results (shared with family-import)."""
    prefix = ctx.reports_prefix()
    written = [
        write_report(ctx.store, prefix, "attached", result.attached),
        write_report(ctx.store, prefix, "not_attached", result.not_attached()),
    ]
    keys = [k for w in written for k in (w.csv_key, w.parquet_key)]
    publish_links(ctx, keys)
    counts = result.counts()
    refused = result.not_attached().head(50).to_dicts()
    publish_summary(
        ctx,
        title,
        [
            (
                "Outcome",
                f"{counts['attached']} attached, {counts['pending']} kept pending (R10: applied "
                f"by itself once a student arrives), {counts['refused']} refused.",
            ),
            ("Not attached, and why", markdown_table(refused) if refused else ""),
        ],
    )
    publish_table(
        ctx, "not-attached", result.not_attached(), "Requests kept pending or refused, and why"
    )
    return {**counts, "reports": keys}


@flow(name="attach-teachers", flow_run_name=run_name(PHASE), log_prints=True)
def attach_teachers(
    year: str | None = None,
    requests_key: str | None = None,
    requests: list[list[str]] | None = None,
    school: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Attach teachers to classes (R10): from a CSV in the store (`requests_key`, header
    teacher_external_id,class_external_id), from `requests` ([[teacher id, class id], ...]),
    or the whole teaching team of `school` (UAI) to its classes of the year. A list of more
    than a few hundred requests goes through the store (`store_requests`): Prefect refuses
    parameters over 512 KB."""
    with open_run(PHASE, year, dry_run=dry_run, resolve_year=new_year_of) as ctx:
        wanted = load_requests(ctx, requests_key, requests, school)
        if wanted.is_empty():
            return nothing_done(
                ctx,
                "Teacher attachments",
                "No attachment request: give requests_key, requests or school.",
            )
        with directory_guard(ctx):
            result = decide(ctx, wanted)
        ctx.summary = report_attachments(ctx, result, f"Teacher attachments {ctx.school_year}")
        if not result.refused.is_empty():
            ctx.status = "rejected"
        return ctx.result()
