"""Feeds at region scale: parse + validate the Eleve and PersRelEleve files of one delivery.

Figures: records per second for rentree (hardened reader, Pandera contracts and delivery
checks) and for lxml alone (plain iterparse with clearing) over the same files in the same
run, their ratio, the peak memory of checking one chunk in a fresh process, and the peak
resident memory of this process.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench_figures import Figure, peak_mb, timed
from bench_floors import parse_floor

from rentree.infra.naming import FeedName, FeedNameError, parse_feed_name
from rentree.tasks.intake.validate import (
    CheckContext,
    assess_delivery,
    check_file,
    known_from_files,
    school_year_for,
)

MEASURED = ("Eleve", "PersRelEleve")


def _feeds(region: Path) -> list[tuple[Path, FeedName]]:
    found = []
    for path in sorted(region.rglob("*.xml")):
        try:
            found.append((path, parse_feed_name(path.name)))
        except FeedNameError:
            continue
    return found


def _largest_delivery(region: Path) -> tuple[str, list[tuple[Path, FeedName]]] | None:
    """The delivery (school year, date) whose Eleve and PersRelEleve files weigh most."""
    deliveries: dict[tuple[str, str], list[tuple[Path, FeedName]]] = {}
    for path, feed in _feeds(region):
        year = school_year_for(feed, path.parent.name)
        deliveries.setdefault((year, feed.delivery), []).append((path, feed))

    def weight(files: list[tuple[Path, FeedName]]) -> int:
        return sum(p.stat().st_size for p, f in files if f.file_type in MEASURED)

    if not deliveries:
        return None
    (year, _), files = max(deliveries.items(), key=lambda item: weight(item[1]))
    return (year, files) if weight(files) else None


def _chunk_peak(path: str, year: str) -> tuple[int, float]:
    """Runs in a fresh process: records of one chunk and the process's peak RSS in MB."""
    check = check_file(path, Path(path).name, CheckContext(year))
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork and exec, so a child would
    # report its parent's peak.
    status = Path("/proc/self/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return check.records, peak_kb / 1024


def run(workdir: Path) -> list[Figure | tuple[str, str]]:
    region = workdir / "region"
    chosen = _largest_delivery(region) if region.exists() else None
    if chosen is None:
        return [("feeds", f"no Eleve or PersRelEleve file under {region}: nothing measured")]
    year, files = chosen
    measured = [(p, f) for p, f in files if f.file_type in MEASURED]
    structures = [(p, f) for p, f in files if f.file_type == "EtabEducNat"]
    size_mb = sum(p.stat().st_size for p, _ in measured) / 1e6

    # the floor: lxml iterparse counting the same records, in the same run
    floor, lxml_records = parse_floor([p for p, _ in measured])
    context = CheckContext(year)
    with timed() as took:
        checks = [check_file(p, f.name, context) for p, f in structures + measured]
        assessment = assess_delivery(checks, known_from_files(checks), 0.05)
    records = sum(c.records for c in checks if c.file_type in MEASURED)
    invalid = assessment.report.filter(assessment.report["severity"] != "warning").height

    biggest = max(measured, key=lambda item: item[0].stat().st_size)[0]
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        chunk_records, chunk_peak = pool.submit(_chunk_peak, str(biggest), year).result()

    counts = {t: sum(c.records for c in checks if c.file_type == t) for t in MEASURED}
    what = ", ".join(f"{counts[t]:,} {t}" for t in MEASURED)
    return [
        Figure(
            "feeds.parse_validate",
            f"parse + validate {len(measured)} files ({size_mb:,.0f} MB: {what})",
            seconds=took.seconds,
            cpu_seconds=took.cpu_seconds,
            floor_seconds=floor.seconds,
            floor_cpu_seconds=floor.cpu_seconds,
            floor_label=f"lxml iterparse, {lxml_records:,} records",
            peak_mb=peak_mb(),
            note=f"{records / took.seconds:,.0f} records/s, {invalid} errors",
        ),
        Figure(
            "feeds.one_chunk_peak",
            f"check one chunk in a fresh process ({chunk_records:,} records, {biggest.name})",
            peak_mb=chunk_peak,
        ),
    ]
