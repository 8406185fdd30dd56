"""One dry-run mechanism (`tasks/planned.py`, `flows/run/planned.py`): for every flow that
changes something, a dry run leaves the database (every table but the run records) and the
store (everything but the run's reports) as they were, is recorded as a dry run, and reports
the same plan that the real run then applies."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from flows_harness import flow_store  # noqa: F401
from sqlalchemy import Engine, select

from rentree.flows.attach_teachers import attach_teachers
from rentree.flows.family_import import family_import
from rentree.flows.freeze import freeze
from rentree.flows.onde_switch import onde_switch
from rentree.flows.retire_missing import retire_missing
from rentree.flows.share_purge import share_purge
from rentree.flows.staff_import import staff_import
from rentree.infra import schema
from rentree.infra.settings import load_settings
from rentree.infra.storage import LocalStore, ObjectStore
from rentree.infra.workspace import open_workspace
from rentree.synthetic import generate_region
from rentree.synthetic.landing import land_delivery
from rentree.tasks.content.inventory.apply import import_content
from rentree.tasks.content.inventory.read import read_inventory
from rentree.tasks.rules.attachments.apply import request_attachments
from rentree.tasks.rules.attachments.decide import plan_attachments
from rentree.tasks.rules.year_plans import plan_freeze, plan_onde_switch
from rentree.tasks.rules.years import ensure_year, freeze_year, year_state

pytestmark = pytest.mark.flows

# What a flow's result says about the run rather than about its plan.
NOT_PLAN = frozenset({"reports", "message", "dry_run", "status", "run_id"})


def directory_state(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table but `runs` (a dry run is recorded as one), in a stable order."""
    with engine.connect() as conn:
        return {
            table.name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
            for table in schema.metadata.sorted_tables
            if table.name != "runs"
        }


def stored(store: ObjectStore) -> dict[str, bytes]:
    """Every object of the store but the runs' reports."""
    return {k: store.read_bytes(k) for k in store.list("") if not k.startswith("reports/")}


def recorded_as_dry_run(engine: Engine, run_id: str) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.execute(
                select(schema.runs.c.dry_run).where(schema.runs.c.run_id == run_id)
            ).scalar_one()
        )


