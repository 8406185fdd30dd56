"""`retire-missing`: R11's later action on people missing from the feeds, in one run:
the notice about people past the first grace period, the deactivation of those whose
notice has waited the notice period, the retirement of those deactivated past the second
grace period. Above the thresholds the run waits for an operator's approval; what it
changed is journalled, so a run can be undone (`undo_run_id`). Safe to run every night:
a run with nothing due changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from prefect.cache_policies import NO_CACHE

from rentree.flows.run.approval import (
    approval_form_text,
    ask_and_settle,
    decided_by,
    pending_hold_of,
)
from rentree.flows.run.artifacts import (
    markdown_table,
    publish_summary,
    publish_table,
)
from rentree.flows.run.context import RunContext, new_year_of, open_run
from rentree.flows.run.guard import directory_guard
from rentree.flows.run.phase import SchoolYear, phase_flow
from rentree.flows.run.planned import plan_and_report, plan_then_apply
from rentree.flows.run.tasks import safe_task
from rentree.infra.runs import run_exists
from rentree.infra.schema import retirement_journal
from rentree.tasks.planned import UndoPlan, plan_undo
from rentree.tasks.rules.holds import HoldError, create_hold, decide_hold, pending_holds
from rentree.tasks.rules.retirement.apply import (
    RetirementRunError,
    apply_retirement,
    undo_retirement,
)
from rentree.tasks.rules.retirement.journal import journal_has
from rentree.tasks.rules.retirement.plan import (
    RetirementPlan,
    plan_retirement,
    retirement_hold_reasons,
    write_retirement_plan,
)
from rentree.tasks.rules.retirement.rules import RetirementRules, clock

PHASE = "retire-missing"
HOLD_KIND = "retirement"
TITLE = "Retirement of missing people"


@safe_task(cache_policy=NO_CACHE)
def apply(
    ctx: RunContext,
    rules: RetirementRules,
    today: date | None,
    hold_id: str | None,
    by: str | None = None,
) -> dict[str, int]:
    """Plan again under the guard (the directory may have moved) and apply, in one transaction;
    `by` is who approved the hold (the form's approver), the run itself by default."""
    day, now = clock(today)
    with ctx.workspace.engine.begin() as conn:
        if hold_id is not None:
            decide_hold(conn, hold_id, "approved", by or decided_by(), datetime.now(UTC))
        plan = plan_retirement(conn, rules, day, now, ctx.school_year)
        return apply_retirement(conn, plan, ctx.run_id, now)


@safe_task(cache_policy=NO_CACHE)
def undo(ctx: RunContext, run_id: str, today: date | None) -> dict[str, int]:
    _, now = clock(today)
    with ctx.workspace.engine.begin() as conn:
        if not run_exists(conn, run_id, PHASE):
            raise RetirementRunError(
                f"No retire-missing run has the id {run_id}; `rentree status` lists the last "
                "runs of each flow: give the id of the run to undo."
            )
        if not journal_has(conn, run_id):
            raise RetirementRunError(
                f"Run {run_id} changed no account, or its journal is past the second grace "
                "period: there is nothing to put back."
            )
        return undo_retirement(conn, run_id, now)


@safe_task(cache_policy=NO_CACHE)
def hold(ctx: RunContext, plan: RetirementPlan, reasons: list[str]) -> str:
    """A pending hold with the plan's summary; an older pending one is superseded by it."""
    now = datetime.now(UTC)
    year = ctx.school_year or "all"
    with ctx.workspace.engine.begin() as conn:
        for older in pending_holds(conn, year, kind=HOLD_KIND):
            decide_hold(conn, older.hold_id, "superseded", decided_by(), now)
        return create_hold(
            conn,
            ctx.store,
            kind=HOLD_KIND,
            school_year=year,
            reason=" ".join(reasons),
            summary=plan.summary(),
            run_id=ctx.run_id,
            now=now,
            label="retire",
        )


@safe_task(cache_policy=NO_CACHE)
def reject(ctx: RunContext, hold_id: str, by: str) -> None:
    with ctx.workspace.engine.begin() as conn:
        decide_hold(conn, hold_id, "rejected", by, datetime.now(UTC))


def _end(ctx: RunContext, status: str, heading: str, sentence: str, **summary: Any) -> dict:
    ctx.status = status
    ctx.summary.update(summary, message=sentence)
    publish_summary(ctx, TITLE, [(heading, sentence)])
    return ctx.result()


def _applied_sentence(counts: dict[str, int], run_id: str) -> str:
    return (
        f"{counts['notices_recorded']} people notified, {counts['deactivated']} accounts "
        f"deactivated ({counts['group_memberships_removed']} scolarité group memberships "
        f"removed), {counts['retired']} accounts retired ({counts['school_links']} school "
        f"links, {counts['group_memberships']} memberships, {counts['bookmark_entries']} "
        f"bookmark entries, {counts['shares_to_them']} shares to them); no production "
        f"deleted (R4). Undo with undo_run_id={run_id}."
    )


@phase_flow(PHASE)
def retire_missing(
    year: SchoolYear | None = None,
    dry_run: bool = False,
    today: date | None = None,
    deactivate_after_days: int | None = None,
    retire_after_days: int | None = None,
    notice_days: int | None = None,
    school_ratio: float | None = None,
    region_ratio: float | None = None,
    undo_run_id: str | None = None,
    hold_id: str | None = None,
    approve: bool | None = None,
    wait_for_approval: bool = True,
) -> dict[str, Any]:
    """Notify, deactivate, then retire the people missing from the feeds past the grace
    periods (R11); productions are handed over, never deleted (R4).

    Args:
        year: School year whose scolarité groups a deactivated person leaves (default: the
            year being imported).
        dry_run: Plan and write the reports (notice, people, handover) but change nothing.
        today: The day the run counts from (default: today); a later day previews what a
            later run would do.
        deactivate_after_days: First grace period, in days from the missing mark (default
            RENTREE_RETIRE_DEACTIVATE_AFTER_DAYS, 90).
        retire_after_days: Second grace period, in days after the first (default
            RENTREE_RETIRE_REMOVE_AFTER_DAYS, 90); the journal lasts as long.
        notice_days: Days between the notice and the deactivation (default
            RENTREE_RETIRE_NOTICE_DAYS, 14).
        school_ratio: Hold the run above this share of a school's people (default the
            import threshold, RENTREE_HOLD_SCHOOL_MISSING_RATIO).
        region_ratio: Hold the run above this share of the region's people (default the
            import threshold, RENTREE_HOLD_REGION_MISSING_RATIO).
        undo_run_id: Put back exactly what that retire-missing run changed.
        hold_id: A pending retirement hold to decide on (with approve).
        approve: With hold_id: true applies the run, false rejects it.
        wait_for_approval: Above a threshold, pause with the approval form in the UI
            (false: leave the hold pending).
    """
    with open_run(PHASE, year, dry_run=dry_run, resolve_year=new_year_of) as ctx:
        rules = RetirementRules.from_settings(
            ctx.settings,
            deactivate_after_days=deactivate_after_days,
            retire_after_days=retire_after_days,
            notice_days=notice_days,
            school_ratio=school_ratio,
            region_ratio=region_ratio,
        )
        if undo_run_id:
            run_id = undo_run_id
            undoing, _ = plan_and_report(
                ctx, lambda conn: plan_undo(conn, retirement_journal, run_id)
            )
            return plan_then_apply(
                ctx,
                f"Undo of retire-missing run {undo_run_id}",
                undoing,
                lambda p: apply_undo(ctx, p, today),
            )
        day, now = clock(today)
        year = ctx.school_year
        plan, keys = plan_and_report(
            ctx,
            lambda conn: plan_retirement(conn, rules, day, now, year),
            write_retirement_plan,
        )
        publish_table(ctx, "per-school", plan.per_school, "People in each step, per school")
        sections = [("Plan", markdown_table([plan.summary() | {"grace_days": ""}]))]
        asked = (hold_id, approve, wait_for_approval)
        return plan_then_apply(
            ctx,
            TITLE,
            plan,
            lambda p: apply_or_hold(ctx, p, rules, today, sections, *asked),
            reports=keys,
            sections=sections,
        )


def apply_undo(ctx: RunContext, planned: UndoPlan, today: date | None) -> dict[str, Any]:
    try:
        with directory_guard(ctx):
            counts = undo(ctx, planned.run_id, today)
    except RetirementRunError as exc:
        return _end(ctx, "rejected", "Refused", str(exc))
    ctx.summary.update(counts)
    publish_summary(
        ctx, f"Undo of retire-missing run {planned.run_id}", [("Applied", markdown_table([counts]))]
    )
    return ctx.result()


def apply_or_hold(
    ctx: RunContext,
    plan: RetirementPlan,
    rules: RetirementRules,
    today: date | None,
    sections: list[tuple[str, str]],
    hold_id: str | None,
    approve: bool | None,
    wait_for_approval: bool,
) -> dict[str, Any]:
    """Apply now, or hold the run above a threshold and settle the operator's decision."""
    with ctx.workspace.engine.connect() as conn:
        reasons = retirement_hold_reasons(conn, plan)
    if hold_id is not None:
        try:
            reasons = [pending_hold_of(ctx, hold_id, HOLD_KIND, "retirement").reason]
        except HoldError as exc:
            return _end(ctx, "rejected", "Refused", str(exc))
    if not reasons:
        with directory_guard(ctx):
            counts = apply(ctx, rules, today, None)
    else:
        held_as = hold_id or hold(ctx, plan, reasons)
        settled = ask_and_settle(
            ctx,
            approve=approve,
            wait_for_approval=wait_for_approval,
            form_description=approval_form_text(TITLE, reasons, plan.summary()),
            settle=lambda decision: (
                apply(ctx, rules, today, held_as, decided_by(decision))
                if decision.approve
                else reject(ctx, held_as, decided_by(decision))
            ),
        )
        if settled is None:
            return _end(
                ctx,
                "held",
                "Held",
                f"The run is held ({' '.join(reasons)}) as {held_as}: nobody deactivated or "
                f"retired. Approve it by running retire-missing with hold_id={held_as} "
                "and approve=true.",
                hold_id=held_as,
                pending_holds=[held_as],
            )
        if settled.result is None:
            return _end(
                ctx,
                "rejected",
                "Rejected",
                f"The run held as {held_as} was rejected: nobody deactivated or retired.",
                hold_id=held_as,
                comment=settled.decision.comment,
            )
        counts, hold_id = settled.result, held_as
    ctx.summary.update(counts, hold_id=hold_id)
    publish_summary(ctx, TITLE, [*sections, ("Applied", _applied_sentence(counts, ctx.run_id))])
    return ctx.result()
