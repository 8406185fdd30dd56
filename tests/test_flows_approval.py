"""A held delivery pauses its run with the approval form; the operator's answer through the
flow's input applies it (or the timeout leaves the hold pending)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flows_harness import flow_store  # noqa: F401
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.flow_runs import resume_flow_run
from sqlalchemy import Engine, select

from rentree.flows.family_import import family_import
from rentree.flows.freeze import freeze
from rentree.flows.staff_import import staff_import
from rentree.infra.schema import holds
from rentree.infra.settings import load_settings
from rentree.infra.storage import LocalStore
from rentree.infra.workspace import open_workspace
from rentree.synthetic import generate_region
from rentree.synthetic.landing import land_delivery

pytestmark = pytest.mark.flows


def _paused_run(name_part: str, timeout: float = 90) -> FlowRun:
    """The staff-import run once it waits in Paused (polled: it runs in another thread)."""
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=name_part))
            )
            paused = [r for r in runs if r.state and r.state.type == StateType.PAUSED]
            if paused:
                return paused[0]
            time.sleep(0.5)
    raise AssertionError(f"no paused run named like {name_part!r} within {timeout} s")


def test_held_delivery_approved_through_the_form(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    region = generate_region("tiny", tmp_path / "region")
    manifest: dict[str, Any] = region.manifest
    closing = manifest["closing_year"]
    first_year, staff_first = (d["delivery"] for d in manifest["deliveries"][:2])
    ws = open_workspace(load_settings())
    land_delivery(ws.store, region.out, manifest, first_year)
    staff_import(year=closing, wait_for_approval=False)
    family_import(year=closing, wait_for_approval=False)
    freeze(year=closing)
    land_delivery(ws.store, region.out, manifest, staff_first)
    ws.engine.dispose()
    # Zero thresholds: the new year's first staff file (one leaver) is held.
    monkeypatch.setenv("RENTREE_HOLD_REGION_MISSING_RATIO", "0")
    monkeypatch.setenv("RENTREE_HOLD_SCHOOL_MIN_PEOPLE", "0")

    outcome: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: outcome.update(staff_import()), daemon=True)
    runner.start()
    paused = _paused_run("staff-import")
    with engine.connect() as conn:
        pending = conn.execute(select(holds.c.status)).scalars().all()
    assert pending == ["pending"]
    resume_flow_run(
        paused.id,
        run_input={
            "decision": "approve",
            "approver": "Claire Martin",
            "comment": "checked with the DSDEN",
        },
    )
    runner.join(timeout=120)

    assert outcome["status"] == "completed", outcome
    assert outcome["applied"] == 1
    assert outcome["decisions"][0]["decision"] == "approved"
    with engine.connect() as conn:
        decided = conn.execute(select(holds.c.status, holds.c.decided_by)).one()
    assert decided.status == "approved"
    assert "checked with the DSDEN" in decided.decided_by
    assert decided.decided_by.startswith("Claire Martin")
    # The same hold id again: already decided, the run fails at once in one sentence.
    again = staff_import(hold_id=decided_hold_id(engine), approve=True, return_state=True)
    assert again.is_failed() and "already approved" in again.message


def decided_hold_id(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(holds.c.hold_id)).scalar_one())
