"""`rentree run`'s command line to a flow's parameters: each option goes to the flow parameter
of its name, checked against the flow's signature and the directory before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from typer.core import TyperCommand

from rentree.cli.common import fail, workspace
from rentree.flows.registry import FLOWS

# The flows' names come from the registry (listed there once).
FlowName = StrEnum("FlowName", {name.replace("-", "_"): name for name in FLOWS})  # type: ignore[misc]


def flow_parameters(
    flow: FlowName,
    *,
    year: str | None,
    dry_run: bool,
    schools: list[str],
    hold_id: str | None,
    approve: bool | None,
    undo: str | None,
    confirm: bool,
    keep_for_members: bool,
    requests: Path | None,
    today: datetime | None = None,
    retry_failed: bool = False,
) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The flow function and its parameters for one `rentree run` command line: each option
    goes to the flow parameter of its name, when the flow's signature has it; an option the
    flow does not take is refused (one sentence) rather than ignored, and the options are
    checked against the directory before anything is stored or run."""
    from rentree.flows import registry

    function = registry.flow_by_name(flow.value)
    wanted = registry.parameters_of(function)
    school_param = "schools" if "schools" in wanted else "school"
    given = {
        "year": year is not None,
        "dry_run": dry_run,
        school_param: bool(schools),
        "hold_id": hold_id is not None,
        "approve": approve is not None,
        "undo_run_id": undo is not None,
        "keep_for_members": keep_for_members,
        "confirm": confirm,
        "today": today is not None,
        "requests_key": requests is not None,
        "retry_failed": retry_failed,
    }
    for name, is_given in given.items():
        if is_given and name not in wanted:
            fail(f"{OPTION_OF[name]}: {flow.value} does not take this option; leave it out.")
    if school_param == "school" and len(schools) > 1:
        fail(f"--school: {flow.value} takes one school; give --school once.")
    options: dict[str, Callable[[], Any]] = {
        "year": lambda: year,
        "dry_run": lambda: dry_run,
        "schools": lambda: schools or None,
        "school": lambda: schools[0] if schools else None,
        "hold_id": lambda: hold_id,
        "approve": lambda: approve,
        # a terminal does not wait for the approval form: a hold stays pending, said so
        "wait_for_approval": lambda: False,
        "undo_run_id": lambda: undo,
        "keep_for_members": lambda: keep_for_members,
        "confirm": lambda: confirm,
        "today": lambda: today.date() if today else None,
        "retry_failed": lambda: retry_failed,
    }
    params = {name: given() for name, given in options.items() if name in wanted}
    check_options(flow, params)
    if "requests_key" in wanted:
        params["requests_key"] = stored_requests(requests, year, flow.value)
    return function, params


def stored_requests(requests: Path | None, year: str | None, flow: str) -> str | None:
    """A request list goes to the flow by storage key, never inline: a region's list is far
    above Prefect's 512 KB parameter limit."""
    if requests is None:
        return None
    from rentree.tasks.rules.attachments.request_lists import RequestFileError, store_requests

    with workspace() as ws:
        try:
            limit = ws.settings.attach_requests_max_rows
            return store_requests(ws.store, requests.read_bytes(), str(requests), year, flow, limit)
        except OSError as exc:
            fail(f"--requests {requests}: cannot be read ({exc.strerror}); check the path.")
        except RequestFileError as exc:
            fail(str(exc))


def check_options(flow: FlowName, params: dict[str, Any]) -> None:
    """The run's options against the directory, before any Prefect run starts."""
    from rentree.tasks.rules.options import OptionError, check_flow_options

    with workspace() as ws, ws.engine.connect() as conn:
        try:
            check_flow_options(conn, ws.store, flow.value, params)
        except OptionError as exc:
            fail(str(exc))


# The `rentree run` option of each flow parameter a terminal can give.
OPTION_OF = {
    "year": "--year",
    "dry_run": "--dry-run",
    "schools": "--school",
    "school": "--school",
    "hold_id": "--hold-id",
    "approve": "--approve/--reject",
    "undo_run_id": "--undo",
    "keep_for_members": "--keep-for-members",
    "confirm": "--confirm",
    "today": "--today",
    "requests_key": "--requests",
    "retry_failed": "--retry-failed",
}


class RunCommand(TyperCommand):
    """`rentree run FLOW --help`: the command's help, then the flow's own parameters with
    the descriptions its run form shows (read from the flow, never listed again)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # --help is answered while the arguments are parsed: keep them to find the flow
        ctx.meta["rentree_run_args"] = list(args)
        return super().parse_args(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        name = next((a for a in ctx.meta.get("rentree_run_args", []) if a in FLOWS), None)
        if name is None:
            return
        from rentree.flows.registry import flow_by_name

        flow = flow_by_name(name)
        rows = [
            (
                f"{OPTION_OF.get(parameter, '(run form only)')}  [{parameter}]",
                str(schema.get("description", "")),
            )
            for parameter, schema in flow.parameters.properties.items()
        ]
        with formatter.section(f"{name} (its parameters, as its run form shows them)"):
            formatter.write_text(" ".join(flow.description.split("\n\n")[0].split()))
            formatter.write_paragraph()
            if rows:
                formatter.write_dl(rows)
            else:
                formatter.write_text("It takes no parameter.")
