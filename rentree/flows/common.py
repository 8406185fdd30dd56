"""What every phase flow shares: the run context, the `runs` table, artifacts, the
concurrency guard, the task runner and the approval form.

The flows stay thin: they open a run context, call the plain functions of `rentree.tasks`,
and publish what happened (the `runs` row, the artifacts, the reports' links).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import UUID, uuid4

import polars as pl
from prefect import get_client, get_run_logger
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout, ObjectAlreadyExists
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Running
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner
from sqlalchemy import Connection, delete, insert, update

from rentree.infra import naming
from rentree.infra.db import schema_is_current, upgrade
from rentree.infra.schema import runs
from rentree.infra.settings import Settings, load_settings
from rentree.infra.storage import ObjectStore
from rentree.infra.workspace import Workspace, open_workspace
from rentree.tasks.rules.years import current_years

TAG = "rentree"
LINKED_SUFFIXES = (".csv", ".json", ".png", ".md")
# The one global concurrency limit every run that changes the directory holds (limit 1).
DIRECTORY_LIMIT = "rentree-directory"

# A terminal (the CLI) may listen to the same progress steps as the progress artifacts.
ProgressListener = Callable[[str, int, int], None]
progress_listener: ContextVar[ProgressListener | None] = ContextVar(
    "rentree_progress_listener", default=None
)


def run_name(phase: str) -> Callable[[], str]:
    """A flow_run_name callable: phase, school year, date (and 'dry run' when it is one)."""

    def name() -> str:
        from prefect.runtime import flow_run

        params: Mapping[str, Any] = flow_run.parameters or {}
        year = params.get("year")
        parts = [phase, *([str(year)] if year else []), f"{date.today():%Y-%m-%d}"]
        schools = params.get("schools")
        if schools:
            parts.append("schools " + ",".join(schools))
        if params.get("dry_run"):
            parts.append("dry-run")
        return " ".join(parts)

    return name


def json_safe(value: Any) -> Any:
    """What can go into the `runs.summary` JSON column and into artifacts."""
    return json.loads(json.dumps(value, default=str))


@dataclass
class RunContext:
    """One run of one phase flow: its workspace, id, year and what it will report."""

    flow: str
    run_id: str
    school_year: str | None
    dry_run: bool
    workspace: Workspace
    started_at: datetime
    status: str = "completed"
    summary: dict[str, Any] = field(default_factory=dict)
    report_keys: list[str] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.workspace.settings

    @property
    def store(self) -> ObjectStore:
        return self.workspace.store

    def reports_prefix(self, year: str | None = None) -> str:
        return naming.reports_prefix(year or self.school_year or "all", self.flow, self.run_id)

    def result(self) -> dict[str, Any]:
        """What the flow returns: its summary, its status (completed, held, rejected) and its
        run id (what `undo_run_id` and the reports' folder name)."""
        return json_safe({**self.summary, "status": self.status, "run_id": self.run_id})

    def artifact_key(self, what: str) -> str:
        # Artifact keys: lower-case letters, digits and dashes only.
        return f"{self.flow}-{what}".lower().replace("_", "-")


def current_flow_run_id() -> str:
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        return str(ctx.flow_run.id)
    return str(uuid4())


def _tag_run(flow: str, year: str | None) -> None:
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    wanted = [TAG, flow] + ([year] if year else [])
    tags = list(dict.fromkeys([*(ctx.flow_run.tags or []), *wanted]))
    with get_client(sync_client=True) as client:
        client.update_flow_run(ctx.flow_run.id, tags=tags)


@contextmanager
def open_run(
    flow: str,
    year: str | None,
    *,
    dry_run: bool = False,
    settings: Settings | None = None,
    resolve_year: Callable[[Workspace], str | None] | None = None,
) -> Iterator[RunContext]:
    """Open the workspace and record the run in `runs` (running, then its outcome).

    `resolve_year` finds the school year when the caller gave none (e.g. the new year).
    """
    # Migrating only when tables are missing: alembic is not thread-safe, and runs in one
    # process (tests, `rentree demo`) may start side by side on a current schema.
    ws = open_workspace(settings or load_settings(), migrate=False)
    if not schema_is_current(ws.engine):
        upgrade(ws.engine)
    try:
        if year is None and resolve_year is not None:
            year = resolve_year(ws)
        ctx = RunContext(
            flow=flow,
            run_id=current_flow_run_id(),
            school_year=year,
            dry_run=dry_run,
            workspace=ws,
            started_at=datetime.now(UTC),
        )
        _tag_run(flow, year)
        with ws.engine.begin() as conn:
            conn.execute(delete(runs).where(runs.c.run_id == ctx.run_id))
            conn.execute(
                insert(runs).values(
                    run_id=ctx.run_id,
                    flow=flow,
                    school_year=year,
                    started_at=ctx.started_at,
                    status="running",
                    dry_run=dry_run,
                )
            )
        try:
            yield ctx
        except BaseException as exc:
            _finish(ctx, "failed", {**ctx.summary, "error": str(exc) or type(exc).__name__})
            raise
        _finish(ctx, ctx.status, ctx.summary)
    finally:
        ws.engine.dispose()


def _finish(ctx: RunContext, status: str, summary: dict[str, Any]) -> None:
    with ctx.workspace.engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.run_id == ctx.run_id)
            .values(status=status, finished_at=datetime.now(UTC), summary=json_safe(summary))
        )


