"""The demo's last act: R11's later action on the people the rollover marked missing, on a
clock moved forward past each period (the notice, then the deactivation once the notice
period is over, then the retirement past the second grace period). The demo plays the
operator and approves the runs held above the thresholds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from rentree.flows.retire_missing import retire_missing
from rentree.flows.run.approval import approve_pending_holds
from rentree.infra.settings import Settings
from rentree.tasks.rules.retirement.rules import RetirementRules

AddStep = Callable[[str, str, dict[str, Any], str], None]


def retirement_days(settings: Settings, marked_on: date) -> list[tuple[str, date]]:
    """The day of each retire-missing run: notice, deactivation, retirement."""
    rules = RetirementRules.from_settings(settings)
    notice = marked_on + timedelta(days=rules.deactivate_after_days)
    deactivation = notice + timedelta(days=rules.notice_days)
    retirement = marked_on + timedelta(days=rules.deactivate_after_days + rules.retire_after_days)
    return [
        ("notice", notice),
        ("deactivation", deactivation),
        ("retirement", max(retirement, deactivation + timedelta(days=1))),
    ]


def _figures(step: str, result: dict[str, Any]) -> str:
    if step == "notice":
        return (
            f"{result.get('notices_recorded', 0)} people notified ({result.get('notice_rows', 0)} "
            f"notice rows); {result.get('unconfirmed_marks', 0)} marks of the transition not "
            "confirmed yet"
        )
    if step == "deactivation":
        return (
            f"{result.get('deactivated', 0)} accounts deactivated, "
            f"{result.get('group_memberships_removed', 0)} scolarité memberships removed"
        )
    return (
        f"{result.get('retired', 0)} accounts retired, {result.get('school_links', 0)} school "
        f"links removed, {result.get('productions_to_hand_over', 0)} productions to hand over "
        "(none deleted)"
    )


def retire_after_rollover(
    settings: Settings, year: str, marked_on: date, add: AddStep
) -> list[dict[str, Any]]:
    """Run retire-missing on each of its days; returns the runs' results."""
    results = []
    for step, day in retirement_days(settings, marked_on):
        params: dict[str, Any] = {"year": year, "today": day}
        result = approve_pending_holds(
            retire_missing, retire_missing(**params, wait_for_approval=False), **params
        )
        add(f"R11 {step} ({day:%Y-%m-%d})", "retire-missing", result, _figures(step, result))
        results.append(result)
    return results
