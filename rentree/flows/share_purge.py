"""`share-purge`: preview, then apply, the purge of shares made to the closing year's
scolarité groups (R5); a purge above the threshold waits for an operator's approval.
What it removed is journalled, so a run can be undone (`undo_run_id`)."""

from __future__ import annotations

from datetime import UTC, datetime
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
    nothing_done,
    publish_summary,
    publish_table,
)
from rentree.flows.run.context import RunContext, closing_year_of, open_run
from rentree.flows.run.guard import directory_guard
from rentree.flows.run.phase import SchoolYear, phase_flow
from rentree.flows.run.planned import plan_and_report, plan_then_apply
from rentree.flows.run.tasks import safe_task
from rentree.infra.naming import next_school_year
from rentree.infra.runs import run_exists
from rentree.infra.schema import purge_journal
from rentree.tasks.content.purge.apply import apply_share_purge
from rentree.tasks.content.purge.plan import (
    PurgePlan,
    PurgeRunError,
    plan_share_purge,
    purge_needs_hold,
)
from rentree.tasks.content.purge.report import write_purge_preview
from rentree.tasks.content.purge.undo import undo_share_purge
from rentree.tasks.planned import UndoPlan, plan_undo
from rentree.tasks.rules.holds import HoldError, create_hold, decide_hold
from rentree.tasks.rules.years import advance_phase, step_back_phase

PHASE = "share-purge"


@safe_task(cache_policy=NO_CACHE)
def purge(
    ctx: RunContext, keep_for_members: bool, hold_id: str | None, who: str = ""
) -> dict[str, int]:
    """Plan again under the guard (the directory may have moved) and apply, in one transaction."""
    assert ctx.school_year is not None
    now = datetime.now(UTC)
    with ctx.workspace.engine.begin() as conn:
        if hold_id is not None:
            decide_hold(conn, hold_id, "approved", who or decided_by(), now)
        plan = plan_share_purge(conn, ctx.school_year)
        counts = apply_share_purge(conn, plan, ctx.run_id, now, keep_for_members=keep_for_members)
        advance_phase(conn, next_school_year(ctx.school_year), "purged")
    return counts


@safe_task(cache_policy=NO_CACHE)
def undo(ctx: RunContext, run_id: str) -> int:
    with ctx.workspace.engine.begin() as conn:
        if not run_exists(conn, run_id, PHASE):
            raise PurgeRunError(
                f"No share purge ran with the id {run_id}; `rentree status` lists the last "
                "runs of each flow: give the id of the purge to undo."
            )
        restored = undo_share_purge(conn, run_id, datetime.now(UTC))
        assert ctx.school_year is not None
        step_back_phase(conn, next_school_year(ctx.school_year), "purged")
        return restored


@safe_task(cache_policy=NO_CACHE)
def hold(ctx: RunContext, plan: PurgePlan, reason: str) -> str:
    assert ctx.school_year is not None
    with ctx.workspace.engine.begin() as conn:
        return create_hold(
            conn,
            ctx.store,
            kind="share_purge",
            school_year=ctx.school_year,
            reason=reason,
            summary=plan.summary(),
            run_id=ctx.run_id,
            now=datetime.now(UTC),
            label="purge",
        )


@safe_task(cache_policy=NO_CACHE)
def reject(ctx: RunContext, hold_id: str, who: str) -> None:
    with ctx.workspace.engine.begin() as conn:
        decide_hold(conn, hold_id, "rejected", who, datetime.now(UTC))


def refuse(ctx: RunContext, sentence: str) -> dict[str, Any]:
    """The operator's input cannot be used: the run ends rejected with one sentence."""
    ctx.status = "rejected"
    ctx.summary = {"message": sentence}
    publish_summary(ctx, "Share purge", [("Refused", sentence)])
    return ctx.result()


