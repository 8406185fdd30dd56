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

    def listen(bar: str, text: str, done: int, total: int) -> None:
        if bar not in bars:
            bars[bar] = progress.add_task(text, total=total)
        progress.update(bars[bar], description=text, completed=done, total=total)

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
    goes to the flow parameter of its name, when the flow's signature has it; an option the
    flow does not take is refused (one sentence) rather than ignored, and the options are
    checked against the directory before anything is stored or run."""
    from rentree.flows import registry

    function = registry.flow_by_name(flow.value)
    wanted = registry.parameters_of(function)
    school_param = "schools" if "schools" in wanted else "school"
    used = {
        "--year": ("year", year is not None),
        "--dry-run": ("dry_run", dry_run),
        "--school": (school_param, bool(schools)),
        "--hold-id": ("hold_id", hold_id is not None),
        "--approve/--reject": ("approve", approve is not None),
        "--undo": ("undo_run_id", undo is not None),
        "--keep-for-members": ("keep_for_members", keep_for_members),
        "--confirm": ("confirm", confirm),
        "--today": ("today", today is not None),
        "--requests": ("requests_key", requests is not None),
        "--retry-failed": ("retry_failed", retry_failed),
    }
    for option, (name, given) in used.items():
        if given and name not in wanted:
            fail(f"{option}: {flow.value} does not take this option; leave it out.")
    if school_param == "school" and len(schools) > 1:
        fail(f"--school: {flow.value} takes one school; give --school once.")
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
        "retry_failed": lambda: retry_failed,
    }
    params = {name: given() for name, given in options.items() if name in wanted}
    check_options(flow, params)
    if "requests_key" in wanted:
        params["requests_key"] = stored_requests(requests, year, flow.value)
    return function, params


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
        except OSError as exc:
            fail(f"--requests {requests}: cannot be read ({exc.strerror}); check the path.")
        except RequestFileError as exc:
            fail(str(exc))


def check_options(flow: FlowName, params: dict[str, Any]) -> None:
    """The run's options against the directory, before any Prefect run starts."""
    from rentree.tasks.rules.options import OptionError, check_flow_options

    with workspace() as ws, ws.engine.connect() as conn:
        try:
            check_flow_options(conn, ws.store, flow.value, params)
        except OptionError as exc:
            fail(str(exc))


# What a run's status means, said to the operator.
STATUS_SENTENCES = {
    "completed": "done",
    "held": "held: nothing of the held delivery applied, an operator decides (exit 1)",
    "rejected": "done, with rejected input (exit 1): see why below",
}
_NOT_SHOWN = {"status", "run_id", "message", "reports"}


def _label(key: str) -> str:
    return key.replace("_", " ")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def print_outcome(name: str, outcome: dict[str, Any], links: Callable[[str], str]) -> None:
    """A run's result as sentences and tables (never a printed dict); report folders as full
    paths or URLs, printed whole on one line so that a copied path works."""
    status = str(outcome.get("status", "completed"))
    console.print(
        f"[bold]{name}[/]: {STATUS_SENTENCES.get(status, status)}. Run {outcome.get('run_id')}.",
        highlight=False,
        soft_wrap=True,
    )
    if outcome.get("message"):
        console.print(str(outcome["message"]), highlight=False, soft_wrap=True)
    from rich.table import Table

    figures = Table("what", "value", title="Figures", title_justify="left")
    for key, value in outcome.items():
        if key in _NOT_SHOWN or value is None:
            continue
        if isinstance(value, dict):
            if value:
                table = Table(*map(_label, value), title=_label(key), title_justify="left")
                table.add_row(*map(_cell, value.values()))
                console.print(table)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            table = Table(*map(_label, value[0]), title=_label(key), title_justify="left")
            for row in value:
                table.add_row(*(_cell(row.get(c, "")) for c in value[0]))
            console.print(table)
        elif isinstance(value, list):
            if value:
                console.print(
                    f"{_label(key)}: {', '.join(map(str, value))}", highlight=False, soft_wrap=True
                )
        else:
            figures.add_row(_label(key), _cell(value))
    if figures.row_count:
        console.print(figures)
    folders: dict[str, int] = {}
    for key in outcome.get("reports", []) or []:
        folder = key.rsplit("/", 1)[0] + "/"
        folders[folder] = folders.get(folder, 0) + 1
    for folder, files in folders.items():
        console.print(f"Reports ({files} files): {links(folder)}", highlight=False, soft_wrap=True)


