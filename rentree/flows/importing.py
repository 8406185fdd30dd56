"""What the import flows (staff-import, family-import, nightly) share: import the landing
deliveries of a phase in order, ask the operator about the holds they raise, then run the
pending teacher attachments (R10) and the late-entry watch (R12), and report it all."""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from prefect.cache_policies import NO_CACHE

from rentree.flows.import_report import PhaseOutcome, report_phase
from rentree.flows.run.approval import Approval, approval_form_text, ask_and_settle, decided_by
from rentree.flows.run.artifacts import (
    DeliveryProgress,
    nothing_done,
    publish_links,
    report_url,
)
from rentree.flows.run.context import (
    RunContext,
    new_year_of,
    open_run,
)
from rentree.flows.run.guard import directory_guard
from rentree.flows.run.tasks import safe_task
from rentree.flows.staging import FileCheckMapper
from rentree.infra.naming import change_set_part_key, change_set_summary_key
from rentree.infra.reports import write_report
from rentree.tasks.imports.decisions import approve_hold, reject_hold
from rentree.tasks.imports.outcome import ImportOutcome
from rentree.tasks.imports.pending import import_pending
from rentree.tasks.planned import apply_unless_dry_run
from rentree.tasks.rules.attachments.decide import (
    AttachmentPlan,
    AttachmentResult,
    plan_attachments,
)
from rentree.tasks.rules.attachments.on_arrival import apply_pending_attachments
from rentree.tasks.rules.attachments.pending import pending_requests
from rentree.tasks.rules.holds import HoldError, get_hold
from rentree.tasks.rules.late_entries import open_late_entries
from rentree.tasks.rules.years import current_years

# A run asks about each hold once; this bounds the rounds of "import, hold, decide".
MAX_DECISIONS = 20


def import_landing(
    ctx: RunContext,
    year: str,
    types: Sequence[str],
    schools: Collection[str] | None,
    phase: str | None,
    mapper: FileCheckMapper,
) -> list[ImportOutcome]:
    """Every landing delivery of those types, in order (transactional: no retry).

    Called in the flow itself, not as a task: the file checks it maps go to the task runner
    with the run's context, which must stay small and picklable for Dask workers.
    """
    return import_pending(
        ctx.workspace.engine,
        ctx.store,
        ctx.settings,
        year,
        types,
        run_id=ctx.run_id,
        dry_run=ctx.dry_run,
        schools=schools,
        phase=phase,
        map_files=mapper,
        retry_failed=ctx.retry_failed,
        steps=DeliveryProgress(ctx.flow),
    )


def settle_hold(
    ctx: RunContext, hold_id: str, decision: Approval, mapper: FileCheckMapper
) -> dict[str, Any]:
    """Approve (apply, re-checking first if the directory moved) or reject a held delivery."""
    who = decided_by(decision) + (f": {decision.comment}" if decision.comment else "")
    if decision.approve:
        result = approve_hold(
            ctx.workspace.engine,
            ctx.store,
            ctx.settings,
            hold_id,
            who,
            ctx.run_id,
            map_files=mapper,
            steps=DeliveryProgress(ctx.flow),
        )
    else:
        result = reject_hold(ctx.workspace.engine, ctx.store, hold_id, who, ctx.run_id)
    return {
        "hold_id": hold_id,
        "decision": result.hold.status,
        "comment": decision.comment,
        "outcome": result.outcome,
    }


@safe_task(cache_policy=NO_CACHE, task_run_name="follow-ups {year}")
def follow_ups(ctx: RunContext, year: str) -> tuple[AttachmentResult, pl.DataFrame]:
    """R10 pending attachments, and the R12 late-entry watch list as it stands; a dry run
    plans the attachments (`tasks.planned`). The watch itself is updated by every delivery's
    apply, in its transaction (`tasks.imports.apply`), the only change that moves a pupil:
    watching again here would read the year's class links for nothing (a region's 562,000,
    each night)."""
    now = datetime.now(UTC)
    with ctx.workspace.engine.connect() as conn:
        planned = plan_attachments(conn, pending_requests(conn, year))
        watched = open_late_entries(conn, year)

    def apply(plan: AttachmentPlan) -> tuple[AttachmentResult, pl.DataFrame]:
        with ctx.workspace.engine.begin() as conn:
            return apply_pending_attachments(conn, year, ctx.run_id, now), watched

    applied = apply_unless_dry_run(planned, apply, dry_run=ctx.dry_run)
    return applied or (planned.result(), watched)


def hold_form(hold_id: str, ctx: RunContext) -> str:
    """The approval form's text, with links to the full list of who goes missing (written
    now beside the hold's change set) and to the change set's summary."""
    with ctx.workspace.engine.connect() as conn:
        hold = get_hold(conn, hold_id)
    summary = dict(hold.summary or {})
    reasons = summary.pop("reasons", None) or [hold.reason]
    shown = {k: v for k, v in summary.items() if k not in {"files", "types", "schools"}}
    links: list[tuple[str, str]] = []
    if hold.change_set_key:
        missing_key = change_set_part_key(hold.change_set_key, "users_missing")
        if ctx.store.exists(missing_key):
            missing = pl.read_parquet(io.BytesIO(ctx.store.read_bytes(missing_key)))
            written = write_report(ctx.store, hold.change_set_key, "who-goes-missing", missing)
            publish_links(ctx, [written.csv_key, written.parquet_key])
            links.append(
                (f"Who goes missing ({missing.height:,} people)", report_url(ctx, written.csv_key))
            )
        summary_key = change_set_summary_key(hold.change_set_key)
        if ctx.store.exists(summary_key):
            links.append(("The change set's summary (summary.json)", report_url(ctx, summary_key)))
    return approval_form_text(
        f"Delivery {hold.delivery} of {hold.school_year} (hold {hold_id})",
        reasons,
        shown,
        links=links,
    )


