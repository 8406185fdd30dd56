"""Commands over feed files: `rentree validate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rentree.cli.common import EXIT_DONE, EXIT_REJECTED, console, fail

if TYPE_CHECKING:
    from rentree.contracts.delivery import KnownIds
    from rentree.tasks.intake.validate import Verdict

# Beyond this many rows the table stops; --json gives every row.
_TABLE_ROWS = 200


def validate(
    paths: list[Path] = typer.Argument(..., help="AAF files, or folders holding them."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
    directory: bool = typer.Option(
        False,
        "--directory",
        help="Also count as known the structures and relatives of the configured directory "
        "(read only).",
    ),
) -> None:
    """Check AAF files against the contracts, one delivery per extraction date; writes nothing.

    Exit 0: valid (warnings allowed); 1: a file or record is rejected; 2: unusable.
    """
    from rentree.infra.settings import ConfigurationError, load_settings
    from rentree.tasks.intake.validate import collect_files, group_files, validate_groups

    try:
        settings = load_settings()
        files = collect_files(paths)
        if not files:
            fail(f"no .xml file under {', '.join(map(str, paths))}; give AAF files or folders.")
        lookup = _directory_lookup(settings) if directory else None
        verdicts = list(validate_groups(group_files(files), settings.invalid_record_ratio, lookup))
    except typer.Exit:
        raise
    except (ConfigurationError, FileNotFoundError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or 'a file'} cannot be read ({exc.strerror}); check its permissions.")
    except Exception as exc:  # the command never shows a traceback (operations.md)
        fail(
            f"validation stopped on an unexpected error ({type(exc).__name__}: {exc}); "
            "report it to the rentree maintainers with the files."
        )
    if as_json:
        typer.echo(json.dumps(_as_json(verdicts), indent=2, ensure_ascii=False))
    else:
        _print(verdicts)
    raise typer.Exit(EXIT_DONE if all(v.valid for v in verdicts) else EXIT_REJECTED)


def _directory_lookup(settings: Any) -> Any:
    from sqlalchemy.exc import SQLAlchemyError

    from rentree.infra.engine import make_engine
    from rentree.infra.migrate import schema_is_current
    from rentree.tasks.intake.stage import known_in_directory

    engine = make_engine(settings.database_url)
    try:
        if not schema_is_current(engine):
            fail("the directory database has no rentree schema; run `rentree init` first.")
    except SQLAlchemyError as exc:
        fail(
            f"the database in RENTREE_DATABASE_URL cannot be opened ({exc.__class__.__name__}); "
            "check the URL and that the server is running, or drop --directory."
        )

    def lookup(asked: KnownIds) -> KnownIds:
        with engine.connect() as conn:
            known = known_in_directory(conn, asked)
            conn.rollback()
        return known

    return lookup


def _title(verdict: Verdict) -> str:
    group = verdict.group
    if group.delivery is None:
        return group.paths[0].name
    if not group.delivery:
        return ", ".join(p.name for p in group.not_used)
    return f"delivery {group.delivery} ({group.school_year})"


def _as_json(verdicts: list[Verdict]) -> dict[str, Any]:
    return {
        "valid": all(v.valid for v in verdicts),
        "deliveries": [
            {
                "school_year": v.group.school_year,
                "delivery": v.group.delivery,
                "accepted": v.assessment.accepted,
                "valid": v.valid,
                "sentence": v.assessment.sentence,
                "files": v.assessment.records,
                "not_used": list(v.assessment.not_used),
                "problems": v.assessment.report.to_dicts(),
            }
            for v in verdicts
        ],
    }


def _print(verdicts: list[Verdict]) -> None:
    from rich.table import Table

    for verdict in verdicts:
        report = verdict.assessment.report
        mark = "[green]valid[/]" if verdict.valid else "[bold red]invalid[/]"
        console.print(f"{_title(verdict)}: {mark}. {verdict.assessment.sentence}", highlight=False)
        if report.is_empty():
            continue
        table = Table("severity", "file", "record", "attribute", "value", "problem", "contact")
        for row in report.head(_TABLE_ROWS).iter_rows(named=True):
            record = row["record_id"] or (
                f"#{row['position']}" if row["position"] is not None else ""
            )
            if row["line"] is not None:
                record = f"{record} (line {row['line']})".strip()
            table.add_row(
                row["severity"],
                row["file"],
                record,
                row["attribute"] or "",
                row["value"] or "",
                row["message_en"],
                row["support_channel"],
            )
        console.print(table)
        if report.height > _TABLE_ROWS:
            console.print(f"... and {report.height - _TABLE_ROWS} more problems (use --json).")


def register(app: typer.Typer) -> None:
    app.command()(validate)
