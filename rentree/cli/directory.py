"""Commands over the directory itself: init, status."""

from __future__ import annotations

import json

import typer

from rentree.cli.common import console, workspace

# Schools listed in the stage table on a terminal (the JSON has them all).
SCHOOLS_SHOWN = 20


def init() -> None:
    """Create or upgrade the database schema and the storage layout (safe to repeat)."""
    with workspace(create=True) as ws:
        console.print(f"Database ready: {ws.engine.url.render_as_string(hide_password=True)}")
        console.print(f"Storage ready: {ws.store.url}")


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """Per school year: phase, counts, holds, late entries, pending attachments, last runs."""
    from rich.table import Table

    from rentree.tasks.content.status import directory_status
    from rentree.tasks.rules.retirement.stages import STAGE_COLUMNS

    with workspace() as ws, ws.engine.connect() as conn:
        report = directory_status(conn)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console.print(f"Structures: {report['structures']}")
    people = Table("profile", "present", "missing", title="People")
    for profile, counts in sorted(report["users"].items()):
        people.add_row(profile, str(counts["present"]), str(counts["missing"]))
    console.print(people)
    retirement = report["retirement"]
    stages = Table("school", *STAGE_COLUMNS, title="Missing people in each stage (R11)")
    stages.add_row("region", *(str(retirement["totals"][c]) for c in STAGE_COLUMNS))
    for row in retirement["per_school"][:SCHOOLS_SHOWN]:
        stages.add_row(row["structure_uai"] or "-", *(str(row[c]) for c in STAGE_COLUMNS))
    console.print(stages)
    if len(retirement["per_school"]) > SCHOOLS_SHOWN:
        console.print(
            f"{len(retirement['per_school']) - SCHOOLS_SHOWN} more schools: `rentree status "
            "--json` lists them all."
        )
    years = Table(
        "school year",
        "phase",
        "classes",
        "holds",
        "late entries",
        "pending attach.",
        title="School years",
    )
    for y in report["school_years"]:
        years.add_row(
            y["school_year"],
            y["phase"],
            str(y["classes"]),
            str(len(y["holds_pending"])),
            str(len(y["late_entries"])),
            str(y["pending_attachments"]),
        )
    console.print(years)
    for y in report["school_years"]:
        for hold in y["holds_pending"]:
            console.print(
                f"[yellow]hold {hold['hold_id']}[/] ({_where(y['school_year'], hold)}, "
                f"{hold['kind']}): "
                f"{hold['reason']}",
                highlight=False,
            )
        for failed in y.get("failed_deliveries", []):
            console.print(
                f"[red]delivery {failed['delivery']}[/] ({_where(y['school_year'], failed)}) "
                "set aside: "
                f"{failed['reason']} (run the import with --retry-failed once fixed)",
                highlight=False,
            )
        if y["late_entries"]:
            waiting = ", ".join(f"{e['uai']} {e['level']}" for e in y["late_entries"])
            console.print(f"Late entries {y['school_year']}: {waiting}", highlight=False)
    last = Table("run", "flow", "year", "what", "status", "started", title="Last runs of each flow")
    for r in report["last_runs"]:
        # a dry run committed nothing and an undo put things back: never shown as plain runs
        kind = r["kind"] if r["kind"] != "run" else ""
        last.add_row(
            r["run_id"], r["flow"], r["school_year"] or "", kind, r["status"], r["started_at"]
        )
    console.print(last)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(status)


def _where(school_year: str, item: dict) -> str:
    """The school year, and the academy in a region of several."""
    academy = item.get("academy")
    return f"{school_year}, academy {academy}" if academy else school_year
