"""Holds and the operator: the approval form, and the one hold -> ask -> settle step every
flow that can hold (the imports, the share purge) goes through."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from prefect import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Running
from pydantic import Field

from rentree.flows.run.artifacts import markdown_table
from rentree.flows.run.context import RunContext, current_flow_run_id, run_logger
from rentree.flows.run.guard import directory_guard
from rentree.tasks.rules.holds import Hold, HoldError, get_hold

T = TypeVar("T")


class Approval(RunInput):
    """The form an operator fills in the Prefect UI to decide on a hold.

    Approve or reject is an explicit choice with no default: a form sent untouched is refused
    by the UI (the field is required), never read as a rejection. The name given is recorded
    as who decided (the Prefect UI of a self-hosted server does not say who is logged in).
    """

    decision: Literal["approve", "reject"] = Field(
        description="approve: apply the held change set; reject: apply nothing (the files go "
        "to quarantine with a note of who rejected them)."
    )
    approver: str = Field(
        min_length=2,
        description="Your name (first and last): recorded as who decided.",
    )
    comment: str = Field("", description="Why, for the record (optional).")

    @property
    def approve(self) -> bool:
        return self.decision == "approve"


def parameter_decision(approve: bool) -> Approval:
    """A decision given as the run's `approve` parameter (CLI, scripts, the demo)."""
    return Approval(
        decision="approve" if approve else "reject",
        approver="the run's approve parameter",
        comment="given as the run's parameter",
    )


def ask_approval(description: str, timeout_seconds: int, poll_interval: int = 2) -> Approval | None:
    """Pause the run with the approval form; None when nobody answered in time.

    On a timeout the run is set running again so that it finishes normally, the hold
    staying pending (Prefect would otherwise fail a run that was never resumed).
    """
    form = Approval.with_initial_data(description=description)
    logger = run_logger()
    logger.info(
        "Approval asked: the run waits up to %d s for an operator's decision in its form "
        "(Resume in the Prefect UI).",
        timeout_seconds,
    )
    try:
        answer = pause_flow_run(
            wait_for_input=form,
            timeout=timeout_seconds,
            poll_interval=max(1, min(poll_interval, timeout_seconds or 1)),
        )
    except FlowPauseTimeout:
        logger.warning(
            "Approval timed out after %d s: nobody answered, the hold stays pending.",
            timeout_seconds,
        )
        ctx = FlowRunContext.get()
        if ctx is not None and ctx.flow_run is not None:
            with get_client(sync_client=True) as client:
                client.set_flow_run_state(ctx.flow_run.id, Running(), force=True)
        return None
    logger.info(
        "Approval answered: %s by %s%s.",
        "approved" if answer.approve else "rejected",
        answer.approver,
        f" ({answer.comment})" if answer.comment else "",
    )
    return answer


def decided_by(decision: Approval | None = None) -> str:
    """Who decided: the person named in the form (and the run that carried it)."""
    run = f"Prefect flow run {current_flow_run_id()}"
    if decision is None:
        return run
    return f"{decision.approver} ({run})"


def hold_decision(
    ctx: RunContext,
    *,
    approve: bool | None,
    wait_for_approval: bool,
    form_description: str,
) -> Approval | None:
    """The operator's decision on a hold: given as a parameter (`approve`), or asked with the
    approval form in the UI; None when it stays pending (no form, or nobody answered)."""
    if approve is not None:
        return parameter_decision(approve)
    if not wait_for_approval:
        run_logger().info("Held: no approval form from this run (wait_for_approval is off).")
        return None
    return ask_approval(form_description, ctx.settings.approval_timeout_seconds)


@dataclass(frozen=True)
class Settled(Generic[T]):
    """A hold the operator decided on, and what settling it did."""

    decision: Approval
    result: T