def run(
    flow: FlowName = typer.Argument(..., help="The phase flow to run now."),
    year: str | None = typer.Option(
        None,
        "--year",
        help="School year, written YYYY-YYYY (e.g. 2025-2026); default: the year the flow works "
        "on (the year being imported; share-purge: the latest frozen year).",
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Do everything but commit: the exact change set is written as report files.",
    ),
    school: list[str] = typer.Option(
        [],
        "--school",
        help="A school's UAI (seven digits and a letter), repeatable: family-import only these "
        "schools; attach-teachers the school's whole team. Default: every school.",
    ),
    hold_id: str | None = typer.Option(
        None,
        "--hold-id",
        help="The id of a pending hold to decide on (`rentree status` lists them).",
    ),
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
    if approve is not None and hold_id is None:
        fail("--approve/--reject needs --hold-id: `rentree status` lists the pending holds.")
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
    from rentree.infra.storage import open_store

    print_outcome(flow.value, outcome, guarded(lambda: open_store(load_settings())).link)
    status = outcome.get("status", "completed")
    raise typer.Exit(EXIT_DONE if status == "completed" else EXIT_REJECTED)


def demo(
    scale: Scale = typer.Option(Scale.small, "--scale", help="Size of the generated region."),
    workdir: Path | None = typer.Option(
        None, "--workdir", help="Where the demo workspace goes (default ./var/demo-<scale>)."
    ),
    verbose: bool = typer.Option(False, "--verbose", help="Show Prefect's logs."),
    academies: int = typer.Option(
        1,
        "--academies",
        min=1,
        max=2,
        help="2: a region of two academies (Lille, Amiens) whose feed ids overlap on purpose.",
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        help="The directory in this database (e.g. postgresql+psycopg://...) instead of a "
        "SQLite file in the workspace; it must hold no rentree directory yet.",
    ),
) -> None:
    """The whole rollover on a generated region, through the flows, in a fresh workspace."""
    from rentree.flows.demo import DemoFolderError, prepare_demo_folder, run_demo
    from rentree.infra.settings import ConfigurationError

    suffix = f"-{academies}-academies" if academies > 1 else ""
    folder = workdir or Path("var") / f"demo-{scale.value}{suffix}"
    try:
        # refused before anything starts (no Prefect server, no generation)
        prepare_demo_folder(folder)
    except DemoFolderError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"--workdir {folder} cannot be prepared ({exc.strerror}); choose another folder.")
    quiet_prefect(verbose)
    try:
        with embedded_prefect(), progress_bars():
            summary = run_demo(folder, scale.value, academies, database_url)
    except (ConfigurationError, DemoFolderError) as exc:
        fail(str(exc))
    console.print(summary.table())
    for label, where in summary.locations:
        console.print(f"{label}: {where}", highlight=False)


def serve() -> None:
    """Register the deployments (schedules, switch trigger) and serve them; with a local
    storage folder, also serve its reports read-only on 127.0.0.1 (RENTREE_REPORT_SERVER_PORT,
    default 4300) so that the runs' report links open in a browser."""
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

    # the directory must exist already: serving never creates one (`rentree init` does)
    guarded(lambda: open_workspace(settings)).engine.dispose()
    if not settings.is_s3 and not settings.report_server_url:
        from rentree.infra.report_server import start_report_server

        _, url = guarded(
            lambda: start_report_server(
                settings.local_storage_root().resolve(), settings.report_server_port
            )
        )
        # the served runs (subprocesses of this one) link their reports there
        os.environ["RENTREE_REPORT_SERVER_URL"] = url
        settings = guarded(load_settings)
        console.print(f"Reports served read-only on {url}/reports/", highlight=False)
    ensure_directory_limit()
    prefect_serve(*build_deployments(settings))


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(demo)
    app.command()(serve)
