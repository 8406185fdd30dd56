"""The one dry-run mechanism: a step that changes something first computes its plan (reads
only: a dataclass whose `summary()` says what it would do), which is reported the same way
whether the run is a dry run or not; a dry run skips only the step that applies the plan.

The flows call it through `rentree.flows.run.planned.plan_then_apply` (which also reports
the plan); the import of one delivery and the content import, each planned and applied in
one transaction under the directory lock, call `apply_unless_dry_run` there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Table, func, select


class Plan(Protocol):
    """What a step would change, computed without writing anything."""

    def summary(self) -> Mapping[str, Any]: ...


P = TypeVar("P")
R = TypeVar("R")


def apply_unless_dry_run(plan: P, apply: Callable[[P], R], *, dry_run: bool) -> R | None:
    """`apply(plan)`, or None for a dry run: the one place where a dry run differs from a
    real run (nothing before it may write; what a dry run reports is the plan)."""
    if dry_run:
        return None
    return apply(plan)


@dataclass(frozen=True)
class UndoPlan:
    """Putting back what the run `run_id` changed: its journal's rows not undone yet."""

    run_id: str
    journal_rows: int

    def summary(self) -> dict[str, Any]:
        return {"undone_run": self.run_id, "journal_rows_to_undo": self.journal_rows}


def plan_undo(conn: Connection, journal: Table, run_id: str) -> UndoPlan:
    """The undo of `run_id` from a journal (`purge_journal`, `retirement_journal`: each has
    `run_id` and `undone_at`)."""
    c = journal.c
    rows = conn.execute(
        select(func.count()).select_from(journal).where(c.run_id == run_id, c.undone_at.is_(None))
    ).scalar_one()
    return UndoPlan(run_id, int(rows))
