"""`rentree run`: each option reaches the flow parameter of its name, taken from the flow's
signature, and only the flows that have it get it."""

from __future__ import annotations

from typing import Any

from rentree.cli.flows import FlowName, flow_parameters
from rentree.flows.registry import FLOWS, flow_by_name


def parameters(flow: str, **given: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "year": "2024-2025",
        "dry_run": True,
        "schools": ["0590001A"],
        "hold_id": None,
        "approve": None,
        "undo": None,
        "confirm": False,
        "keep_for_members": False,
        "requests": None,
    }
    _, params = flow_parameters(FlowName(flow), **(options | given))
    return params


def test_cli_names_every_registered_flow() -> None:
    assert [f.value for f in FlowName] == list(FLOWS)
    assert all(flow_by_name(name).name == name for name in FLOWS)


def test_options_follow_the_flow_signature() -> None:
    assert parameters("family-import") == {
        "year": "2024-2025",
        "dry_run": True,
        "schools": ["0590001A"],
        "hold_id": None,
        "approve": None,
        "wait_for_approval": False,
        "retry_failed": False,
    }
    # attach-teachers takes one school (its team), not a list; no request list given
    assert parameters("attach-teachers") == {
        "year": "2024-2025",
        "requests_key": None,
        "school": "0590001A",
        "dry_run": True,
    }
    assert parameters("share-purge", undo="run-1")["undo_run_id"] == "run-1"
    assert parameters("storage-report") == {}
    assert "year" not in parameters("nightly")
