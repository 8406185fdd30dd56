"""Commands that run the phase flows: `rentree run`, `rentree demo`, `rentree serve`."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rentree.cli.common import EXIT_DONE, EXIT_REJECTED, console, fail, guarded, workspace
from rentree.flows.registry import FLOWS

if TYPE_CHECKING:
    from rich.progress import Progress


# The flows' names come from the registry (listed there once).
FlowName = StrEnum("FlowName", {name.replace("-", "_"): name for name in FLOWS})  # type: ignore[misc]


class Scale(StrEnum):
    tiny = "tiny"
    small = "small"
    region = "region"


def quiet_prefect(verbose: bool = False) -> None:
    """Keep Prefect's own logs to warnings on a terminal: the summary says what happened."""
    level = logging.INFO if verbose else logging.WARNING
    for name in ("prefect", "httpx"):
        logging.getLogger(name).setLevel(level)
    # A run's own errors reach the terminal as one sentence (the UI keeps the full log).
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.CRITICAL)


@contextmanager
def embedded_prefect() -> Iterator[None]:
    """A busy machine starts Prefect's embedded server slower than its 20 s default allows."""
    from prefect.settings import PREFECT_SERVER_ANALYTICS_ENABLED as ANALYTICS
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as TIMEOUT
    from prefect.settings import temporary_settings

    updates: dict[Any, Any] = {ANALYTICS: False}
    if "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" not in os.environ:
        updates[TIMEOUT] = 180
    with temporary_settings(updates=updates):
        yield


@contextmanager
def progress_bars() -> Iterator[Progress]:
    """Rich progress bars fed by the flows' progress steps (the same as their artifacts)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    from rentree.flows.run.artifacts import progress_listener

    progress = Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    bars: dict[str, Any] = {}

    def listen(description: str, done: int, total: int) -> None:
        if description not in bars:
            bars[description] = progress.add_task(description, total=total)
        progress.update(bars[description], completed=done, total=total)

    token = progress_listener.set(listen)
    try:
        with progress:
            yield progress
    finally:
        progress_listener.reset(token)


def flow_parameters(
    flow: FlowName,
    *,
    year: str | None,
    dry_run: bool,
    schools: list[str],
    hold_id: str | None,
    approve: bool | None,
    undo: str | None,
    confirm: bool,
    keep_for_members: bool,
    requests: Path | None,
    today: datetime | None = None,
    retry_failed: bool = False,
) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The flow function and its parameters for one `rentree run` command line: each option
    goes to the flow parameter of its name, when the flow's signature has it."""
    from rentree.flows import registry

    function = registry.flow_by_name(flow.value)
    options: dict[str, Callable[[], Any]] = {
        "year": lambda: year,
        "dry_run": lambda: dry_run,
        "schools": lambda: schools or None,
        "school": lambda: schools[0] if schools else None,
        "hold_id": lambda: hold_id,
        "approve": lambda: approve,
        # a terminal does not wait for the approval form: a hold stays pending, said so
        "wait_for_approval": lambda: False,
        "undo_run_id": lambda: undo,
        "keep_for_members": lambda: keep_for_members,
        "confirm": lambda: confirm,
        "today": lambda: today.date() if today else None,
        "requests_key": lambda: stored_requests(requests, year, flow.value),
        "retry_failed": lambda: retry_failed,
    }
    wanted = registry.parameters_of(function)
    return function, {name: given() for name, given in options.items() if name in wanted}


def stored_requests(requests: Path | None, year: str | None, flow: str) -> str | None:
    """A request list goes to the flow by storage key, never inline: a region's list is far
    above Prefect's 512 KB parameter limit."""
    if requests is None:
        return None
    from rentree.tasks.rules.attachment_requests import RequestFileError, store_requests

    with workspace() as ws:
        try:
            limit = ws.settings.attach_requests_max_rows
            return store_requests(ws.store, requests.read_bytes(), str(requests), year, flow, limit)
        except (OSError, RequestFileError) as exc:
            fail(str(exc) if isinstance(exc, RequestFileError) else f"{requests}: {exc}.")


