"""How a run ends in the Prefect UI: a state an operator can filter on, never a green
"Completed" for a run that needs attention.

- a parameter that cannot be used: `Failed`, the one sentence of `tasks.rules.options` as
  its message (not a traceback);
- held (a hold waits for a decision): `Completed` named "Held";
- a delivery quarantined: "Quarantined"; a hold the operator rejected: "Rejected"; the
  operator's input refused (a hold already decided...): "Refused"; attachments made with
  some refused or kept pending: "Applied with rejects" / "Applied, some pending";
  nothing to do: "Nothing done"; a dry run: "Dry run";
- each with its one-line reason as the state message and the tags `needs-attention` and
  the state's name, so that the runs list alone shows which runs need attention.

While a run waits for its approval form it is Paused (Prefect's own state).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar, cast, get_type_hints

from prefect.states import Completed, Failed

from rentree.flows.run.context import add_run_tags, run_logger
from rentree.tasks.rules.options import OptionError

F = TypeVar("F", bound=Callable[..., Any])
ATTENTION_TAG = "needs-attention"


def operator_states(function: F) -> F:
    """Wrap a flow function (under `@flow`): its returned result becomes the named state
    above, an OptionError a Failed state with the sentence. The wrapper keeps the function's
    signature and docstring, which make the deployment's parameter form."""

    @wraps(function)
    def ended(*args: Any, **kwargs: Any) -> Any:
        try:
            result = function(*args, **kwargs)
        except OptionError as exc:
            run_logger().error("Refused before any work: %s", exc)
            return Failed(message=str(exc))
        named = state_of(result) if isinstance(result, Mapping) else None
        if named is None:
            return result
        name, message, attention = named
        if attention:
            add_run_tags([ATTENTION_TAG, name.lower().replace(" ", "-").replace(",", "")])
            run_logger().warning("%s: %s", name, message)
        return Completed(name=name, message=message, data=result)

    # Prefect reads the parameters' types from the wrapper: give it the function's own,
    # resolved where the function lives (a `date` parameter is not a name of this module).
    ended.__signature__ = inspect.signature(function, eval_str=True)  # type: ignore[attr-defined]
    ended.__annotations__ = get_type_hints(function)
    return cast(F, ended)


def state_of(result: Mapping[str, Any]) -> tuple[str, str, bool] | None:
    """(state name, one-line reason, needs attention) for a flow's result; None for a clean
    run (Prefect's plain Completed)."""
    status = result.get("status")
    message = str(result.get("message") or "")
    decisions = result.get("decisions") or []
    rejected = [str(d.get("hold")) for d in decisions if d.get("decision") == "rejected"]
    attachments = "attached" in result and "pending" in result
    if status == "held":
        return "Held", message or _held_reason(result), True
    if status == "rejected":
        # a hold the operator rejected also sends its files to quarantine: said as rejected
        if rejected or (result.get("hold_id") and "rejected" in message):
            return "Rejected", message or f"Rejected by the operator: {', '.join(rejected)}.", True
        if result.get("quarantined"):
            return "Quarantined", _deliveries_reason(result, "quarantined"), True
        if result.get("refused") and isinstance(result["refused"], list):
            return "Refused", "; ".join(map(str, result["refused"])), True
        if attachments:
            return "Applied with rejects", _attachments_reason(result), True
        return "Nothing done", message or "Nothing was done.", True
    if status == "completed":
        if attachments and result.get("pending"):
            return "Applied, some pending", _attachments_reason(result), True
        if result.get("dry_run"):
            return "Dry run", message or "Dry run: nothing committed.", False
    return None


def _held_reason(result: Mapping[str, Any]) -> str:
    held = [d for d in result.get("deliveries") or [] if d.get("status") == "held"]
    why = " ".join(str(d["why"]) for d in held if d.get("why"))
    holds = ", ".join(result.get("pending_holds") or [])
    return why or f"Held, waiting for an operator's decision: {holds}."


def _deliveries_reason(result: Mapping[str, Any], status: str) -> str:
    rows = [d for d in result.get("deliveries") or [] if d.get("status") == status]
    return "; ".join(f"delivery {d['delivery']} {status}: {d.get('why') or ''}" for d in rows)


def _attachments_reason(result: Mapping[str, Any]) -> str:
    return (
        f"{result.get('attached', 0)} attached, {result.get('pending', 0)} kept pending (no "
        f"pupil yet, R10), {result.get('refused', 0)} refused (see not_attached)."
    )
