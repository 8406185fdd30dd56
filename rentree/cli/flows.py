"""Commands that run the phase flows: `rentree run`, `rentree demo`, `rentree serve`."""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import typer

from rentree.cli.common import EXIT_DONE, EXIT_REJECTED, console, fail, guarded
from rentree.cli.outcome import print_outcome
from rentree.cli.prefect_terminal import embedded_prefect, progress_bars, quiet_prefect
from rentree.cli.run_options import FlowName, flow_parameters


class Scale(StrEnum):
    tiny = "tiny"
    small = "small"
    region = "region"


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
    from rentree.cli.run_options import RunCommand

    app.command(cls=RunCommand)(run)
    app.command()(demo)
    app.command()(serve)
