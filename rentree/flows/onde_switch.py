"""`onde-switch`: detect the ONDE switch ("bascule ONDE", R9) or take an operator's
confirmation, record it, and announce it with the event `rentree.onde.switched`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from rentree.flows.run.artifacts import nothing_done, publish_summary
from rentree.flows.run.context import RunContext, new_year_of, open_run
from rentree.flows.run.guard import directory_guard
from rentree.flows.run.phase import SchoolYear, phase_flow
from rentree.flows.run.planned import plan_and_report, plan_then_apply
from rentree.flows.run.tasks import safe_task
from rentree.infra.settings import Settings
from rentree.tasks.rules.year_plans import SwitchPlan, plan_onde_switch
from rentree.tasks.rules.years import record_onde_switch

PHASE = "onde-switch"
ONDE_SWITCHED = "rentree.onde.switched"
SCHOOL_YEAR_RESOURCE = "rentree.school-year"


def in_switch_window(day: date, settings: Settings) -> bool:
    """Is `day` inside the rentrée window (MM-DD bounds, inclusive; may span the new year)?"""
    today = f"{day:%m-%d}"
    start, end = settings.switch_window_start, settings.switch_window_end
    if start <= end:
        return start <= today <= end
    return today >= start or today <= end


def switch_event(year: str, source: str) -> dict[str, Any]:
    """The event's fields: the school year is the resource, its name in the payload too."""
    return {
        "event": ONDE_SWITCHED,
        "resource": {
            "prefect.resource.id": f"{SCHOOL_YEAR_RESOURCE}.{year}",
            "prefect.resource.name": year,
        },
        "payload": {"year": year, "source": source},
    }


@safe_task(cache_policy=NO_CACHE)
def record_switch(ctx: RunContext, source: str) -> None:
    assert ctx.school_year is not None
    with ctx.workspace.engine.begin() as conn:
        record_onde_switch(conn, ctx.school_year, source, datetime.now(UTC))  # type: ignore[arg-type]


def apply(ctx: RunContext, planned: SwitchPlan) -> dict[str, Any]:
    """Record the switch and announce it (when the plan records it)."""
    if planned.records:
        with directory_guard(ctx):
            record_switch(ctx, planned.source)
        emit_event(**switch_event(planned.school_year, planned.source))
    message = planned.message(applied=True)
    ctx.summary.update(newly_recorded=planned.records, message=message)
    publish_summary(ctx, f"ONDE switch of {planned.school_year}", [("Outcome", message)])
    return ctx.result()


@phase_flow(PHASE)
def onde_switch(
    year: SchoolYear | None = None,
    confirm: bool = False,
    dry_run: bool = False,
    only_in_window: bool = False,
) -> dict[str, Any]:
    """Detect the ONDE switch of the new year (its first complete Eleve or PersRelEleve file
    in landing/), or record it on an operator's confirmation (`confirm`); then emit
    `rentree.onde.switched`, which starts family-import.

    Args:
        confirm: Record the switch now, on the operator's word, even if no complete pupils file
            is in landing/ yet.
        dry_run: Say whether the switch would be recorded, record nothing.
        only_in_window: Act only inside the rentrée window (RENTREE_SWITCH_WINDOW_START/END):
            what the hourly schedule sets.
    """
    with open_run(PHASE, year, dry_run=dry_run, resolve_year=new_year_of) as ctx:
        if only_in_window and not in_switch_window(date.today(), ctx.settings):
            ctx.summary = {"switched": False, "message": "Outside the rentrée window: not checked."}
            return ctx.result()
        if ctx.school_year is None:
            return nothing_done(
                ctx, "ONDE switch", "The directory holds no school year.", switched=False
            )
        year = ctx.school_year
        planned, _ = plan_and_report(
            ctx, lambda conn: plan_onde_switch(conn, ctx.store, year, confirm=confirm)
        )
        return plan_then_apply(
            ctx,
            f"ONDE switch of {ctx.school_year}",
            planned,
            lambda p: apply(ctx, p),
            sections=[("Plan", planned.message(applied=False))],
        )
