"""How a phase flow is declared: `@phase_flow(PHASE)` is Prefect's `@flow` (its name, its
run name, printed lines copied to the log) over the named end states of
`states.operator_states`, with the descriptions of the parameters several flows share
written once here (the deployment's form shows them)."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

from prefect import Flow, flow
from pydantic import Field

from rentree.flows.run.context import run_name
from rentree.flows.run.states import operator_states
from rentree.infra.naming import SCHOOL_YEAR_PATTERN, UAI_PATTERN

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")

# The parameter types the run form edits: the pattern is in the form's schema (the UI and the
# API refuse another value for a run of a deployment), not a pydantic check, so that a direct
# call is refused by the flow itself, in one sentence (`tasks.rules.options`).
SchoolYear = Annotated[
    str, Field(json_schema_extra={"pattern": SCHOOL_YEAR_PATTERN, "examples": ["2025-2026"]})
]
Uai = Annotated[str, Field(json_schema_extra={"pattern": UAI_PATTERN, "examples": ["0590001A"]})]

# The parameters several flows take, as an operator reads them in the run form. A flow
# whose docstring describes one of them keeps its own words.
SHARED_PARAMETERS: dict[str, str] = {
    "year": "School year, written YYYY-YYYY (e.g. 2025-2026); empty: the year being "
    "imported (the closing year's successor).",
    "hold_id": "The id of a pending hold to decide on (`rentree status` lists them), with approve.",
    "approve": "With hold_id: true applies the held change set, false rejects it (files to "
    "quarantine). Empty: ask in the approval form.",
    "wait_for_approval": "When a delivery is held, pause with the approval form in the UI "
    "(up to RENTREE_APPROVAL_TIMEOUT_SECONDS); false: leave the hold pending.",
    "retry_failed": "Try again the deliveries set aside after an apply that failed.",
}


def with_shared_parameter_docs(function: F) -> F:
    """Add to the function's `Args:` section the shared description of each of its
    parameters that the docstring does not describe."""
    doc = inspect.cleandoc(function.__doc__ or "")
    described = {
        line.strip().split(":", 1)[0]
        for line in doc.split("Args:", 1)[-1].splitlines()
        if line.startswith("    ") and not line.startswith("     ") and ":" in line
    }
    added = [
        textwrap.fill(
            f"{name}: {SHARED_PARAMETERS[name]}",
            width=92,
            initial_indent="    ",
            subsequent_indent="        ",
        )
        for name in inspect.signature(function).parameters
        if name in SHARED_PARAMETERS and name not in described
    ]
    if added:
        head = doc if "Args:" in doc else f"{doc}\n\nArgs:"
        function.__doc__ = "\n".join([head.rstrip(), *added])
    return function


def phase_flow(name: str) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """The decorator of every phase flow."""

    def declare(function: Callable[P, R]) -> Flow[P, R]:
        wrapped = operator_states(with_shared_parameter_docs(function))
        return flow(name=name, flow_run_name=run_name(name), log_prints=True)(wrapped)

    return declare