def print_outcome(name: str, outcome: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table("what", "value", title=f"{name}: {outcome.get('status', 'done')}")
    for key, value in outcome.items():
        if key in {"reports"}:
            continue
        table.add_row(key, str(value))
    console.print(table)
    folders: dict[str, int] = {}
    for key in outcome.get("reports", []) or []:
        folder = key.rsplit("/", 1)[0] + "/"
        folders[folder] = folders.get(folder, 0) + 1
    for folder, files in folders.items():
        console.print(f"reports ({files} files): {folder}", highlight=False, soft_wrap=True)


def run(
    flow: FlowName = typer.Argument(..., help="The phase flow to run now."),
    year: str | None = typer.Option(None, "--year", help="School year, e.g. 2024-2025."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Do everything but commit."),
    school: list[str] = typer.Option(
        [], "--school", help="UAI (family-import: only these schools; attach-teachers: team)."
    ),
    hold_id: str | None = typer.Option(None, "--hold-id", help="Decide on this pending hold."),
    approve: bool | None = typer.Option(
        None, "--approve/--reject", help="With --hold-id: apply or reject the held change set."
    ),
    undo: str | None = typer.Option(
        None, "--undo", help="share-purge, retire-missing: undo what this run changed."
    ),
    today: datetime | None = typer.Option(
        None,
        "--today",
        formats=["%Y-%m-%d"],
        help="retire-missing: count the grace periods from this day (a later day previews).",
    ),
    confirm: bool = typer.Option(False, "--confirm", help="onde-switch: operator confirms."),
    keep_for_members: bool = typer.Option(
        False, "--keep-for-members", help="share-purge: re-share read-only to current members."
    ),
    requests: Path | None = typer.Option(
        None, "--requests", help="attach-teachers: CSV teacher_external_id,class_external_id."
    ),
    retry_failed: bool = typer.Option(
        False,
        "--retry-failed",
        help="imports, nightly: try again the deliveries set aside after a failed apply.",
    ),
    verbose: bool = typer.Option(False, "--verbose", help="Show Prefect's logs."),
) -> None:
    """Run one phase flow now (on the Prefect server in PREFECT_API_URL, or an embedded one)."""
    from rentree.infra.settings import load_settings

    guarded(load_settings)
    if hold_id is not None and approve is None:
        fail("--hold-id needs --approve or --reject: say what to do with the hold.")
    function, params = flow_parameters(
        flow,
        year=year,
        dry_run=dry_run,
        schools=school,
        hold_id=hold_id,
        approve=approve,
        undo=undo,
        confirm=confirm,
        keep_for_members=keep_for_members,
        requests=requests,
        today=today,
        retry_failed=retry_failed,
    )
    quiet_prefect(verbose)
    with embedded_prefect(), progress_bars():
        state = function(**params, return_state=True)
    if not state.is_completed():
        error = state.result(raise_on_failure=False)
        sentence = str(error) if isinstance(error, Exception) and str(error) else state.message
        fail(f"the {flow.value} run stopped: {sentence}")
    outcome = state.result()
    print_outcome(flow.value, outcome)
    status = outcome.get("status", "completed")
    raise typer.Exit(EXIT_DONE if status == "completed" else EXIT_REJECTED)


def demo(
    scale: Scale = typer.Option(Scale.small, "--scale", help="Size of the generated region."),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Where the demo workspace goes (default ./var/demo-<scale>)."
    ),
    verbose: bool = typer.Option(False, "--verbose", help="Show Prefect's logs."),
) -> None:
    """The whole rollover on a generated region, through the flows, in a fresh workspace."""
    from rentree.flows.demo import run_demo
    from rentree.infra.settings import ConfigurationError

    folder = workdir or Path("var") / f"demo-{scale.value}"
    quiet_prefect(verbose)
    try:
        with embedded_prefect(), progress_bars():
            summary = run_demo(folder, scale.value)
    except ConfigurationError as exc:
        fail(str(exc))
    console.print(summary.table())
    for label, where in summary.locations:
        console.print(f"{label}: {where}", highlight=False)


def serve() -> None:
    """Register the deployments (schedules, switch trigger) and serve them."""
    if not os.environ.get("PREFECT_API_URL"):
        from prefect.settings import PREFECT_API_URL

        if not PREFECT_API_URL.value():
            fail(
                "PREFECT_API_URL is not set; start a Prefect server (`make serve` does it) "
                "and point PREFECT_API_URL at it, e.g. http://127.0.0.1:4200/api."
            )
    from prefect import serve as prefect_serve

    from rentree.infra.settings import load_settings

    settings = guarded(load_settings)
    from rentree.flows.deployments import build_deployments
    from rentree.flows.run.guard import ensure_directory_limit
    from rentree.infra.workspace import open_workspace

    ws = guarded(lambda: open_workspace(settings))
    ws.store.ensure_layout()
    ws.engine.dispose()
    ensure_directory_limit()
    prefect_serve(*build_deployments(settings))


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(demo)
    app.command()(serve)
