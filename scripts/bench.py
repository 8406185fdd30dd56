"""`make bench`: measure rentree and print each figure beside its floor.

Generates the region once into ./var/bench/<scale>/region (kept between runs, seed fixed),
then runs each part's `scripts/bench_<part>.py` module (`run(workdir) -> [Figure | (label,
text)]`) in the order of the timeline. `BENCH_SCALE=tiny|small|region` (default small: a few
minutes; region for the real figures), `BENCH_PARTS=feeds,sync` runs only some parts,
`BENCH_JSON=FILE` (or `--json FILE`) writes the figures for machines: one key per figure
with seconds, floor seconds, ratio and peak MB.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_figures import Figure, markdown_table, slug  # noqa: E402

PARTS = ("feeds", "sync", "flows", "inventory", "purge", "retire")


def ensure_region(workdir: Path, scale: str) -> float | None:
    """Generate the region once; returns the generation time when it ran."""
    region = workdir / "region"
    if (region / "manifest.json").exists():
        return None
    started = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "rentree"),
            "generate",
            "--scale",
            scale,
            "--out",
            str(region),
            "--replace",
        ],
        check=True,
    )
    return time.perf_counter() - started


def load_part(name: str) -> object | None:
    """Import `bench_<name>` as a real module, so process pools can pickle its functions."""
    if not (HERE / f"bench_{name}.py").exists():
        return None
    return importlib.import_module(f"bench_{name}")


def as_figure(part: str, item: Figure | tuple[str, str]) -> Figure:
    if isinstance(item, Figure):
        return item
    label, text = item
    return Figure(key=f"{part}.{slug(label)}", label=label, note=text)


def machine() -> dict[str, Any]:
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=os.environ.get("BENCH_JSON") or None)
    parser.add_argument(
        "--markdown", help="also write the figures as the README's Markdown table to this file"
    )
    args = parser.parse_args()
    # a log file gets the full table width, not a terminal's 80 columns
    console = Console(width=None if sys.stdout.isatty() else 200)
    scale = os.environ.get("BENCH_SCALE", "small")
    workdir = Path(os.environ.get("BENCH_WORKDIR", "var/bench")) / scale
    workdir.mkdir(parents=True, exist_ok=True)
    wanted = [p for p in os.environ.get("BENCH_PARTS", ",".join(PARTS)).split(",") if p]
    figures: list[Figure] = []
    generated = ensure_region(workdir, scale)
    if generated is not None:
        figures.append(Figure("generate", f"rentree generate --scale {scale}", seconds=generated))
    for name in wanted:
        module = load_part(name)
        if module is None:
            figures.append(Figure(f"{name}.absent", name, note="scripts/bench_{name}.py absent"))
            continue
        console.print(f"[bold]measuring {name}...[/]")
        try:
            measured = module.run(workdir)  # type: ignore[attr-defined]
        except Exception as exc:  # one part failing leaves the others' figures standing
            console.print_exception()
            measured = [(f"{name} failed", f"{type(exc).__name__}: {exc}")]
        figures += [as_figure(name, f) for f in measured]
    table = Table(
        "measure", "time", "floor (same run)", "ratio", "peak MB", title=f"rentree bench ({scale})"
    )
    for figure in figures:
        table.add_row(*figure.cells())
    console.print(table)
    about = machine()
    console.print(
        f"{about['when']}, {about['cpus']} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in about['load_average'])}, Python {about['python']}"
    )
    document = {"scale": scale, "machine": about, "figures": {}}
    for figure in figures:
        document["figures"][figure.key] = figure.as_json()
    if args.json:
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n")
        console.print(f"figures written to {args.json}")
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(document))
        console.print(f"table written to {args.markdown}")


if __name__ == "__main__":
    main()
