"""Prefect on a terminal: its logs kept quiet, its embedded server given time to start, and
the flows' progress steps shown as progress bars."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rentree.cli.common import console

if TYPE_CHECKING:
    from rich.progress import Progress


def quiet_prefect(verbose: bool = False) -> None:
    """Keep Prefect's own logs to warnings on a terminal: the summary says what happened."""
    level = logging.INFO if verbose else logging.WARNING
    for name in ("prefect", "httpx"):
        logging.getLogger(name).setLevel(level)
    # A run's own errors reach the terminal as one sentence (the UI keeps the full log).
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.CRITICAL)


@contextmanager
def embedded_prefect() -> Iterator[None]:
    """A busy machine starts Prefect's embedded server slower than its 20 s default allows."""
    from prefect.settings import PREFECT_SERVER_ANALYTICS_ENABLED as ANALYTICS
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS as TIMEOUT
    from prefect.settings import temporary_settings

    updates: dict[Any, Any] = {ANALYTICS: False}
    if "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" not in os.environ:
        updates[TIMEOUT] = 180
    with temporary_settings(updates=updates):
        yield


@contextmanager
def progress_bars() -> Iterator[Progress]:
    """Rich progress bars fed by the flows' progress steps (the same as their artifacts)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    from rentree.flows.run.artifacts import progress_listener

    progress = Bars(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console.rich,
        transient=False,
    )
    bars: dict[str, Any] = {}

    def listen(bar: str, text: str, done: int, total: int) -> None:
        if bar not in bars:
            bars[bar] = progress.add_task(text, total=total)
        progress.update(bars[bar], description=text, completed=done, total=total)

    token = progress_listener.set(listen)
    try:
        with progress:
            yield progress
    finally:
        progress_listener.reset(token)
