"""retire-missing through real Prefect flow runs: the notice run, a dry run that changes
nothing, a run held above the threshold and approved by its id, one approved through its form
(the approver recorded), an undo, the deployment's nightly schedule and parameter form."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flows_harness import flow_store, paused_run  # noqa: F401
from prefect.flow_runs import resume_flow_run
from prefect.utilities.callables import parameter_schema
from sqlalchemy import Engine, select

from rentree.flows.deployments import build_deployments
from rentree.flows.retire_missing import retire_missing
from rentree.flows.storage_report import storage_report
from rentree.infra.schema import holds
from rentree.infra.settings import load_settings
from rentree.infra.storage import LocalStore
from rentree.tasks.rules.holds import get_hold
from rentree.tasks.rules.years import ensure_year
from tests.content_builders import NEW, U1, insert_content
from tests.retirement_builders import days_after_mark, directory, retirement_region

pytestmark = pytest.mark.flows


def test_retire_missing_approved_through_the_form_records_the_approver(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with engine.begin() as conn:
        insert_content(conn, retirement_region())
        ensure_year(conn, NEW)
    retire_missing(year=NEW, today=days_after_mark(90))  # the notice, 14 days before
    monkeypatch.setenv("RENTREE_HOLD_SCHOOL_MIN_PEOPLE", "1")  # 2 of a handful: held
    outcome: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: outcome.update(retire_missing(year=NEW, today=days_after_mark(104))),
        daemon=True,
    )
    runner.start()
    resume_flow_run(
        paused_run("retire-missing").id,
        run_input={"decision": "approve", "approver": "Claire Martin", "comment": "seen"},
    )
    runner.join(timeout=120)
    assert outcome["status"] == "completed" and outcome["deactivated"] == 2, outcome
    with engine.connect() as conn:
        decided = conn.execute(select(holds.c.status, holds.c.decided_by)).one()
    assert decided.status == "approved" and decided.decided_by.startswith("Claire Martin")


def test_retire_missing_flow_notice_hold_approve_undo(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with engine.begin() as conn:
        insert_content(conn, retirement_region())
        ensure_year(conn, NEW)  # a flow's year is one the directory holds
    noticed = retire_missing(year=NEW, today=days_after_mark(90))
    assert noticed["status"] == "completed" and noticed["notices_recorded"] == 2
    assert noticed["deactivated"] == 0
    assert any(key.endswith("retirement-notice.csv") for key in noticed["reports"])
    assert flow_store.exists(next(k for k in noticed["reports"] if k.endswith("notice.csv")))

    with engine.connect() as conn:
        before = directory(conn)
    preview = retire_missing(year=NEW, today=days_after_mark(104), dry_run=True)
    assert preview["deactivations"] == 2 and "deactivated" not in preview
    with engine.connect() as conn:
        assert all(frame.equals(before[name]) for name, frame in directory(conn).items())

    # every school is judged: 2 of a handful of people is above 5%
    monkeypatch.setenv("RENTREE_HOLD_SCHOOL_MIN_PEOPLE", "1")
    superseded = retire_missing(year=NEW, today=days_after_mark(104), wait_for_approval=False)
    held = retire_missing(year=NEW, today=days_after_mark(104), wait_for_approval=False)
    assert held["status"] == "held" and held["pending_holds"]
    with engine.connect() as conn:
        older = get_hold(conn, superseded["pending_holds"][0])
    assert older.status == "superseded"
    approved = retire_missing(
        year=NEW,
        today=days_after_mark(104),
        hold_id=held["pending_holds"][0],
        approve=True,
        wait_for_approval=False,
    )
    assert approved["status"] == "completed" and approved["deactivated"] == 2
    # the storage report counts the accounts in each stage, per school too
    report = storage_report()
    assert report["accounts_deactivated"] == 2
    stages_key = next(k for k in report["reports"] if k.endswith("retirement_stages.csv"))
    assert U1 in flow_store.read_bytes(stages_key).decode()

    undone = retire_missing(year=NEW, today=days_after_mark(105), undo_run_id=approved["run_id"])
    assert undone["status"] == "completed" and undone["accounts_reactivated"] == 2
    with engine.connect() as conn:
        after = directory(conn)
    assert all(frame.equals(before[name]) for name, frame in after.items())
    # an unknown run to undo is refused before any work: the run fails with the sentence
    unknown = retire_missing(undo_run_id="no-such-run", return_state=True)
    assert unknown.is_failed() and "no-such-run" in (unknown.message or "")


def test_retire_missing_deployment_runs_nightly_with_a_described_form() -> None:
    deployment = next(
        d for d in build_deployments(load_settings()) if d.flow_name == "retire-missing"
    )
    schedule = deployment.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("0 3 * * *", "Europe/Paris")
    properties = parameter_schema(retire_missing.fn).properties
    assert set(properties) >= {"today", "deactivate_after_days", "notice_days", "undo_run_id"}
    assert all(spec.get("description") for spec in properties.values()), properties
