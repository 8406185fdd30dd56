"""What the import flows (staff-import, family-import, nightly) share: import the landing
deliveries of a phase in order, ask the operator about the holds they raise, then run the
pending teacher attachments (R10) and the late-entry watch (R12), and report it all."""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from rentree.flows.run.approval import Approval, approval_form_text, ask_and_settle, decided_by
from rentree.flows.run.artifacts import (
    markdown_table,
    nothing_done,
    publish_links,
    publish_summary,
    publish_table,
    report_url,
)
from rentree.flows.run.context import RunContext, run_logger, run_transaction
from rentree.flows.run.guard import directory_guard
from rentree.flows.staging import FileCheckMapper
from rentree.infra.naming import change_set_part_key, change_set_summary_key
from rentree.infra.reports import write_report
from rentree.tasks.imports.decisions import approve_hold, reject_hold
from rentree.tasks.imports.outcome import ImportOutcome
from rentree.tasks.imports.pending import import_pending
from rentree.tasks.rules.attachments import AttachmentResult, apply_pending_attachments
from rentree.tasks.rules.holds import HoldError, get_hold
from rentree.tasks.rules.late_entries import late_entry_watch

# A run asks about each hold once; this bounds the rounds of "import, hold, decide".
MAX_DECISIONS = 20
# The deliveries whose changes a run's counts show (a held or rejected one changed nothing).
COUNTED = frozenset({"applied", "dry_run"})
# Bookkeeping the apply reports beside the changes: not changes themselves.
NOT_CHANGES = frozenset({"change_log"})


def change_count(counts: dict[str, int]) -> int:
    return sum(n for kind, n in counts.items() if kind not in NOT_CHANGES)


def log_outcome(outcome: ImportOutcome) -> None:
    """What became of a delivery, in the operator's words, in the run's log."""
    what = f"Delivery {outcome.delivery} of {outcome.school_year}"
    logger = run_logger()
    if outcome.status == "applied":
        logger.info(
            "%s applied: %d changes. %s", what, change_count(outcome.counts), outcome.reason
        )
    elif outcome.status == "dry_run":
        logger.info("%s previewed (dry run, nothing committed): %s", what, outcome.reason)
    elif outcome.status == "held":
        logger.warning("%s held as %s, nothing applied: %s", what, outcome.hold_id, outcome.reason)
    elif outcome.status == "quarantined":
        logger.warning("%s quarantined, nothing applied: %s", what, outcome.reason)
    else:
        logger.info("%s %s: %s", what, outcome.status.replace("_", " "), outcome.reason)


@dataclass
class PhaseOutcome:
    outcomes: list[ImportOutcome] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    pending_holds: list[str] = field(default_factory=list)
    attachments: dict[str, int] = field(default_factory=dict)
    late_entries: pl.DataFrame = field(default_factory=pl.DataFrame)
    report_keys: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


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
        )
    else:
        result = reject_hold(ctx.workspace.engine, ctx.store, hold_id, who, ctx.run_id)
    return {
        "hold_id": hold_id,
        "decision": result.hold.status,
        "comment": decision.comment,
        "outcome": result.outcome,
    }


@task(cache_policy=NO_CACHE, task_run_name="follow-ups {year}")
def follow_ups(ctx: RunContext, year: str) -> tuple[AttachmentResult, pl.DataFrame]:
    """R10 pending attachments, then R12 late-entry watch, in one transaction."""
    now = datetime.now(UTC)
    with run_transaction(ctx) as conn:
        attachments = apply_pending_attachments(conn, year, ctx.run_id, now)
        return attachments, late_entry_watch(conn, year, now)


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


def run_import_phase(
    ctx: RunContext,
    title: str,
    types: Sequence[str],
    *,
    phase: str,
    schools: Collection[str] | None = None,
    hold_id: str | None,
    approve: bool | None,
    wait_for_approval: bool,
    follow_ups: bool,
) -> dict[str, Any]:
    """A phase of the run's school year (staff-import, family-import): its deliveries of
    `types`, then the follow-ups when asked (R10, R12), reported under `title`."""
    year = ctx.school_year
    if year is None:
        return nothing_done(ctx, title, "No school year given and the directory holds none.")
    with FileCheckMapper(ctx.settings) as mapper:
        result = run_phase(
            ctx,
            [year],
            types,
            phase=phase,
            schools=schools,
            hold_id=hold_id,
            approve=approve,
            wait_for_approval=wait_for_approval,
            mapper=mapper,
        )
    return finish_phase(ctx, result, f"{title} {year}", year if follow_ups else None)