def ask_and_settle(
    ctx: RunContext,
    *,
    approve: bool | None,
    wait_for_approval: bool,
    form_description: str,
    settle: Callable[[Approval], T],
) -> Settled[T] | None:
    """The hold loop's one step: ask the operator (`approve` given, else the form), then
    `settle(decision)` (apply when approved, reject otherwise) under the directory guard.

    None when the hold stays pending. The guard is not held while the form waits.
    """
    decision = hold_decision(
        ctx, approve=approve, wait_for_approval=wait_for_approval, form_description=form_description
    )
    if decision is None:
        return None
    with directory_guard(ctx):
        return Settled(decision, settle(decision))


# The figures an approver weighs first, in this order, when a summary has them.
_FIRST = (
    ("missing_unexpected", "people newly missing beyond the expected leavers"),
    ("missing_expected_leavers", "expected leavers (final level last year) missing"),
    ("shares", "shares the purge removes"),
    ("schools_touched", "schools touched"),
    ("records_refused", "records refused"),
)
_NOT_SHOWN = frozenset({"fingerprint", "file_hashes", "school_year", "delivery", "empty"})


def pending_hold_of(ctx: RunContext, hold_id: str, kind: str, what: str) -> Hold:
    """The pending hold of `kind` an operator named; HoldError (one sentence) for an unknown
    id, a hold of another kind (`what` names the right one) or one already decided."""
    with ctx.workspace.engine.connect() as conn:
        hold = get_hold(conn, hold_id)
    if hold.status != "pending" or hold.kind != kind:
        raise HoldError(
            f"The hold {hold_id} is a {hold.kind} hold, {hold.status}: not a pending {what}; "
            "`rentree status` lists the pending holds."
        )
    return hold


def approval_form_text(
    title: str,
    reasons: Sequence[str],
    summary: Mapping[str, Any],
    *,
    links: Sequence[tuple[str, str]] = (),
) -> str:
    """The markdown shown above the approval form: why it is held (each threshold crossed,
    per school), the counts that matter first, links to the full lists, the rest of the
    change set's summary, and the fingerprint last."""
    lines = [f"## {title}", "", "### Why it is held", ""]
    lines += [f"- {r}" for r in reasons]
    first = [(label, summary[key]) for key, label in _FIRST if key in summary]
    if first:
        lines += ["", "### What matters", ""]
        lines += [f"- **{value:,}** {label}" for label, value in first]
    per_profile = summary.get("missing_unexpected_per_profile")
    if isinstance(per_profile, Mapping) and per_profile:
        lines.append(
            "- newly missing per profile: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(per_profile.items()))
        )
    if links:
        lines += ["", "### Full lists", ""]
        lines += [f"- [{text}]({url})" for text, url in links]
    shown = {k for k, _ in _FIRST} | _NOT_SHOWN | {"missing_unexpected_per_profile"}
    rest = {k: v for k, v in summary.items() if k not in shown and isinstance(v, int | float)}
    nested = {k: v for k, v in summary.items() if k not in shown and isinstance(v, Mapping)}
    if rest or nested:
        lines += ["", "### Change set summary", ""]
        if rest:
            lines.append(markdown_table([rest]))
        for name, values in nested.items():
            if values:
                lines += [f"**{name.replace('_', ' ')}**", "", markdown_table([dict(values)])]
    lines += [
        "",
        "Choose **approve** (apply it) or **reject** (apply nothing) and give your name: "
        "there is no default.",
    ]
    if summary.get("fingerprint"):
        lines += [
            "",
            f"Fingerprint of the directory it was computed on: `{summary['fingerprint']}`",
        ]
    return "\n".join(lines)


def approve_pending_holds(
    flow: Callable[..., dict[str, Any]], result: dict[str, Any], **params: Any
) -> dict[str, Any]:
    """Play the operator (the demo, the tests): approve by its id each hold a run of `flow`
    left pending, running the flow again with `params`."""
    for hold in result.get("pending_holds") or []:
        result = flow(**params, hold_id=hold, approve=True, wait_for_approval=False)
    return result
