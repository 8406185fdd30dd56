"""Commands over the directory as files: `export` and `content import` (storage.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from rentree.cli.common import EXIT_REJECTED, console, fail, workspace

if TYPE_CHECKING:
    from rentree.tasks.content.export import ExportFormat

# Rejected rows shown on the terminal; the report holds them all.
_SHOWN_REJECTS = 20

content_app = typer.Typer(
    name="content",
    help="The content inventory: productions, shares, manual groups, bookmarks, guests.",
    no_args_is_help=True,
)


def export(
    out: Path = typer.Option(..., "--out", help="Folder to write one file per table into."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv (UTF-8, `;`)."),
) -> None:
    """Export the directory: one Parquet (or CSV) file per table of storage.md."""
    from rich.table import Table

    from rentree.infra.db import is_postgresql
    from rentree.tasks.content.export import EXPORT_FORMATS, write_export

    if fmt not in EXPORT_FORMATS:
        fail(f"--format {fmt!r} is not known; use parquet or csv.")
    chosen: ExportFormat = "csv" if fmt == "csv" else "parquet"
    with workspace() as ws, ws.engine.connect() as conn:
        if is_postgresql(conn):
            # One snapshot of the database for every table of the export.
            conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            summary = write_export(conn, out, chosen)
        except OSError as exc:
            fail(
                f"{out} cannot be written ({exc.strerror or exc}); "
                "choose a folder you can write to."
            )
    shown = Table("table", "rows", "file", title=f"Export ({summary.format})")
    for exported in summary.tables:
        shown.add_row(exported.table, f"{exported.rows:,}", exported.file)
    console.print(shown)
    console.print(f"Written to {summary.location}")


@content_app.command("import")
def content_import(
    folder: Path = typer.Argument(..., help="Folder holding users, groups, shares... files."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check and report everything, change nothing."
    ),
) -> None:
    """Import the content inventory; bad rows are rejected with their reason.

    The rest is imported; importing the same inventory again changes nothing.
    """
    from rich.table import Table

    from rentree.infra.db import directory_lock, vacuum_after_bulk_write
    from rentree.tasks.content.inventory.apply import import_content
    from rentree.tasks.content.inventory.read import InventoryError, read_inventory

    try:
        inventory = read_inventory(folder)
    except InventoryError as exc:
        fail(str(exc))
    with workspace() as ws:
        with ws.engine.begin() as conn:
            directory_lock(conn)
            outcome = import_content(conn, ws.store, inventory, dry_run=dry_run)
        vacuum_after_bulk_write(ws.engine, outcome.bulk_written)
    counts = Table(
        "table",
        "rows",
        "imported",
        "updated",
        "unchanged",
        "rejected",
        "purged",
        title="Content import" + (" (dry run: nothing changed)" if dry_run else ""),
    )
    for t in outcome.tables:
        counts.add_row(
            t.table,
            f"{t.rows:,}",
            f"{t.imported:,}",
            f"{t.updated:,}",
            f"{t.unchanged:,}",
            f"[red]{t.rejected:,}[/]" if t.rejected else "0",
            f"{t.purged:,}",
        )
    console.print(counts)
    for name, columns in outcome.ignored_columns.items():
        console.print(f"{name}: column(s) {', '.join(columns)} are not in the directory, ignored.")
    if outcome.rejected:
        rejects = Table("table", "row", "id", "reason", title="Rejected rows")
        for r in outcome.rejects.head(_SHOWN_REJECTS).iter_rows(named=True):
            rejects.add_row(r["table"], str(r["row"]), r["id"], r["reason"])
        console.print(rejects)
        if outcome.rejected > _SHOWN_REJECTS:
            console.print(f"... and {outcome.rejected - _SHOWN_REJECTS:,} more rejected rows.")
    if outcome.purged:
        console.print(
            f"{outcome.purged:,} share(s) of the inventory were removed by a share purge (R5) "
            "and are not brought back; undo that purge to restore them (purged_shares report: "
            f"{ws.store.link(outcome.reports[2].csv_key)})."
        )
    report = outcome.reports[0]
    console.print(f"Run {outcome.run_id}; rejects report: {ws.store.link(report.csv_key)}")
    if outcome.rejected:
        raise typer.Exit(EXIT_REJECTED)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.add_typer(content_app, name="content")