def dry_then_real(
    engine: Engine, store: ObjectStore, flow: Callable[..., dict[str, Any]], **params: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dry run of `flow` (checked to change nothing), then the same run for real."""
    database, files = directory_state(engine), stored(store)
    dry = flow(dry_run=True, **params)
    assert dry["dry_run"] is True and dry["status"] != "rejected", dry
    assert directory_state(engine) == database
    assert stored(store) == files
    assert recorded_as_dry_run(engine, dry["run_id"])
    assert all(k.startswith("reports/") and dry["run_id"] in k for k in dry.get("reports", []))
    real = flow(**params)
    assert "dry_run" not in real and not recorded_as_dry_run(engine, real["run_id"])
    return dry, real


def same_plan(dry: dict[str, Any], real: dict[str, Any]) -> None:
    """The real run applied the plan the dry run reported."""
    plan = set(dry) - NOT_PLAN
    assert plan, dry
    assert {k: real.get(k) for k in plan} == {k: dry[k] for k in plan}


# SQLite, where a dry run's rollback has the most to undo (its driver's own transaction
# handling); the year plans below and every flow's timeline run on PostgreSQL too
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_every_rollover_flow_dry_runs_its_plan_then_applies_it(
    engine: Engine,
    flow_store: LocalStore,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no hold: each real run applies what its dry run planned
    monkeypatch.setenv("RENTREE_HOLD_SCHOOL_MIN_PEOPLE", "1000000")
    monkeypatch.setenv("RENTREE_HOLD_REGION_MISSING_RATIO", "1")
    region = generate_region("tiny", tmp_path / "region")
    manifest = region.manifest
    closing, new = manifest["closing_year"], manifest["new_year"]
    first_year, staff_first, _, family_first, _ = (d["delivery"] for d in manifest["deliveries"])
    ws = open_workspace(load_settings())

    def land(delivery: str) -> None:
        land_delivery(ws.store, region.out, manifest, delivery)

    # the imports: the dry run plans every delivery (counts of its change sets), the real
    # run applies exactly those counts
    land(first_year)
    for flow in (staff_import, family_import):
        dry, real = dry_then_real(engine, flow_store, flow, year=closing, wait_for_approval=False)
        assert real["applied"] >= 1 and real["counts"] == dry["counts"], (dry, real)

    # the content import (a command, not a flow): the same plan, nothing written
    inventory = read_inventory(region.out / "content")
    before = directory_state(engine)
    with engine.begin() as conn:
        preview = import_content(conn, flow_store, inventory, dry_run=True)
    assert directory_state(engine) == before
    with engine.begin() as conn:
        imported = import_content(conn, flow_store, inventory)
    assert preview.tables == imported.tables and sum(t.imported for t in imported.tables) > 0

    dry, real = dry_then_real(engine, flow_store, freeze, year=closing)
    same_plan(dry, real)
    snapshot = {
        k.rsplit("/", 1)[-1].removesuffix(".parquet"): pl.read_parquet(
            io.BytesIO(flow_store.read_bytes(k))
        ).height
        for k in flow_store.list(dry["snapshot"])
    }
    assert snapshot == dry["snapshot_rows"]

    land(staff_first)
    dry, real = dry_then_real(engine, flow_store, staff_import, wait_for_approval=False)
    assert real["counts"] == dry["counts"], (dry, real)

    land(family_first)
    dry, real = dry_then_real(engine, flow_store, onde_switch)
    assert dry["would_record"] and real["newly_recorded"]
    same_plan(dry, real)

    requests = pl.read_csv(region.out / manifest["attach_teachers"][new], infer_schema=False)
    dry, real = dry_then_real(engine, flow_store, attach_teachers, requests=requests.rows())
    assert dry["attached"] + dry["pending"] == requests.height
    same_plan(dry, real)

    dry, real = dry_then_real(engine, flow_store, family_import, wait_for_approval=False)
    assert real["counts"] == dry["counts"], (dry, real)

    dry, real = dry_then_real(engine, flow_store, share_purge, wait_for_approval=False)
    same_plan(dry, real)
    assert real["shares_removed"] == dry["shares"] > 0, (dry, real)
    dry, real = dry_then_real(engine, flow_store, share_purge, undo_run_id=real["run_id"])
    same_plan(dry, real)
    assert dry["journal_rows_to_undo"] >= real["shares_restored"] > 0, (dry, real)

    later = date.today() + timedelta(days=400)
    dry, real = dry_then_real(
        engine, flow_store, retire_missing, today=later, school_ratio=1.0, region_ratio=1.0
    )
    same_plan(dry, real)
    ws.engine.dispose()


def test_year_plans_read_only(engine: Engine, store: ObjectStore) -> None:
    """The freeze and the ONDE switch are planned without writing; applying them gives the
    state the plan announced."""
    with engine.begin() as conn:
        ensure_year(conn, "2024-2025")
    before = directory_state(engine)
    with engine.connect() as conn:
        frozen = plan_freeze(conn, "2024-2025", date(2025, 7, 4))
        switch = plan_onde_switch(conn, store, "2025-2026", confirm=True)
    assert directory_state(engine) == before
    assert frozen.summary()["phase"] == "frozen" and not frozen.already_frozen
    assert frozen.snapshot_key.endswith("freeze-20250704/")
    assert switch.records and switch.source == "operator"
    with engine.begin() as conn:
        state = freeze_year(conn, "2024-2025", datetime.now(UTC))
    assert state.phase == frozen.summary()["phase"]
    with engine.connect() as conn:
        assert plan_freeze(conn, "2024-2025", date(2025, 7, 5)).already_frozen
        assert year_state(conn, "2025-2026") is not None


def test_attachment_plan_is_what_applying_does(engine: Engine) -> None:
    """R10 decided without writing; the same requests applied give the same outcome."""
    with engine.begin() as conn:
        ensure_year(conn, "2025-2026")
    requests = pl.DataFrame(
        {"teacher_external_id": ["T-nobody"], "class_external_id": ["2025-2026:0590001A:CP"]}
    )
    before = directory_state(engine)
    with engine.connect() as conn:
        planned = plan_attachments(conn, requests)
    assert directory_state(engine) == before
    with engine.begin() as conn:
        applied = request_attachments(conn, requests, "run-1", datetime.now(UTC))
    assert applied.counts() == planned.summary() == {"attached": 0, "pending": 0, "refused": 1}
