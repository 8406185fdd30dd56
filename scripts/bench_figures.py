"""One measured figure of `make bench`: a step's time beside its floor, measured in the same
run on the same input, and their ratio (CPU time too, the stable one on a shared machine)."""

from __future__ import annotations

import re
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """`key`: a stable name for machines; seconds are wall clock, cpu_seconds this process's
    CPU (all threads); a figure without a floor has no ratio."""

    key: str
    label: str
    seconds: float | None = None
    floor_seconds: float | None = None
    cpu_seconds: float | None = None
    floor_cpu_seconds: float | None = None
    peak_mb: float | None = None
    floor_label: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.seconds is None or not self.floor_seconds:
            return None
        return self.seconds / self.floor_seconds

    @property
    def cpu_ratio(self) -> float | None:
        if self.cpu_seconds is None or not self.floor_cpu_seconds:
            return None
        return self.cpu_seconds / self.floor_cpu_seconds

    def cells(self) -> tuple[str, str, str, str, str]:
        """measure, time, floor, ratio (wall; CPU), peak MB, for the printed table."""
        time_cell = _s(self.seconds) + (
            f" ({_s(self.cpu_seconds)} CPU)" if self.cpu_seconds else ""
        )
        floor = ""
        if self.floor_seconds is not None:
            floor = f"{_s(self.floor_seconds)}"
            if self.floor_cpu_seconds:
                floor += f" ({_s(self.floor_cpu_seconds)} CPU)"
            floor += f": {self.floor_label}" if self.floor_label else ""
        ratio = f"{self.ratio:.2f}x" if self.ratio is not None else ""
        if self.cpu_ratio is not None:
            ratio += f" ({self.cpu_ratio:.2f}x CPU)"
        label = self.label + (f" - {self.note}" if self.note else "")
        peak = f"{self.peak_mb:,.0f}" if self.peak_mb is not None else ""
        return label, time_cell, floor, ratio, peak

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("key")
        data["ratio"] = self.ratio
        data["cpu_ratio"] = self.cpu_ratio
        return data


def _s(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.2f} s"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


@dataclass
class Timing:
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.seconds + other.seconds, self.cpu_seconds + other.cpu_seconds)


def figure(
    key: str,
    label: str,
    took: Timing,
    floor: Timing | None = None,
    floor_label: str = "",
    **more: Any,
) -> Figure:
    """A figure from a step's timing and its floor's, with this process's peak memory."""
    more.setdefault("peak_mb", peak_mb())
    return Figure(
        key,
        label,
        seconds=took.seconds,
        cpu_seconds=took.cpu_seconds or None,
        floor_seconds=floor.seconds if floor else None,
        floor_cpu_seconds=(floor.cpu_seconds or None) if floor else None,
        floor_label=floor_label,
        **more,
    )


@contextmanager
def timed() -> Iterator[Timing]:
    """Wall and process CPU time of a block."""
    timing = Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield timing
    finally:
        timing.seconds = time.perf_counter() - wall
        timing.cpu_seconds = time.process_time() - cpu


def measure(action: Callable[[], Any]) -> tuple[Any, Timing]:
    with timed() as timing:
        result = action()
    return result, timing


def peak_mb() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def markdown_table(document: dict[str, Any]) -> str:
    """A BENCH_JSON document as the README's table: CPU times first (the stable ones on a
    shared machine), wall times beside them."""
    lines = [
        "| measure | CPU (wall) | floor, same run: CPU (wall) | ratio CPU (wall) | peak MB |",
        "|---|---|---|---|---|",
    ]
    for data in document["figures"].values():
        if data.get("seconds") is None:
            continue

        def pair(cpu: float | None, wall: float | None) -> str:
            if wall is None:
                return ""
            return f"{cpu:.2f} s ({wall:.2f} s)" if cpu else f"({wall:.2f} s)"

        floor = pair(data.get("floor_cpu_seconds"), data.get("floor_seconds"))
        if floor and data.get("floor_label"):
            floor = f"{data['floor_label']}: {floor}"
        ratio = ""
        if data.get("ratio") is not None:
            cpu = data.get("cpu_ratio")
            ratio = f"{cpu:.2f}x ({data['ratio']:.2f}x)" if cpu else f"({data['ratio']:.2f}x)"
        peak = f"{data['peak_mb']:,.0f}" if data.get("peak_mb") is not None else ""
        label = data["label"] + (f" - {data['note']}" if data.get("note") else "")
        time = pair(data.get("cpu_seconds"), data["seconds"])
        lines.append(f"| {label} | {time} | {floor} | {ratio} | {peak} |")
    return "\n".join(lines) + "\n"
