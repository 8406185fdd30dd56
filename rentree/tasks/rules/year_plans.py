"""The plans of the two changes of a year's state an operator starts: the freeze (R7, with
its snapshot and the owners' reports R6, R13) and the ONDE switch (R9). Each is computed by
reads only; the flow reports it, then applies it unless the run is a dry run
(`rentree.tasks.planned`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Connection

from rentree.infra.naming import snapshot_prefix
from rentree.infra.reports import write_report
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.bookmarks import bookmark_cleanup_report
from rentree.tasks.content.export import table_row_counts
from rentree.tasks.content.purge.plan import pre_purge_notice
from rentree.tasks.content.purge.report import write_notice
from rentree.tasks.rules.years import detect_onde_switch, year_state


@dataclass(frozen=True)
class FreezePlan:
    """What freezing `school_year` does: its phase becomes frozen (kept if it already is),
    a snapshot of the directory with these rows per table (`snapshot_key`), and the
    owners' reports (the pre-purge notice, the bookmark members that left)."""

    school_year: str
    already_frozen: bool
    snapshot_label: str
    snapshot_rows: dict[str, int]
    notice: pl.DataFrame
    bookmarks: pl.DataFrame

    @property
    def snapshot_key(self) -> str:
        return snapshot_prefix(self.school_year, self.snapshot_label)

    def summary(self) -> dict[str, Any]:
        return {
            "school_year": self.school_year,
            "phase": "frozen",
            "already_frozen": self.already_frozen,
            "snapshot": self.snapshot_key,
            "snapshot_rows": self.snapshot_rows,
            "pre_purge_notice_rows": self.notice.height,
            "bookmark_cleanup_rows": self.bookmarks.height,
        }


def plan_freeze(conn: Connection, year: str, today: date) -> FreezePlan:
    state = year_state(conn, year)
    return FreezePlan(
        school_year=year,
        already_frozen=state is not None and state.frozen,
        snapshot_label=f"freeze-{today:%Y%m%d}",
        snapshot_rows=table_row_counts(conn),
        notice=pre_purge_notice(conn, year),
        bookmarks=bookmark_cleanup_report(conn, year),
    )


def write_freeze_reports(store: ObjectStore, prefix: str, plan: FreezePlan) -> list[str]:
    """The R6 pre-purge notice and the R13 bookmark clean-up report; returns their keys."""
    keys = write_notice(store, prefix, plan.notice)
    written = write_report(store, prefix, "bookmark_cleanup", plan.bookmarks)
    return [*keys, written.csv_key, written.parquet_key]


@dataclass(frozen=True)
class SwitchPlan:
    """What the ONDE switch run does for `school_year`: record the switch (`records`) when it
    is detected now or confirmed by the operator and not recorded yet."""

    school_year: str
    already: bool
    detected: bool
    confirmed: bool
    recorded_source: str | None = None  # how a switch recorded before was known

    @property
    def switched(self) -> bool:
        return self.already or self.detected or self.confirmed

    @property
    def records(self) -> bool:
        return self.switched and not self.already

    @property
    def source(self) -> str:
        if self.recorded_source is not None:
            return self.recorded_source
        return "detected" if self.detected else "operator"

    def message(self, applied: bool) -> str:
        if self.already:
            return f"The ONDE switch of {self.school_year} was already recorded."
        if self.records:
            verb = "is recorded" if applied else "would be recorded"
            return f"The ONDE switch of {self.school_year} {verb} ({self.source})."
        return (
            f"No complete Eleve or PersRelEleve file of {self.school_year} in landing/ yet: "
            "the switch has not happened; an operator can confirm it with `confirm`."
        )

    def summary(self) -> dict[str, Any]:
        return {
            "school_year": self.school_year,
            "switched": self.switched,
            "would_record": self.records,
            "source": self.source if self.switched else None,
            "message": self.message(applied=False),
        }


def plan_onde_switch(
    conn: Connection, store: ObjectStore, year: str, *, confirm: bool
) -> SwitchPlan:
    """Reads the year's state and, unless recorded, the landing and held folders."""
    state = year_state(conn, year)
    already = state is not None and state.switched
    detected = not already and detect_onde_switch(store, conn, year)
    return SwitchPlan(
        year, already, detected, confirm, state.onde_switch_source if already and state else None
    )