def new_year_of(ws: Workspace) -> str | None:
    """The year being imported: the closing year's successor, or the latest year held."""
    with ws.engine.connect() as conn:
        return current_years(conn)[1]


def closing_year_of(ws: Workspace) -> str | None:
    """The closing year: the latest frozen one."""
    with ws.engine.connect() as conn:
        return current_years(conn)[0]


@contextmanager
def run_transaction(ctx: RunContext) -> Iterator[Connection]:
    """One transaction, committed at the end unless the run is a dry run (then rolled back,
    as on any error): a preview computes exactly what a real run would, and changes nothing."""
    with ctx.workspace.engine.connect() as conn:
        transaction = conn.begin()
        try:
            yield conn
        except BaseException:
            transaction.rollback()
            raise
        if ctx.dry_run:
            transaction.rollback()
        else:
            transaction.commit()


# -- the concurrency guard ------------------------------------------------------------------


def ensure_directory_limit() -> None:
    """Create (or reset to 1) the global concurrency limit; idempotent, done at serve time too."""
    # Another run may create it at the same moment: it exists, which is all we need.
    with get_client(sync_client=True) as client, suppress(ObjectAlreadyExists):
        client.upsert_global_concurrency_limit_by_name(DIRECTORY_LIMIT, 1)


@contextmanager
def directory_guard(ctx: RunContext) -> Iterator[None]:
    """Hold the one slot of `rentree-directory` while the run changes the directory.

    A dry run changes nothing and takes no slot, so a preview never waits for an import.
    """
    if ctx.dry_run:
        yield
        return
    ensure_directory_limit()
    logger = get_run_logger()
    logger.info("Waiting for the directory (concurrency limit %s).", DIRECTORY_LIMIT)
    with concurrency(DIRECTORY_LIMIT, occupy=1, strict=True):
        yield


# -- the task runner -------------------------------------------------------------------------


def make_task_runner(
    settings: Settings, *, cluster_kwargs: dict[str, Any] | None = None
) -> TaskRunner[Any]:
    """The task runner RENTREE_TASK_RUNNER names: threads, processes, or a Dask cluster.

    For Dask, RENTREE_DASK_ADDRESS points at a running scheduler; without it a LocalCluster
    of RENTREE_MAX_WORKERS workers is started for the run and stopped after it.
    """
    if settings.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=settings.max_workers)
    if settings.task_runner == "processes":
        return ProcessPoolTaskRunner(max_workers=settings.max_workers)
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs=cluster_kwargs
        or {"n_workers": settings.max_workers, "threads_per_worker": 1, "dashboard_address": None}
    )


# -- artifacts --------------------------------------------------------------------------------


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "_nothing_\n"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def publish_summary(ctx: RunContext, title: str, sections: Sequence[tuple[str, str]]) -> str:
    """The run's markdown artifact: what was applied, held, rejected, and why."""
    mode = " (dry run: nothing committed)" if ctx.dry_run else ""
    parts = [f"# {title}{mode}", f"School year: **{ctx.school_year or '-'}**, run `{ctx.run_id}`"]
    parts += [f"## {heading}\n\n{body}" for heading, body in sections if body]
    markdown = "\n\n".join(parts) + "\n"
    create_markdown_artifact(
        markdown=markdown, key=ctx.artifact_key("summary"), description=f"{title}{mode}"
    )
    return markdown


