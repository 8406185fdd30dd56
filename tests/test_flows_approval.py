"""A held delivery pauses its run with the approval form; the operator's answer through the
flow's input applies it (or the timeout leaves the hold pending)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from flows_harness import flow_store, held_staff_file, paused_run  # noqa: F401
from prefect.flow_runs import resume_flow_run
from sqlalchemy import Engine, select

from rentree.flows.staff_import import staff_import
from rentree.infra.schema import holds
from rentree.infra.storage import LocalStore

pytestmark = pytest.mark.flows


def test_held_delivery_approved_through_the_form(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Zero thresholds: the new year's first staff file (one leaver) is held.
    held_staff_file(tmp_path, monkeypatch)

    outcome: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: outcome.update(staff_import()), daemon=True)
    runner.start()
    paused = paused_run("staff-import")
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
