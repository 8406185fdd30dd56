"""`make bench`: measure rentree at region scale and print the figures.

Generates the region once into ./var/bench/region (kept between runs, seed fixed), then runs
each part's `scripts/bench_<part>.py` module (`run(workdir) -> [(label, figure)]`) in the
order of the timeline. `BENCH_PARTS=feeds,sync` runs only some parts; `BENCH_SCALE=small`
measures a smaller region.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

PARTS = ("feeds", "sync", "inventory", "purge")
HERE = Path(__file__).resolve().parent


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
        ],
        check=True,
    )
    return time.perf_counter() - started


def load_part(name: str) -> object | None:
    """Import `bench_<name>` as a real module, so process pools can pickle its functions."""
    if not (HERE / f"bench_{name}.py").exists():
        return None
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(f"bench_{name}")


def main() -> None:
    console = Console()
    scale = os.environ.get("BENCH_SCALE", "region")
    workdir = Path("var/bench") / scale
    workdir.mkdir(parents=True, exist_ok=True)
    wanted = [p for p in os.environ.get("BENCH_PARTS", ",".join(PARTS)).split(",") if p]
    table = Table("part", "measure", "figure", title=f"rentree bench ({scale} scale)")
    generated = ensure_region(workdir, scale)
    if generated is not None:
        table.add_row("generate", f"rentree generate --scale {scale}", f"{generated:.1f} s")
    for name in wanted:
        module = load_part(name)
        if module is None:
            table.add_row(name, "not measured", f"scripts/bench_{name}.py is absent")
            continue
        console.print(f"[bold]measuring {name}...[/]")
        for label, figure in module.run(workdir):  # type: ignore[attr-defined]
            table.add_row(name, label, figure)
    console.print(table)


if __name__ == "__main__":
    main()
