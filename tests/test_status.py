"""`rentree status` shows each school year's phase, holds, late entries, pending attachments
and the last runs of each flow."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert
from typer.testing import CliRunner

from rentree.cli import app
from rentree.infra import schema
from rentree.tasks.content.status import directory_status
from tests.frame_builders import insert_tables

T0 = datetime(2025, 9, 1, 2, 0, tzinfo=UTC)


def _fill(engine: Engine) -> None:
    insert_tables(
        engine,
        school_years={
            "school_year": ["2024-2025", "2025-2026"],
            "phase": ["frozen", "switched"],
        },
        runs={
            "run_id": [f"n{i}" for i in range(5)] + ["f0"],
            "flow": ["nightly"] * 5 + ["freeze"],
            "school_year": ["2025-2026"] * 5 + ["2024-2025"],
            "started_at": [T0 + timedelta(days=i) for i in range(5)] + [T0],
            "status": ["completed"] * 6,
            "dry_run": [False] * 6,
        },
        holds={
            "hold_id": ["h1", "h2"],
            "school_year": ["2025-2026"] * 2,
            "kind": ["delivery", "delivery"],
            "delivery": ["20250903", "20250822"],
            "status": ["pending", "approved"],
            "reason": ["a third of 0590001A's pupils are missing", "old"],
            "created_at": [T0, T0],
        },
        late_entries={
            "school_year": ["2025-2026", "2025-2026"],
            "structure_uai": ["0590001A", "0590002B"],
            "level": ["CP", "PS"],
            "detected_at": [T0, T0],
            "resolved_at": [None, T0],
        },
    )


def test_status_lists_the_last_runs_of_each_flow(engine: Engine) -> None:
    _fill(engine)
    with engine.connect() as conn:
        report = directory_status(conn, last_runs=3)
    by_flow = [(r["flow"], r["run_id"]) for r in report["last_runs"]]
    assert by_flow == [("freeze", "f0"), ("nightly", "n4"), ("nightly", "n3"), ("nightly", "n2")]


def test_status_shows_pending_holds_and_open_late_entries_only(engine: Engine) -> None:
    _fill(engine)
    with engine.connect() as conn:
        years = {y["school_year"]: y for y in directory_status(conn)["school_years"]}
    assert [h["hold_id"] for h in years["2025-2026"]["holds_pending"]] == ["h1"]
    assert years["2025-2026"]["late_entries"] == [{"uai": "0590001A", "level": "CP"}]
    assert years["2024-2025"]["phase"] == "frozen"


@pytest.mark.parametrize("as_json", [True, False])
def test_status_command_prints_the_directory(tmp_path: Path, as_json: bool) -> None:
    env = {
        "RENTREE_DATABASE_URL": f"sqlite:///{tmp_path / 'rentree.db'}",
        "RENTREE_STORAGE_URL": str(tmp_path / "storage"),
    }
    assert CliRunner().invoke(app, ["init"], env=env).exit_code == 0
    result = CliRunner().invoke(app, ["status", *(["--json"] if as_json else [])], env=env)
    assert result.exit_code == 0, result.output
    if as_json:
        assert json.loads(result.output)["school_years"] == []
    else:
        assert "Last runs of each flow" in result.output


def test_status_shows_dry_runs_and_undos_as_such(engine: Engine, tmp_path: Path) -> None:
    from sqlalchemy import insert

    from rentree.tasks.rules.years import advance_phase, step_back_phase

    with engine.begin() as conn:
        conn.execute(
            insert(schema.runs),
            [
                {"run_id": "p1", "flow": "share-purge", "school_year": "2024-2025",
                 "started_at": T0, "status": "completed", "dry_run": True, "summary": {}},
                {"run_id": "p2", "flow": "share-purge", "school_year": "2024-2025",
                 "started_at": T0 + timedelta(hours=1), "status": "completed",
                 "dry_run": False, "summary": {}},
                {"run_id": "p3", "flow": "share-purge", "school_year": "2024-2025",
                 "started_at": T0 + timedelta(hours=2), "status": "completed",
                 "dry_run": False, "summary": {"undone_run": "p2"}},
            ],
        )  # fmt: skip
        advance_phase(conn, "2025-2026", "purged")
        step_back_phase(conn, "2025-2026", "purged")  # what the undo of p2 does
    with engine.connect() as conn:
        report = directory_status(conn)
    kinds = {r["run_id"]: r["kind"] for r in report["last_runs"]}
    assert kinds == {"p1": "dry run", "p2": "run", "p3": "undo of p2"}
    assert report["school_years"][0]["phase"] == "family-import"
    env = {
        "RENTREE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "RENTREE_STORAGE_URL": str(tmp_path / "storage"),
    }
    assert CliRunner().invoke(app, ["init"], env=env).exit_code == 0
    shown = CliRunner().invoke(app, ["status"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "dry run" in shown.output and "undo of p2" in shown.output


def test_status_shows_failed_deliveries_and_holds_under_their_academy(engine: Engine) -> None:
    """In a region of several academies, the same delivery date of two academies is two
    deliveries: each is shown under its academy, and a hold names its academy."""
    _fill(engine)
    insert_tables(
        engine,
        feed_files={
            "content_hash": ["a" * 64, "b" * 64, "c" * 64],
            "file_name": ["ENT_Complet_20250902_Eleve_0000.xml"] * 2
            + ["ENT_Complet_20250902_PersRelEleve_0000.xml"],
            "school_year": ["2025-2026"] * 3,
            "file_type": ["Eleve", "Eleve", "PersRelEleve"],
            "mode": ["Complet"] * 3,
            "extraction_date": [date(2025, 9, 2)] * 3,
            "chunk": [0, 0, 0],
            "status": ["failed"] * 3,
            "recorded_at": [T0] * 3,
            "reason": ["Lille's apply failed."] + ["Amiens' apply failed."] * 2,
            "academy": ["09", "20", "20"],
        },
    )
    with engine.begin() as conn:
        conn.execute(
            insert(schema.holds).values(
                hold_id="h20",
                school_year="2025-2026",
                kind="delivery",
                delivery="20250903",
                status="pending",
                reason="Too many pupils missing in Amiens.",
                summary={"academy": "20"},
                created_at=T0,
            )
        )
        years = {y["school_year"]: y for y in directory_status(conn)["school_years"]}
    failed = years["2025-2026"]["failed_deliveries"]
    assert [(f["academy"], f["types"], f["reason"]) for f in failed] == [
        ("09", ["Eleve"], "Lille's apply failed."),
        ("20", ["Eleve", "PersRelEleve"], "Amiens' apply failed."),
    ]
    held = {h["hold_id"]: h["academy"] for h in years["2025-2026"]["holds_pending"]}
    assert held == {"h1": None, "h20": "20"}
