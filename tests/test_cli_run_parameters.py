"""`rentree run`: each option reaches the flow parameter of its name, taken from the flow's
signature, and only the flows that have it get it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, insert

from rentree.cli.run_options import FlowName, flow_parameters
from rentree.flows.registry import FLOWS, flow_by_name
from rentree.infra import schema
from tests.test_cli_safety import initialised  # noqa: F401  (the fixture)


@pytest.fixture
def directory(
    initialised: dict[str, str],  # noqa: F811
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The options are checked against a directory: one year, one school, one purge run."""
    for name, value in initialised.items():
        monkeypatch.setenv(name, value)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.runs).values(
                run_id="run-1",
                flow="share-purge",
                school_year="2024-2025",
                started_at=datetime.now(UTC),
                status="completed",
            )
        )


def parameters(flow: str, **given: Any) -> dict[str, Any]:
    """The parameters of one command line that gives only `given` (the rest left out)."""
    options: dict[str, Any] = {
        "year": None,
        "dry_run": False,
        "schools": [],
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


@pytest.mark.usefixtures("directory")
def test_options_follow_the_flow_signature() -> None:
    chosen = {"year": "2024-2025", "dry_run": True, "schools": ["0590001A"]}
    assert parameters("family-import", **chosen) == {
        "year": "2024-2025",
        "dry_run": True,
        "schools": ["0590001A"],
        "hold_id": None,
        "approve": None,
        "wait_for_approval": False,
        "retry_failed": False,
    }
    # attach-teachers takes one school (its team), not a list; no request list given
    assert parameters("attach-teachers", **chosen) == {
        "year": "2024-2025",
        "requests_key": None,
        "school": "0590001A",
        "dry_run": True,
    }
    purge = parameters("share-purge", year="2024-2025", undo="run-1")
    assert purge["undo_run_id"] == "run-1"
    assert parameters("storage-report") == {}
    assert "year" not in parameters("nightly")
