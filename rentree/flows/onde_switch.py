"""`onde-switch`: detect the ONDE switch ("bascule ONDE", R9) or take an operator's
confirmation, record it, and announce it with the event `rentree.onde.switched`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from rentree.flows.run.artifacts import nothing_done, publish_summary
from rentree.flows.run.context import RunContext, new_year_of, open_run
from rentree.flows.run.guard import directory_guard
from rentree.flows.run.phase import phase_flow
from rentree.infra.settings import Settings
from rentree.tasks.rules.years import detect_onde_switch, record_onde_switch, year_state

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


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[5, 30])
def look_for_switch(ctx: RunContext) -> tuple[bool, bool]:
    """(already recorded, detected now): reads the landing and held folders and the year."""
    assert ctx.school_year is not None
    with ctx.workspace.engine.connect() as conn:
        state = year_state(conn, ctx.school_year)
        already = state is not None and state.switched
        return already, already or detect_onde_switch(ctx.store, conn, ctx.school_year)


@task(cache_policy=NO_CACHE)
def record_switch(ctx: RunContext, source: str) -> None:
    assert ctx.school_year is not None
    with ctx.workspace.engine.begin() as conn:
        record_onde_switch(conn, ctx.school_year, source, datetime.now(UTC))  # type: ignore[arg-type]


@phase_flow(PHASE)
def onde_switch(
    year: str | None = None,
    confirm: bool = False,
    dry_run: bool = False,
    only_in_window: bool = False,
) -> dict[str, Any]:
    """Detect the ONDE switch of the new year (its first complete Eleve or PersRelEleve file
    in landing/), or record it on an operator's confirmation (`confirm`); then emit
    `rentree.onde.switched`, which starts family-import.

    Args:
        year: School year, written YYYY-YYYY (e.g. 2025-2026); empty: the year being imported
            (the closing year's successor).
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
        already, detected = look_for_switch(ctx)
        switched = already or detected or confirm
        source = "detected" if detected else "operator"
        newly = switched and not already
        if newly and not dry_run:
            with directory_guard(ctx):
                record_switch(ctx, source)
            emit_event(**switch_event(ctx.school_year, source))
        if already:
            message = f"The ONDE switch of {ctx.school_year} was already recorded."
        elif newly:
            verb = "would be recorded" if dry_run else "is recorded"
            message = f"The ONDE switch of {ctx.school_year} {verb} ({source})."
        else:
            message = (
                f"No complete Eleve or PersRelEleve file of {ctx.school_year} in landing/ yet: "
                "the switch has not happened; an operator can confirm it with `confirm`."
            )
        ctx.summary = {
            "school_year": ctx.school_year,
            "switched": switched,
            "newly_recorded": newly and not dry_run,
            "source": source if switched else None,
            "message": message,
        }
        publish_summary(ctx, f"ONDE switch of {ctx.school_year}", [("Outcome", message)])
        return ctx.result()
