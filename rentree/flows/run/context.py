"""The run context: one run of one flow, its workspace and its record in `runs`.

The flows stay thin: they open a run context, call the plain functions of `rentree.tasks`,
and publish what happened (the `runs` row, the artifacts, the reports' links).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from prefect import get_client, get_run_logger
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError

from rentree.infra import naming
from rentree.infra.db import write_when_free
from rentree.infra.errors import RunFailed, SafeError, safe_sentence
from rentree.infra.runs import finish_run, json_safe, start_run
from rentree.infra.settings import Settings, load_settings
from rentree.infra.storage import ObjectStore
from rentree.infra.workspace import Workspace, open_workspace
from rentree.tasks.rules.options import check_flow_options
from rentree.tasks.rules.years import current_years

TAG = "rentree"


def compose_run_name(phase: str, params: Mapping[str, Any]) -> str:
    """Phase, school year, date (the schools, and 'dry-run' when it is one)."""
    year = params.get("year")
    parts = [phase, *([str(year)] if year else []), f"{date.today():%Y-%m-%d}"]
    schools = params.get("schools")
    if schools:
        parts.append("schools " + ",".join(schools))
    if params.get("dry_run"):
        parts.append("dry-run")
    return " ".join(parts)


def run_name(phase: str) -> Callable[[], str]:
    """A flow_run_name callable (the year is added by `open_run` when the run resolves it)."""

    def name() -> str:
        from prefect.runtime import flow_run

        return compose_run_name(phase, flow_run.parameters or {})

    return name


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
    # import flows: try again the deliveries set aside after a failed apply (operator's ask)
    retry_failed: bool = False
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
        dry = {"dry_run": True} if self.dry_run else {}
        return json_safe({**self.summary, **dry, "status": self.status, "run_id": self.run_id})

    def artifact_key(self, what: str) -> str:
        # Artifact keys: lower-case letters, digits and dashes only.
        return f"{self.flow}-{what}".lower().replace("_", "-")


def run_logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The flow run's logger (its lines reach the Prefect UI), or rentree's outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("rentree")


def run_parameters() -> dict[str, Any]:
    """The parameters the current flow run was started with ({} outside a run)."""
    ctx = FlowRunContext.get()
    return dict(ctx.parameters or {}) if ctx is not None else {}


def current_flow_run_id() -> str:
    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        return str(ctx.flow_run.id)
    return str(uuid4())


def add_run_tags(tags: Sequence[str]) -> None:
    """Add tags to the current flow run (nothing outside a run)."""
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    wanted = list(dict.fromkeys([*(ctx.flow_run.tags or []), *tags]))
    ctx.flow_run.tags = wanted
    with get_client(sync_client=True) as client:
        client.update_flow_run(ctx.flow_run.id, tags=wanted)


def _label_run(flow: str, year: str | None) -> None:
    """Tag the run (rentree, its flow, its year) and, when the year was resolved by the run
    (not given), put it in the run's name: the runs list always says which year."""
    add_run_tags([TAG, flow] + ([year] if year else []))
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None or not year or year in (ctx.flow_run.name or ""):
        return
    name = compose_run_name(flow, {**(ctx.parameters or {}), "year": year})
    with get_client(sync_client=True) as client:
        client.update_flow_run(ctx.flow_run.id, name=name)


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
    # A database without the schema, or a missing storage root, stops the run in one
    # sentence: only `rentree init` creates a directory.
    ws = open_workspace(settings or load_settings())
    try:
        with ws.engine.connect() as conn:
            # before anything is recorded or changed (raises OptionError, one sentence)
            check_flow_options(conn, ws.store, flow, run_parameters())
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
        _label_run(flow, year)
        # on SQLite another run may be writing: wait for it, so that this run is recorded
        write_when_free(
            ws.engine,
            lambda conn: start_run(
                conn,
                run_id=ctx.run_id,
                flow=flow,
                school_year=year,
                started_at=ctx.started_at,
                dry_run=dry_run,
            ),
        )
        try:
            yield ctx
        except Exception as exc:
            # The run's record, its log, Prefect's state, events and persisted result get
            # one sentence: never the text of a library's error (it may quote the data).
            sentence = safe_sentence(exc)
            _finish(ctx, "failed", {**ctx.summary, "error": sentence})
            run_logger().error(
                "The run stopped: %s\nWhere (the error's text left out):\n%s",
                sentence,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            if isinstance(exc, SafeError):
                raise
            raise RunFailed(sentence) from None
        except BaseException:
            # stopped from outside (a signal, a cancellation): not an error of the run
            _finish(ctx, "interrupted", ctx.summary)
            raise
        _finish(ctx, ctx.status, ctx.summary)
    finally:
        ws.engine.dispose()


def _finish(ctx: RunContext, status: str, summary: dict[str, Any]) -> None:
    write_when_free(
        ctx.workspace.engine, lambda conn: finish_run(conn, ctx.run_id, status, summary)
    )


def new_year_of(ws: Workspace) -> str | None:
    """The year being imported: the closing year's successor, or the latest year held."""
    with ws.engine.connect() as conn:
        return current_years(conn)[1]


def closing_year_of(ws: Workspace) -> str | None:
    """The closing year: the latest frozen one."""
    with ws.engine.connect() as conn:
        return current_years(conn)[0]