def finish_phase(
    ctx: RunContext, result: PhaseOutcome, title: str, follow_up_year: str | None
) -> dict[str, Any]:
    """Follow-ups, reports and artifacts; sets the run's status and summary."""
    if follow_up_year is not None and not result.refusals:
        with directory_guard(ctx):
            attachments, late = follow_ups(ctx, follow_up_year)
        result.attachments = attachments.counts()
        result.late_entries = late
        prefix = ctx.reports_prefix()
        for name, frame in (
            ("pending_attachments", attachments.not_attached()),
            ("late_entries", late),
        ):
            written = write_report(ctx.store, prefix, name, frame)
            result.report_keys += [written.csv_key, written.parquet_key]
    outcomes = [*result.outcomes, *(d["outcome"] for d in result.decisions if d["outcome"])]
    for outcome in outcomes:
        result.report_keys += outcome.report_keys
        log_outcome(outcome)
    # Counts are of what happened: only deliveries applied (or previewed by a dry run); a
    # held delivery's change set is counted once, when its approval applies it.
    done = [o for o in outcomes if o.status in COUNTED]
    attached_on_import = sum(o.attachments.get("attached", 0) for o in done)
    if attached_on_import:
        result.attachments = {
            **result.attachments,
            "attached": result.attachments.get("attached", 0) + attached_on_import,
        }
    publish_links(ctx, result.report_keys)
    per_school = _counts_per_school(done)
    publish_table(ctx, "counts-per-school", per_school, "Changes per school")
    rows = [
        {
            "year": o.school_year,
            "delivery": o.delivery,
            "status": o.status,
            "changes": change_count(o.counts) if o.status in COUNTED else 0,
            "why": o.reason,
        }
        for o in outcomes
    ]
    decisions = [
        {"hold": d["hold_id"], "decision": d["decision"], "comment": d["comment"]}
        for d in result.decisions
    ]
    pending = "".join(
        f"- `{h}` stays pending: approve it later by running this flow with hold_id={h} "
        "and approve=true (or in its approval form).\n"
        for h in result.pending_holds
    )
    rejected = [r for r in rows if r["status"] == "quarantined"]
    failed = [
        {"year": o.school_year, "delivery": o.delivery, "why": o.reason}
        for o in outcomes
        if o.status == "failed"
    ]
    for outcome in outcomes:
        if outcome.detail:
            run_logger().error(
                "%s\nWhere it failed (code lines only, no value):\n%s",
                outcome.reason,
                outcome.detail,
            )
    publish_summary(
        ctx,
        title,
        [
            ("Deliveries", markdown_table(rows) if rows else "No delivery to import."),
            ("Decisions on holds", markdown_table(decisions) if decisions else ""),
            ("Refused", "".join(f"- {r}\n" for r in result.refusals)),
            ("Held, waiting for an operator", pending),
            ("Rejected", markdown_table(rejected) if rejected else ""),
            ("Set aside after a failed apply", markdown_table(failed) if failed else ""),
            (
                "Follow-ups",
                f"Teacher attachments (R10): {result.attachments}; late entries still "
                f"watched (R12): {result.late_entries.height}."
                if follow_up_year
                else "",
            ),
        ],
    )
    totals: dict[str, int] = {}
    for outcome in done:
        for kind, n in outcome.counts.items():
            if kind not in NOT_CHANGES:
                totals[kind] = totals.get(kind, 0) + n
    statuses = [o.status for o in outcomes]
    if result.refusals:
        ctx.status = "rejected"
    elif result.pending_holds:
        ctx.status = "held"
    elif (
        "quarantined" in statuses
        or "failed" in statuses
        or any(d["decision"] == "rejected" for d in result.decisions)
    ):
        ctx.status = "rejected"
    ctx.summary = {
        "school_years": sorted({o.school_year for o in outcomes}),
        "deliveries": [{k: r[k] for k in ("year", "delivery", "status", "why")} for r in rows],
        "applied": statuses.count("applied"),
        "held": [o.hold_id or o.delivery for o in outcomes if o.status == "held"],
        "quarantined": statuses.count("quarantined"),
        "failed": failed,
        "decisions": decisions,
        "pending_holds": result.pending_holds,
        "refused": result.refusals,
        "counts": totals,
        "attachments": result.attachments,
        "late_entries": result.late_entries.height,
        "reports": result.report_keys,
    }
    return ctx.result()


def _counts_per_school(outcomes: Sequence[ImportOutcome]) -> pl.DataFrame:
    frames = [o.counts_per_school for o in outcomes if o.counts_per_school.height]
    if not frames:
        return pl.DataFrame()
    both = pl.concat(frames, how="diagonal_relaxed")
    numeric = [c for c, t in both.schema.items() if t.is_numeric()]
    return both.group_by("structure_uai").agg(pl.col(numeric).sum()).sort("structure_uai")
