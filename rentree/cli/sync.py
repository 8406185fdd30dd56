"""`rentree attach-teachers`: teacher-class attachments from a terminal (R10)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import uuid4

import typer

from rentree.cli.common import EXIT_DONE, EXIT_REJECTED, console, fail, guarded, workspace
from rentree.infra.naming import reports_prefix

if TYPE_CHECKING:
    import polars as pl

    from rentree.tasks.rules.attachments.decide import AttachmentResult


def attach_teachers(
    file: Path | None = typer.Argument(
        None, help="CSV with the header teacher_external_id,class_external_id (`,` or `;`)."
    ),
    school: str | None = typer.Option(
        None, "--school", help="UAI: the school's whole teaching team to every class of the year."
    ),
    year: str | None = typer.Option(
        None, "--year", help="School year of --school's classes (default: the new year)."
    ),
) -> None:
    """Attach teachers to classes (R10); refusals and pending requests are listed with why.

    Exit 0: all attached; 1: some kept pending (no student in the class yet) or refused;
    2: the command cannot be used (file missing, bad header, unknown school).
    """
    from rentree.flows.attach_teachers import PHASE as FLOW  # runs recorded as the flow's
    from rentree.infra.db import directory_lock
    from rentree.infra.runs import record_run
    from rentree.tasks.rules.attachments.apply import request_attachments
    from rentree.tasks.rules.attachments.request_lists import write_attachment_reports
    from rentree.tasks.rules.attachments.school_team import school_team_requests
    from rentree.tasks.rules.options import OptionError, check_flow_options
    from rentree.tasks.rules.years import current_years

    if (file is None) == (school is None):
        fail("give either a CSV file of requests or --school UAI (not both, not neither).")
    requests = _read_file(file) if file is not None else None
    now = datetime.now(UTC)
    run_id = f"cli-{FLOW}-{uuid4().hex[:12]}"
    with workspace() as ws, ws.engine.begin() as conn:
        try:
            check_flow_options(conn, ws.store, FLOW, {"year": year, "school": school})
        except OptionError as exc:
            fail(str(exc))
        directory_lock(conn)
        if school is not None:
            target_year = year or current_years(conn)[1]
            if target_year is None:
                fail("the directory holds no school year yet; import the feeds first.")
            requests = school_team_requests(conn, school, target_year)
            if requests.is_empty():
                fail(
                    f"school {school} has no teacher or no class in {target_year} yet; run it "
                    "again after the staff and family imports.",
                    EXIT_REJECTED,
                )
        assert requests is not None
        result = request_attachments(conn, requests, run_id, now)
        report_year = year or _year_of(result) or "all"
        status = "completed" if result.all_attached else "rejected"
        record_run(
            conn,
            run_id=run_id,
            flow=FLOW,
            school_year=report_year,
            started_at=now,
            status=status,
            dry_run=False,
            summary=result.counts(),
        )
    keys = write_attachment_reports(ws.store, reports_prefix(report_year, FLOW, run_id), result)
    _print(result)
    for key in keys:
        if key.endswith(".csv"):
            console.print(f"report: {ws.store.link(key)}", highlight=False)
    raise typer.Exit(EXIT_DONE if result.all_attached else EXIT_REJECTED)


def _read_file(file: Path) -> pl.DataFrame:
    from rentree.infra.settings import load_settings
    from rentree.tasks.rules.attachments.request_lists import RequestFileError, read_requests

    limit = guarded(load_settings).attach_requests_max_rows
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: cannot be read ({exc.strerror}); check the path.")
    try:
        return read_requests(data, str(file), limit)
    except RequestFileError as exc:
        fail(str(exc))


def _year_of(result: AttachmentResult) -> str | None:
    import polars as pl

    from rentree.infra.naming import year_of_ids

    ids = pl.concat([result.attached, result.pending]).select(
        year_of_ids(pl.col("class_external_id")).alias("year")
    )
    years = ids["year"].drop_nulls().unique().sort()
    return years[-1] if years.len() else None


def _print(result: AttachmentResult) -> None:
    from rich.table import Table

    counts = result.counts()
    console.print(
        f"{counts['attached']} attached, {counts['pending']} kept pending (applied by itself "
        f"once a student of the class is in the ENT), {counts['refused']} refused.",
        highlight=False,
    )
    not_attached = result.not_attached()
    if not_attached.is_empty():
        return
    table = Table("teacher", "class", "outcome", "reason", title="Not attached")
    for row in not_attached.iter_rows(named=True):
        table.add_row(
            row["teacher_external_id"], row["class_external_id"], row["outcome"], row["reason"]
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("attach-teachers")(attach_teachers)