@phase_flow(PHASE)
def share_purge(
    year: SchoolYear | None = None,
    dry_run: bool = False,
    keep_for_members: bool = False,
    undo_run_id: str | None = None,
    hold_id: str | None = None,
    approve: bool | None = None,
    wait_for_approval: bool = True,
) -> dict[str, Any]:
    """Purge the shares made to the scolarité groups of the closing year `year` (default: the
    latest frozen year). `keep_for_members` re-shares read-only to the groups' members;
    `undo_run_id` puts back what that purge run removed; `hold_id` + `approve` decide on a
    purge held for approval.

    Args:
        year: Closing school year whose groups' shares are purged, written YYYY-YYYY; empty: the
            latest frozen year.
        dry_run: Preview: write the exact list of shares the purge removes (or, with
            undo_run_id, say which run would be undone), remove nothing.
        keep_for_members: Turn each purged group share into read-only shares to the group's
            members of the time (millions at region scale).
        undo_run_id: The run id of a share purge to undo: puts back exactly what it removed.
        hold_id: The id of a pending share-purge hold to decide on, with approve.
        approve: With hold_id: true applies the held change set, false rejects it (files to
            quarantine). Empty: ask in the approval form.
        wait_for_approval: When the purge is held, pause with the approval form in the UI;
            false: leave the hold pending.
    """
    with open_run(PHASE, year, dry_run=dry_run, resolve_year=closing_year_of) as ctx:
        if ctx.school_year is None:
            return nothing_done(
                ctx, "Share purge", "No school year is frozen: there is nothing to purge yet."
            )
        if undo_run_id:
            run_id = undo_run_id
            undoing, _ = plan_and_report(ctx, lambda conn: plan_undo(conn, purge_journal, run_id))
            return plan_then_apply(
                ctx,
                f"Undo of share purge run {undo_run_id}",
                undoing,
                lambda p: apply_undo(ctx, p),
            )
        year = ctx.school_year
        plan, keys = plan_and_report(
            ctx, lambda conn: plan_share_purge(conn, year), write_purge_preview
        )
        publish_table(ctx, "per-school", plan.per_school, "Shares to purge per school")
        sections = [("Preview", markdown_table([plan.summary() | {"per_app": ""}]))]
        return plan_then_apply(
            ctx,
            f"Share purge of {ctx.school_year}",
            plan,
            lambda p: apply(
                ctx, p, sections, keep_for_members, hold_id, approve, wait_for_approval
            ),
            reports=keys,
            sections=sections,
        )


def apply_undo(ctx: RunContext, planned: UndoPlan) -> dict[str, Any]:
    try:
        with directory_guard(ctx):
            restored = undo(ctx, planned.run_id)
    except PurgeRunError as exc:
        return refuse(ctx, str(exc))
    ctx.summary["shares_restored"] = restored
    publish_summary(
        ctx,
        f"Undo of share purge run {planned.run_id}",
        [("Applied", f"{restored} shares put back.")],
    )
    return ctx.result()


def apply(
    ctx: RunContext,
    plan: PurgePlan,
    sections: list[tuple[str, str]],
    keep_for_members: bool,
    hold_id: str | None,
    approve: bool | None,
    wait_for_approval: bool,
) -> dict[str, Any]:
    """Purge now, or hold the purge above the threshold and settle the operator's decision."""
    assert ctx.school_year is not None
    reason = purge_needs_hold(plan, ctx.settings) if hold_id is None else None
    if hold_id is not None:
        try:
            reason = pending_hold_of(ctx, hold_id, "share_purge", "share purge").reason
        except HoldError as exc:
            return refuse(ctx, str(exc))
    if reason is None:
        with directory_guard(ctx):
            counts = purge(ctx, keep_for_members, None)
    else:
        held_as = hold_id or hold(ctx, plan, reason)
        settled = ask_and_settle(
            ctx,
            approve=approve,
            wait_for_approval=wait_for_approval,
            form_description=approval_form_text(
                f"Share purge of {ctx.school_year}", [reason], plan.summary()
            ),
            settle=lambda decision: (
                purge(ctx, keep_for_members, held_as, decided_by(decision))
                if decision.approve
                else reject(ctx, held_as, decided_by(decision))
            ),
        )
        if settled is None:
            ctx.status = "held"
            message = (
                f"The purge is held ({reason}) as {held_as}: nothing removed. Approve it "
                f"later by running share-purge with hold_id={held_as} and approve=true."
            )
            ctx.summary.update(hold_id=held_as, message=message, pending_holds=[held_as])
            publish_summary(ctx, f"Share purge of {ctx.school_year}", [("Held", message)])
            return ctx.result()
        if settled.result is None:
            ctx.status = "rejected"
            message = f"The purge held as {held_as} was rejected: nothing removed."
            comment = settled.decision.comment
            ctx.summary.update(hold_id=held_as, message=message, comment=comment)
            publish_summary(ctx, f"Share purge of {ctx.school_year}", [("Rejected", message)])
            return ctx.result()
        counts, hold_id = settled.result, held_as
    ctx.summary.update(counts, hold_id=hold_id)
    sections = [
        *sections,
        (
            "Applied",
            f"{counts['shares_removed']} shares removed (R5), "
            f"{counts['member_shares_created']} read-only shares kept for members; undo "
            f"with undo_run_id={ctx.run_id}.",
        ),
    ]
    publish_summary(ctx, f"Share purge of {ctx.school_year}", sections)
    return ctx.result()
