"""What an import run reports: each delivery's outcome in the log, the counts per school,
the summary artifact, the run's status and its summary in `runs`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from rentree.flows.run.artifacts import (
    markdown_table,
    publish_links,
    publish_summary,
    publish_table,
)
from rentree.flows.run.context import RunContext, run_logger
from rentree.tasks.imports.outcome import ImportOutcome

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


def report_phase(
    ctx: RunContext, result: PhaseOutcome, title: str, with_follow_ups: bool
) -> dict[str, Any]:
    """Reports and artifacts of an import run; sets the run's status and summary."""
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
                if with_follow_ups
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
