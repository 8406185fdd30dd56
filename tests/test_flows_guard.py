"""Two runs that change the directory never overlap: the `rentree-directory` concurrency
limit serialises them; a dry run does not wait for it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flows_harness import flow_store  # noqa: F401
from prefect import flow

from rentree.flows.run.context import open_run
from rentree.flows.run.guard import directory_guard
from rentree.infra.storage import LocalStore

pytestmark = pytest.mark.flows


class Overlap:
    """Counts how many guarded sections run at the same moment."""

    def __init__(self, runs: int) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.arrived = threading.Barrier(runs)

    def enter(self) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)

    def leave(self) -> None:
        with self.lock:
            self.inside -= 1


def _run_two(dry_run: bool, overlap: Overlap) -> list[Any]:
    @flow(name="guarded-apply")
    def guarded_apply(dry_run: bool = False) -> None:
        with open_run("guarded-apply", "2024-2025", dry_run=dry_run) as ctx:
            # Both runs reach the guard together; the one inside then gives the other time
            # to get in too, which the guard must prevent.
            overlap.arrived.wait(timeout=60)
            with directory_guard(ctx):
                overlap.enter()
                time.sleep(1.0)
                overlap.leave()

    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(guarded_apply(dry_run, return_state=True)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_two_applies_never_overlap(flow_store: LocalStore) -> None:  # noqa: F811
    overlap = Overlap(2)
    results = _run_two(False, overlap)
    assert [s.is_completed() for s in results] == [True, True], [s.message for s in results]
    assert overlap.most == 1


def test_dry_runs_take_no_slot(flow_store: LocalStore) -> None:  # noqa: F811
    overlap = Overlap(2)
    results = _run_two(True, overlap)
    assert [s.is_completed() for s in results] == [True, True]
    assert overlap.most == 2