def run_phase(
    ctx: RunContext,
    years: Sequence[str],
    types: Sequence[str],
    *,
    phase: str | None,
    schools: Collection[str] | None = None,
    hold_id: str | None = None,
    approve: bool | None = None,
    wait_for_approval: bool = True,
    mapper: FileCheckMapper,
) -> PhaseOutcome:
    """Import the phase's deliveries of each year, deciding the holds as they come."""
    result = PhaseOutcome()
    asked: set[str] = set()
    if hold_id is not None:
        asked.add(hold_id)
        settled = decide_held_delivery(ctx, hold_id, approve, wait_for_approval, mapper, result)
        if not settled and result.refusals:
            return result
    for year in years:
        for _ in range(MAX_DECISIONS):
            # The guard is held while importing, not while an approval form waits.
            with directory_guard(ctx):
                outcomes = import_landing(ctx, year, types, schools, phase, mapper)
            result.outcomes.extend(outcomes)
            held = [
                o.hold_id
                for o in outcomes
                if o.status == "held" and o.hold_id is not None and o.hold_id not in asked
            ]
            if not held or ctx.dry_run:
                break
            asked.add(held[0])
            if not decide_held_delivery(ctx, held[0], None, wait_for_approval, mapper, result):
                break
    return result


def decide_held_delivery(
    ctx: RunContext,
    hold_id: str,
    approve: bool | None,
    wait_for_approval: bool,
    mapper: FileCheckMapper,
    result: PhaseOutcome,
) -> bool:
    """Ask about one held delivery and settle it; False when it stays pending or the hold
    cannot be decided (a wrong or already decided id, files changed meanwhile: said in one
    sentence in `result.refusals`, the hold stays)."""
    try:
        settled = ask_and_settle(
            ctx,
            approve=approve,
            wait_for_approval=wait_for_approval,
            form_description=hold_form(hold_id, ctx),
            settle=lambda decision: settle_hold(ctx, hold_id, decision, mapper),
        )
    except HoldError as exc:
        result.refusals.append(str(exc))
        return False
    if settled is None:
        result.pending_holds.append(hold_id)
        return False
    result.decisions.append(settled.result)
    return True


@dataclass(frozen=True)
class HoldAsk:
    """What the operator said about holds when starting the run: a hold to decide now
    (`hold_id` with `approve`; no `approve`: ask in the form) and whether to wait for the
    approval form when a delivery is held."""

    hold_id: str | None = None
    approve: bool | None = None
    wait_for_approval: bool = True


def import_flow(
    flow: str,
    title: str,
    types: Sequence[str],
    *,
    hold: HoldAsk,
    retry_failed: bool,
    year: str | None = None,
    dry_run: bool = False,
    schools: Collection[str] | None = None,
    follow_ups: bool = True,
    every_current_year: bool = False,
) -> dict[str, Any]:
    """The body of each import flow: its deliveries of `types` for the run's year (default:
    the new year), or with `every_current_year` for the closing and the new year (nightly:
    each delivery reported under its own phase), then the follow-ups on the new year when
    asked (R10, R12), reported under `title`."""
    with open_run(flow, year, dry_run=dry_run, resolve_year=new_year_of) as ctx:
        ctx.retry_failed = retry_failed
        if ctx.school_year is None:
            if every_current_year:
                return nothing_done(
                    ctx,
                    title,
                    "The directory holds no school year yet: nothing is due.",
                    status="completed",
                )
            return nothing_done(ctx, title, "No school year given and the directory holds none.")
        years = [ctx.school_year]
        if every_current_year:
            with ctx.workspace.engine.connect() as conn:
                years = [y for y in current_years(conn) if y is not None]
        with FileCheckMapper(ctx.settings) as mapper:
            result = run_phase(
                ctx,
                years,
                types,
                phase=None if every_current_year else flow,
                schools=schools,
                hold_id=hold.hold_id,
                approve=hold.approve,
                wait_for_approval=hold.wait_for_approval,
                mapper=mapper,
            )
        year = ctx.school_year
        if follow_ups and not result.refusals:
            run_follow_ups(ctx, result, year)
        return report_phase(ctx, result, f"{title} {year}", follow_ups)


def run_follow_ups(ctx: RunContext, result: PhaseOutcome, year: str) -> None:
    """R10 pending attachments and R12 late-entry watch of `year`, and their reports."""
    with directory_guard(ctx):
        attachments, late = follow_ups(ctx, year)
    result.attachments = attachments.counts()
    result.late_entries = late
    prefix = ctx.reports_prefix()
    for name, frame in (
        ("pending_attachments", attachments.not_attached()),
        ("late_entries", late),
    ):
        written = write_report(ctx.store, prefix, name, frame)
        result.report_keys += [written.csv_key, written.parquet_key]
