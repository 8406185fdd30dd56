"""Counts are of what happened: a held or rejected delivery shows no applied counts (its run's
per-school table is empty), and the per-school table of an approved hold sums to the applied
count, each change once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flows_harness import flow_store, held_staff_file  # noqa: F401
from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
)
from sqlalchemy import Engine

from rentree.flows.staff_import import staff_import
from rentree.infra.storage import LocalStore

pytestmark = pytest.mark.flows


def per_school_table(state: Any) -> list[dict[str, Any]]:
    """The rows of the run's table of changes per school."""
    with get_client(sync_client=True) as client:
        (table,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                type=ArtifactFilterType(any_=["table"]),
            )
        )
    data = table.data if isinstance(table.data, list) else json.loads(str(table.data))
    return list(data)


def table_total(rows: list[dict[str, Any]]) -> int:
    return sum(v for row in rows for k, v in row.items() if k != "structure_uai")


def test_a_held_then_approved_delivery_counts_each_change_once(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held_staff_file(tmp_path, monkeypatch)
    held = staff_import(wait_for_approval=False, return_state=True)
    assert held.name == "Held", held.message
    result = held.result()
    assert result["counts"] == {} and result["applied"] == 0
    assert [d["status"] for d in result["deliveries"]] == ["held"]
    assert per_school_table(held) == []  # nothing applied: no school changed

    approved = staff_import(hold_id=result["pending_holds"][0], approve=True, return_state=True)
    assert approved.name == "Completed", approved.message
    applied = approved.result()
    total = sum(applied["counts"].values())
    assert total > 0 and "change_log" not in applied["counts"]
    rows = per_school_table(approved)
    assert rows and len({r["structure_uai"] for r in rows}) == len(rows)  # a row per school
    # each change once, in its school's row
    assert table_total(rows) == total, (rows, applied["counts"])


def test_a_rejected_delivery_shows_no_applied_counts(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held_staff_file(tmp_path, monkeypatch)
    held = staff_import(wait_for_approval=False, return_state=True).result()
    rejected = staff_import(hold_id=held["pending_holds"][0], approve=False, return_state=True)
    assert rejected.name == "Rejected", rejected.message
    result = rejected.result()
    assert result["counts"] == {} and result["applied"] == 0
    assert [d["decision"] for d in result["decisions"]] == ["rejected"]
    assert per_school_table(rejected) == []
