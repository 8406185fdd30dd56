"""What became of a delivery's import, and the phases' feed types."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from rentree.infra.reports import write_report, write_text
from rentree.infra.storage import ObjectStore
from rentree.tasks.rules.holds import Hold
from rentree.tasks.sync.changeset import ChangeSet

Status = Literal[
    "applied", "held", "quarantined", "skipped", "already_applied", "dry_run", "failed"
]
STAFF_TYPES: tuple[str, ...] = ("PersEducNat",)
FAMILY_IMPORT_TYPES: tuple[str, ...] = ("EtabEducNat", "Eleve", "PersRelEleve")


def with_structures(phase_types: Collection[str]) -> tuple[str, ...]:
    """The types to apply from the deliveries a phase picks: a staff delivery's own
    EtabEducNat files go with it, so that staff are attached to a school that is new to the
    directory (the first year, a school opening) instead of losing that link."""
    return tuple(dict.fromkeys(["EtabEducNat", *phase_types]))


def phase_of(types: Collection[str]) -> str:
    people = set(types) - {"EtabEducNat"}
    return "staff-import" if people and people <= set(STAFF_TYPES) else "family-import"


@dataclass
class ImportOutcome:
    """What became of one delivery, for flows, the CLI and reports."""

    school_year: str
    delivery: str
    status: Status
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    counts_per_school: pl.DataFrame = field(default_factory=pl.DataFrame)
    report_keys: list[str] = field(default_factory=list)
    hold_id: str | None = None
    held_files: pl.DataFrame = field(default_factory=pl.DataFrame)
    attachments: dict[str, int] = field(default_factory=dict)
    late_entries: int = 0
    detail: str = ""  # where a failure happened (code lines, never a value): for the log
    academy: str | None = None  # the academy that delivered it, in a region of several
    # the last change id before its apply: its change log rows are the run's after it
    logged_after: int | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able, for the `runs` row and the flow's artifacts."""
        return {
            "school_year": self.school_year,
            "academy": self.academy,
            "delivery": self.delivery,
            "status": self.status,
            "reason": self.reason,
            "counts": dict(self.counts),
            "schools": self.counts_per_school.height,
            "hold_id": self.hold_id,
            "held_files": self.held_files.height,
            "attachments": dict(self.attachments),
            "late_entries": self.late_entries,
            "reports": list(self.report_keys),
        }


@dataclass(frozen=True)
class HoldDecision:
    hold: Hold
    outcome: ImportOutcome | None  # the delivery's import, for delivery holds


def refusal_sentence(change_set: ChangeSet) -> str:
    refused = change_set.refused.height
    if not refused:
        return ""
    return (
        f" {refused} record(s) refused because they would merge or duplicate accounts (R1); "
        "the validation report lists them with the reason."
    )


def count_sentence(counts: dict[str, int]) -> str:
    done = [f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n]
    return ", ".join(done) if done else "no change"


def write_outcome_reports(
    store: ObjectStore,
    prefix: str,
    outcome: ImportOutcome,
    change_set: ChangeSet,
    problems: pl.DataFrame,
) -> list[str]:
    """The change set (as files), its counts per school and, when a record was rejected or
    warned about (by the checks, or refused by the plan: R1), the validation report."""
    name = f"change_set_{outcome.delivery}"
    keys = change_set.write(store, f"{prefix}{name}/")
    if problems.height:
        report = write_report(store, prefix, f"validation-report_{outcome.delivery}", problems)
        keys += [report.csv_key, report.parquet_key]
    per_school = write_report(
        store, prefix, f"counts_per_school_{outcome.delivery}", outcome.counts_per_school
    )
    keys += [per_school.csv_key, per_school.parquet_key]
    keys.append(write_text(store, prefix, f"outcome_{outcome.delivery}.txt", outcome.reason + "\n"))
    return keys
