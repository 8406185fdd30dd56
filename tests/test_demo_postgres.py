"""`rentree demo --database-url`: the tiny region's whole timeline on PostgreSQL, through real
Prefect flow runs, its directory in that database (no SQLite file made); a second demo on the
same database is refused and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from rentree.flows.demo import DemoFolderError, run_demo
from rentree.infra.db import truncate_all
from rentree.infra.schema import runs, users


def _count(engine: Engine, column: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count(column))).scalar_one())  # type: ignore[arg-type]


def test_tiny_demo_runs_on_postgresql_and_a_second_is_refused(
    postgres_engine: Engine,
    prefect_harness: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with postgres_engine.begin() as conn:
        truncate_all(conn)
    # run_demo points the flows at its workspace through the environment: restored after
    for name in ("RENTREE_DATABASE_URL", "RENTREE_STORAGE_URL", "RENTREE_ACADEMIES"):
        monkeypatch.setenv(name, "")
    url = postgres_engine.url.render_as_string(hide_password=False)

    summary = run_demo(tmp_path / "demo", "tiny", database_url=url)

    assert {row["status"] for row in summary.steps} == {"completed"}, summary.steps
    flows = {row["flow"] for row in summary.steps} - {"-", "content import"}
    with postgres_engine.connect() as conn:
        recorded = set(conn.execute(select(runs.c.flow).distinct()).scalars())
    assert flows <= recorded
    people = _count(postgres_engine, users.c.external_id)
    assert people > 0
    assert not list((tmp_path / "demo").glob("*.db"))

    recorded_runs = _count(postgres_engine, runs.c.run_id)
    with pytest.raises(DemoFolderError, match="already holds a rentree directory"):
        run_demo(tmp_path / "again", "tiny", database_url=url)
    assert _count(postgres_engine, runs.c.run_id) == recorded_runs
    assert _count(postgres_engine, users.c.external_id) == people
