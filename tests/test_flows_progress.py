"""Every step of a long import shows progress: the staff import names each delivery's steps
(checking and planning, applying or holding, moving the files and writing the reports) in
its progress artifacts and to a listening terminal, an approved hold too."""

from __future__ import annotations

from collections.abc import Iterator
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

from rentree.flows.run.artifacts import progress_listener
from rentree.flows.staff_import import staff_import
from rentree.infra.storage import LocalStore
from rentree.tasks.imports.steps import Step

pytestmark = pytest.mark.flows


@pytest.fixture
def heard() -> Iterator[dict[str, list[tuple[str, int, int]]]]:
    """What a terminal hears: per bar, (text, done, total) in order."""
    bars: dict[str, list[tuple[str, int, int]]] = {}
    token = progress_listener.set(
        lambda bar, text, done, total: bars.setdefault(bar, []).append((text, done, total))
    )
    yield bars
    progress_listener.reset(token)


def delivery_bars(bars: dict[str, list[tuple[str, int, int]]], delivery: str) -> list[Any]:
    return [b for b in bars.values() if b[0][0].startswith(f"staff-import {delivery}: ")]


def progress_artifacts(state: Any) -> list[tuple[str | None, float]]:
    """(description, percent done) of each progress artifact of the run."""
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                type=ArtifactFilterType(any_=["progress"]),
            )
        )
    return [(a.description, float(str(a.data))) for a in artifacts]


def test_the_staff_import_names_each_step_of_a_held_then_approved_delivery(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    heard: dict[str, list[tuple[str, int, int]]],
) -> None:
    held_staff_file(tmp_path, monkeypatch)
    heard.clear()  # the closing year's imports above are not what is looked at

    state = staff_import(wait_for_approval=False, return_state=True)
    assert state.name == "Held", state.message
    held = state.result()
    hold_id, delivery = held["pending_holds"][0], held["deliveries"][0]["delivery"]
    (bar,) = delivery_bars(heard, delivery)
    steps = [text.split(": ", 1)[1] for text, _, _ in bar]
    assert steps == [Step.CHECK_AND_PLAN, Step.HOLD, Step.FINISH, Step.DONE]
    assert [done for _, done, _ in bar] == [0, 1, 2, 3] and bar[-1][2] == 3
    # the file checks have their own bar, advanced per file
    assert any(b[0][0].startswith(f"checking delivery {delivery}") for b in heard.values())
    # the same steps in the run's progress artifact, ended at 100%
    assert (f"staff-import {delivery}: {Step.DONE}", 100.0) in progress_artifacts(state)

    heard.clear()
    approved = staff_import(hold_id=hold_id, approve=True, return_state=True)
    assert approved.name == "Completed", approved.message
    (bar,) = delivery_bars(heard, delivery)
    # the stored change set applied as held: nothing to check or plan again
    assert [text.split(": ", 1)[1] for text, _, _ in bar] == [Step.APPLY, Step.FINISH, Step.DONE]
    assert [done for _, done, _ in bar] == [1, 2, 3] and bar[-1][2] == 3
    assert (f"staff-import {delivery}: {Step.DONE}", 100.0) in progress_artifacts(approved)
