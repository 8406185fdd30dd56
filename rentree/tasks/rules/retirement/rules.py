"""The settable figures of a retirement run: grace periods, notice period, hold thresholds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from rentree.infra.settings import Settings


@dataclass(frozen=True)
class RetirementRules:
    """Grace periods counted from the missing mark (`missing_since`): deactivation once
    `deactivate_after_days` have passed (and `notice_days` after the notice was written),
    retirement once `deactivate_after_days + retire_after_days` have passed.

    A run touching more than `school_ratio` of a school's people (schools of at least
    `school_min_people`) or `region_ratio` of the region's is held for approval.
    """

    deactivate_after_days: int = 90
    retire_after_days: int = 90
    notice_days: int = 14
    school_ratio: float = 0.05
    region_ratio: float = 0.02
    school_min_people: int = 20

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RetirementRules:
        """The settings' values, each replaced by an override that is not None."""
        rules = cls(
            deactivate_after_days=settings.retire_deactivate_after_days,
            retire_after_days=settings.retire_remove_after_days,
            notice_days=settings.retire_notice_days,
            school_ratio=settings.hold_school_missing_ratio,
            region_ratio=settings.hold_region_missing_ratio,
            school_min_people=settings.hold_school_min_people,
        )
        return replace(rules, **{k: v for k, v in overrides.items() if v is not None})

    def deactivation_cutoff(self, today: date) -> date:
        """People marked missing on or before this day are past the first grace period."""
        return today - timedelta(days=self.deactivate_after_days)

    def retirement_cutoff(self, today: date) -> date:
        """People marked missing on or before this day are past both grace periods."""
        return today - timedelta(days=self.deactivate_after_days + self.retire_after_days)

    def notice_cutoff(self, now: datetime) -> datetime:
        """A notice written at or before this moment has waited the notice period."""
        return now - timedelta(days=self.notice_days)

    def journal_cutoff(self, now: datetime) -> datetime:
        """Journal rows recorded before this moment are past the second grace period."""
        return now - timedelta(days=self.retire_after_days)


def clock(today: date | None) -> tuple[date, datetime]:
    """The run's day and moment: now, or the same time of day on `today` (a clock moved
    forward, for previews and the demo)."""
    now = datetime.now(UTC)
    if today is None:
        return now.date(), now
    return today, datetime.combine(today, time(now.hour, now.minute, now.second), UTC)
