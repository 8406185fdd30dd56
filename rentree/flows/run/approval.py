"""Holds and the operator: the approval form, and the one hold -> ask -> settle step every
flow that can hold (the imports, the share purge) goes through."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prefect import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from prefect.states import Running

from rentree.flows.run.artifacts import markdown_table
from rentree.flows.run.context import RunContext, current_flow_run_id
from rentree.flows.run.guard import directory_guard

T = TypeVar("T")


class Approval(RunInput):
    """The form an operator fills in the Prefect UI to decide on a hold."""

    approve: bool = False
    comment: str = ""


def ask_approval(description: str, timeout_seconds: int, poll_interval: int = 2) -> Approval | None:
    """Pause the run with the approval form; None when nobody answered in time.

    On a timeout the run is set running again so that it finishes normally, the hold
    staying pending (Prefect would otherwise fail a run that was never resumed).
    """
    form = Approval.with_initial_data(description=description, approve=False)
    try:
        return pause_flow_run(
            wait_for_input=form,
            timeout=timeout_seconds,
            poll_interval=max(1, min(poll_interval, timeout_seconds or 1)),
        )
    except FlowPauseTimeout:
        ctx = FlowRunContext.get()
        if ctx is not None and ctx.flow_run is not None:
            with get_client(sync_client=True) as client:
                client.set_flow_run_state(ctx.flow_run.id, Running(), force=True)
        return None


def decided_by() -> str:
    """Who decided: the flow run that carried the form (the UI does not tell the user)."""
    return f"prefect flow run {current_flow_run_id()}"


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
        return Approval(approve=approve, comment="given as the run's parameter")
    if not wait_for_approval:
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


def approval_form_text(title: str, reasons: Sequence[str], summary: Mapping[str, Any]) -> str:
    """The markdown shown above the approval form: why it is held and the change set's summary."""
    counts = {k: v for k, v in summary.items() if isinstance(v, int | float | str)}
    lines = [f"## {title}", "", "**Held because:**", ""]
    lines += [f"- {r}" for r in reasons]
    lines += ["", "**Change set summary:**", "", markdown_table([counts] if counts else [])]
    nested = {k: v for k, v in summary.items() if isinstance(v, Mapping)}
    for name, values in nested.items():
        lines += [f"**{name}**", "", markdown_table([dict(values)])]
    lines += ["", "Tick **approve** to apply it, leave it unticked to reject it."]
    return "\n".join(lines)


def approve_pending_holds(
    flow: Callable[..., dict[str, Any]], result: dict[str, Any], **params: Any
) -> dict[str, Any]:
    """Play the operator (the demo, the tests): approve by its id each hold a run of `flow`
    left pending, running the flow again with `params`."""
    for hold in result.get("pending_holds") or []:
        result = flow(**params, hold_id=hold, approve=True, wait_for_approval=False)
    return result
