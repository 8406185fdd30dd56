"""`rentree generate`: a synthetic region to try rentree on (demo, tests, benchmarks)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from rentree.cli.common import console, fail


class ScaleChoice(StrEnum):
    tiny = "tiny"
    small = "small"
    region = "region"


def generate(
    out: Path = typer.Option(..., "--out", help="Folder to write the region into (new or empty)."),
    scale: ScaleChoice = typer.Option(
        ScaleChoice.tiny, "--scale", help="tiny: 5 schools; small: 100; region: 4,800."
    ),
    # No defaults here: the generator's own (seed 20250901, 2024-2025, 50,000 records a
    # file) would cost `rentree --help` the import of numpy and polars.
    seed: int | None = typer.Option(None, "--seed", help="Same seed, same bytes."),
    closing_year: str | None = typer.Option(
        None, "--closing-year", help="The school year that closes (default 2024-2025)."
    ),
    chunk_size: int | None = typer.Option(
        None, "--chunk-size", min=1, help="Most records in one AAF file (default 50,000)."
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Overwrite a region generated in --out before."
    ),
    academies: int = typer.Option(
        1,
        "--academies",
        min=1,
        max=2,
        help="2: two academies (Lille 09, Amiens 20) in landing/<year>/<code>/, whose feed "
        "ids overlap on purpose.",
    ),
) -> None:
    """Write a synthetic region: AAF deliveries of a rollover (landing/<school-year>/), the
    closing year's content inventory (content/*.parquet) and manifest.json."""
    from rich.table import Table

    from rentree.synthetic import OutputNotEmpty, generate_region

    given = {
        "seed": seed,
        "closing_year": closing_year,
        "chunk_size": chunk_size,
        "academies": academies,
    }
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    try:
        generated = generate_region(scale.value, out, replace=replace, **options)
    except (OutputNotEmpty, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write into {out} ({exc.strerror}); choose a folder you can write to.")
    manifest = generated.manifest
    table = Table("school year", "delivery", "what", "records", "files", title="AAF deliveries")
    for d in manifest["deliveries"]:
        records = ", ".join(f"{k} {v:,}" for k, v in d["records"].items())
        table.add_row(d["school_year"], d["delivery"], d["purpose"], records, str(len(d["files"])))
    console.print(table)
    content = ", ".join(f"{k} {v:,}" for k, v in manifest["counts"]["content"].items())
    console.print(f"Content inventory ({manifest['closing_year']}): {content}")
    for academy in manifest.get("academies", []):
        console.print(
            f"Academy {academy['code']} ({academy['name']}): landing/<school-year>/"
            f"{academy['code']}/; set RENTREE_ACADEMIES="
            + ",".join(f"{a['code']}={a['name']}" for a in manifest["academies"])
            + " to import them."
        )
    console.print(
        f"Region {manifest['scale']} (seed {manifest['seed']}) written to {out}; "
        f"facts in {out / 'manifest.json'}."
    )


def register(app: typer.Typer) -> None:
    app.command()(generate)
