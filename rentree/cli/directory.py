"""Commands over the directory itself: init, status."""

from __future__ import annotations

import json

import typer

from rentree.cli.common import console, workspace


def init() -> None:
    """Create or upgrade the database schema and the storage layout (safe to repeat)."""
    with workspace() as ws:
        ws.store.ensure_layout()
        console.print(f"Database ready: {ws.engine.url.render_as_string(hide_password=True)}")
        console.print(f"Storage ready: {ws.store.url}")


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON for machines.")) -> None:
    """Per school year: phase, counts, holds, late entries, pending attachments, last runs."""
    from rich.table import Table

    from rentree.tasks.content.status import directory_status

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
                f"[yellow]hold {hold['hold_id']}[/] ({y['school_year']}, {hold['kind']}): "
                f"{hold['reason']}",
                highlight=False,
            )
        if y["late_entries"]:
            waiting = ", ".join(f"{e['uai']} {e['level']}" for e in y["late_entries"])
            console.print(f"Late entries {y['school_year']}: {waiting}", highlight=False)
    last = Table("run", "flow", "year", "status", "started", title="Last runs of each flow")
    for r in report["last_runs"]:
        last.add_row(r["run_id"], r["flow"], r["school_year"] or "", r["status"], r["started_at"])
    console.print(last)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(status)