def nothing_done(
    ctx: RunContext, title: str, message: str, *, status: str = "rejected", **summary: Any
) -> dict[str, Any]:
    """End a run that had nothing to do: its status, the sentence in its summary (after the
    `summary` values given) and in its markdown artifact; returns the flow's result."""
    ctx.status = status
    ctx.summary = {**summary, "message": message}
    publish_summary(ctx, title, [("Nothing done", message)])
    return ctx.result()


def publish_table(ctx: RunContext, what: str, frame: pl.DataFrame, description: str) -> None:
    """A table artifact (counts per school...); large frames are cut, the report has them all."""
    rows = json_safe(frame.head(500).to_dicts()) if frame.height else []
    create_table_artifact(table=rows, key=ctx.artifact_key(what), description=description)


def publish_links(ctx: RunContext, keys: Sequence[str]) -> None:
    """One link artifact per report file, where the store says an operator finds it.

    A Parquet twin of a CSV report, and the per-kind Parquet parts of a change set (its
    summary.json is linked), are left out so that the run's page stays readable.
    """
    for key in keys:
        if not key.endswith(LINKED_SUFFIXES):
            continue
        link = ctx.store.link(key)
        if link.startswith("/"):
            link = "file://" + link
        create_link_artifact(
            link=link,
            link_text=key,
            description=f"Report written by {ctx.flow}",
        )
    ctx.report_keys.extend(keys)


class Progress:
    """A progress artifact updated per step (file, chunk, delivery), echoed to the CLI."""

    def __init__(self, description: str, total: int) -> None:
        self.description = description
        self.total = max(total, 1)
        self.done = 0
        self._artifact_id: UUID | None = None
        if FlowRunContext.get() is not None:
            self._artifact_id = cast(
                UUID, create_progress_artifact(progress=0.0, description=description)
            )
        self._echo()

    def advance(self, steps: int = 1) -> None:
        self.done = min(self.done + steps, self.total)
        if self._artifact_id is not None:
            update_progress_artifact(
                artifact_id=self._artifact_id, progress=100.0 * self.done / self.total
            )
        self._echo()

    def _echo(self) -> None:
        listener = progress_listener.get()
        if listener is not None:
            listener(self.description, self.done, self.total)


# -- approvals ---------------------------------------------------------------------------------


class Approval(RunInput):
    """The form an operator fills in the Prefect UI to decide on a hold."""

    approve: bool = False
    comment: str = ""


def ask_approval(description: str, timeout_seconds: int, poll_interval: int = 2) -> Approval | None:
    """Pause the run with the approval form; None when nobody answered in time.

    On a timeout the run is set running again so that it finishes normally, the hold
    staying pending (Prefect would otherwise fail a run that was never resumed).
    """
    form = Approval.with_initial_data(description=description, approve=False)
    try:
        return pause_flow_run(
            wait_for_input=form,
            timeout=timeout_seconds,
            poll_interval=max(1, min(poll_interval, timeout_seconds or 1)),
        )
    except FlowPauseTimeout:
        ctx = FlowRunContext.get()
        if ctx is not None and ctx.flow_run is not None:
            with get_client(sync_client=True) as client:
                client.set_flow_run_state(ctx.flow_run.id, Running(), force=True)
        return None


def decided_by() -> str:
    """Who decided: the flow run that carried the form (the UI does not tell the user)."""
    return f"prefect flow run {current_flow_run_id()}"


def hold_decision(
    ctx: RunContext,
    *,
    approve: bool | None,
    wait_for_approval: bool,
    form_description: str,
) -> Approval | None:
    """The operator's decision on a hold: given as a parameter (`approve`), or asked with the
    approval form in the UI; None when it stays pending (no form, or nobody answered)."""
    if approve is not None:
        return Approval(approve=approve, comment="given as the run's parameter")
    if not wait_for_approval:
        return None
    return ask_approval(form_description, ctx.settings.approval_timeout_seconds)


def approval_form_text(title: str, reasons: Sequence[str], summary: Mapping[str, Any]) -> str:
    """The markdown shown above the approval form: why it is held and the change set's summary."""
    counts = {k: v for k, v in summary.items() if isinstance(v, int | float | str)}
    lines = [f"## {title}", "", "**Held because:**", ""]
    lines += [f"- {r}" for r in reasons]
    lines += ["", "**Change set summary:**", "", markdown_table([counts] if counts else [])]
    nested = {k: v for k, v in summary.items() if isinstance(v, Mapping)}
    for name, values in nested.items():
        lines += [f"**{name}**", "", markdown_table([dict(values)])]
    lines += ["", "Tick **approve** to apply it, leave it unticked to reject it."]
    return "\n".join(lines)
