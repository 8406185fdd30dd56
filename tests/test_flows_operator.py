"""Runs tell the truth in the Prefect UI: a held, rejected or quarantined run ends in a named
state with its reason and tags, its counts are of what happened, its report links open over
HTTP, and the approval form has no default decision."""

from __future__ import annotations

import re
import threading
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flows_harness import flow_store, held_staff_file, paused_run  # noqa: F401
from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.flow_runs import resume_flow_run
from sqlalchemy import Engine, select

from rentree.flows.run.approval import Approval
from rentree.flows.staff_import import staff_import
from rentree.infra.naming import feed_file_name, landing_key
from rentree.infra.report_server import start_report_server
from rentree.infra.schema import holds
from rentree.infra.storage import LocalStore

pytestmark = pytest.mark.flows


@pytest.fixture
def report_server(flow_store: LocalStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:  # noqa: F811
    """The report server over the test's storage folder, as `rentree serve` starts it."""
    server, url = start_report_server(flow_store.root)
    monkeypatch.setenv("RENTREE_REPORT_SERVER_URL", url)
    yield url
    server.shutdown()
    server.server_close()


def _flow_run(state: Any) -> FlowRun:
    with get_client(sync_client=True) as client:
        return client.read_flow_run(state.state_details.flow_run_id)


def _links(flow_run_id: Any) -> list[tuple[str, str, str]]:
    """(file name, URL, description) of each link artifact of a run (Prefect stores a link
    card as a one-line markdown artifact `[text](url)`)."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                type=ArtifactFilterType(any_=["markdown"]),
            )
        )
    found = []
    for artifact in artifacts:
        match = re.fullmatch(r"\[([^\]\n]+)\]\((\S+)\)", str(artifact.data))
        if match:
            found.append((match[1], match[2], artifact.description or ""))
    return found


def test_a_held_run_is_named_held_and_counts_only_what_was_applied(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    report_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    new_year = held_staff_file(tmp_path, monkeypatch)

    state = staff_import(wait_for_approval=False, return_state=True)
    assert state.type == StateType.COMPLETED and state.name == "Held"
    held = state.result()
    assert "is held" in state.message and "above the 0% threshold" in state.message
    assert held["pending_holds"][0] in state.message
    assert held["counts"] == {} and held["applied"] == 0  # nothing of a held delivery applied
    run = _flow_run(state)
    assert {"needs-attention", "held", "rentree", new_year} <= set(run.tags)
    assert new_year in run.name  # the year the run resolved itself is in its name

    links = _links(run.id)
    names = {name for name, _, _ in links}
    assert any(n.startswith("who-goes-missing") for n in names), names
    for name, url, description in links:
        assert url.startswith(f"{report_server}/reports/"), url
        assert name in url and description and not description.startswith("Report written")
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200
            body = answer.read()
        if name.endswith(".csv"):
            assert body.startswith(b"\xef\xbb\xbf")

    hold_id = held["pending_holds"][0]
    with engine.connect() as conn:
        held_counts = conn.execute(select(holds.c.summary).where(holds.c.hold_id == hold_id))
        planned = {k: v for k, v in held_counts.scalar_one()["counts"].items() if v}
    approved = staff_import(hold_id=hold_id, approve=True, return_state=True)
    assert approved.name == "Completed", approved.message
    applied = approved.result()
    # each change once (the held run counted none), change_log rows are not changes
    assert "change_log" not in applied["counts"]
    assert {k: v for k, v in applied["counts"].items() if v} == planned


def test_the_approval_form_has_no_default_and_records_who_rejected(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = Approval.model_json_schema()
    assert {"decision", "approver"} <= set(schema["required"])
    assert "default" not in schema["properties"]["decision"]
    held_staff_file(tmp_path, monkeypatch)

    states: list[Any] = []
    runner = threading.Thread(
        target=lambda: states.append(staff_import(return_state=True)), daemon=True
    )
    runner.start()
    paused = paused_run("staff-import")
    # the form sent untouched: refused, the run still waits, nothing is rejected
    with pytest.raises(RuntimeError, match="Cannot resume"):
        resume_flow_run(paused.id, run_input={})
    with engine.connect() as conn:
        assert conn.execute(select(holds.c.status)).scalar_one() == "pending"
    resume_flow_run(
        paused.id,
        run_input={"decision": "reject", "approver": "Claire Martin", "comment": "wrong file"},
    )
    runner.join(timeout=120)
    state = states[0]
    assert state.name == "Rejected", (state.name, state.message)
    with engine.connect() as conn:
        decided = conn.execute(select(holds.c.status, holds.c.decided_by)).one()
    assert decided.status == "rejected"
    assert decided.decided_by.startswith("Claire Martin (Prefect flow run")


def test_a_quarantined_delivery_ends_the_run_quarantined(
    flow_store: LocalStore,  # noqa: F811
) -> None:
    year = "2025-2026"
    name = feed_file_name("PersEducNat", date(2025, 8, 28), 0)
    flow_store.write_bytes(landing_key(year, name), b"<not-xml")
    state = staff_import(year=year, return_state=True)
    assert state.type == StateType.COMPLETED and state.name == "Quarantined"
    assert "quarantined" in state.message and "20250828" in state.message
    assert {"needs-attention", "quarantined"} <= set(_flow_run(state).tags)
