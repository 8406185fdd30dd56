"""What a run shows an operator in the Prefect UI: its summary, tables, report links and
progress (echoed to a listening terminal)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, cast
from urllib.parse import quote
from uuid import UUID

import polars as pl
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext

from rentree.flows.run.context import RunContext
from rentree.infra.reports import describe_report
from rentree.infra.runs import json_safe
from rentree.tasks.imports.steps import STEP_COUNT, STEP_POSITION, Step

LINKED_SUFFIXES = (".csv", ".json", ".png", ".md", ".txt")

# A terminal (the CLI) may listen to the same progress steps as the progress artifacts.
# (which bar, its text, steps done, steps in all)
ProgressListener = Callable[[str, str, int, int], None]
progress_listener: ContextVar[ProgressListener | None] = ContextVar(
    "rentree_progress_listener", default=None
)


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


def report_url(ctx: RunContext, key: str) -> str:
    """Where a browser opens a report: a presigned URL (S3), the report server (a local
    folder served by `rentree serve`), or, with neither, the file's path."""
    url = ctx.store.browser_link(key, ctx.settings.report_link_expiry_seconds)
    if url is not None:
        return url
    if ctx.settings.report_server_url:
        return f"{ctx.settings.report_server_url.rstrip('/')}/{quote(key)}"
    return "file://" + ctx.store.link(key)


def publish_links(ctx: RunContext, keys: Sequence[str]) -> None:
    """One link artifact per report file: the file's name as the link, what it holds as the
    card's description, and a URL a browser opens (`report_url`).

    A Parquet twin of a CSV report, and the per-kind Parquet parts of a change set (its
    summary.json is linked), are left out so that the run's page stays readable.
    """
    for key in keys:
        if not key.endswith(LINKED_SUFFIXES):
            continue
        create_link_artifact(
            link=report_url(ctx, key),
            link_text=key.rsplit("/", 1)[-1],
            description=f"{describe_report(key)} ({key})",
        )
    ctx.report_keys.extend(keys)


class Progress:
    """A progress artifact updated per step (file, chunk, delivery), echoed to the CLI; the
    step under way is named (`names`, one per step, or `advance(next_step=...)`) so that a
    long run never shows a bare "1/15"."""

    def __init__(
        self,
        description: str,
        total: int,
        step: str = "",
        names: Sequence[str] = (),
        done: int = 0,
    ) -> None:
        self.description = description
        self.total = max(total, 1)
        self.done = min(done, self.total)
        self.names = tuple(names)
        self.step = step or (self.names[0] if self.names else "")
        self._artifact_id: UUID | None = None
        if FlowRunContext.get() is not None:
            self._artifact_id = cast(
                UUID,
                create_progress_artifact(
                    progress=100.0 * self.done / self.total, description=self.label
                ),
            )
        self._echo()

    @property
    def label(self) -> str:
        return f"{self.description}: {self.step}" if self.step else self.description

    def advance(self, steps: int = 1, next_step: str | None = None) -> None:
        self.done = min(self.done + steps, self.total)
        if next_step is None and self.names:
            next_step = self.names[self.done] if self.done < len(self.names) else "done"
        if next_step is not None:
            self.step = next_step
        if self._artifact_id is not None:
            update_progress_artifact(
                artifact_id=self._artifact_id,
                progress=100.0 * self.done / self.total,
                description=self.label,
            )
        self._echo()

    def _echo(self) -> None:
        listener = progress_listener.get()
        if listener is not None:
            listener(str(id(self)), self.label, self.done, self.total)


class DeliveryProgress:
    """A `tasks.imports.steps.StepListener`: one progress bar per delivery of a run (e.g.
    "Staff import 20250822: applying the changes"), its step named as it starts."""

    def __init__(self, title: str) -> None:
        self.title = title
        self._bars: dict[str, Progress] = {}

    def __call__(self, delivery: str, step: Step) -> None:
        position = STEP_POSITION[step]
        bar = self._bars.get(delivery)
        if bar is None:
            label = f"{self.title} {delivery}"
            self._bars[delivery] = Progress(label, STEP_COUNT, step, done=position)
        else:
            bar.advance(position - bar.done, next_step=step)
