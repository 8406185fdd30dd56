"""A quarantine never loses its report, a stopped one is completed by the next run, and what
is not a regular file in landing/ is set aside while the rest is imported."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select

from rentree.infra import schema
from rentree.infra.naming import landing_prefix, quarantine_prefix
from rentree.infra.storage import LocalStore, ObjectStore
from rentree.tasks.imports.outcome import FAMILY_IMPORT_TYPES
from rentree.tasks.imports.pending import import_pending
from rentree.tasks.intake import stage as staging
from tests import aaf_samples as aaf
from tests.sync_builders import NEW, NOW
from tests.test_imports import SETTINGS, family_delivery, land

DAY = "20240902"


def bad_delivery() -> dict[str, bytes]:
    files = family_delivery(DAY, range(3))
    files[aaf.name("Eleve", DAY)] = b"not xml at all"
    return files


def ledger(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.feed_files.c.file_name, schema.feed_files.c.status))
        return {r.file_name: r.status for r in rows}


def stage_and_quarantine(conn: Connection, store: ObjectStore) -> None:
    """Stage the bad delivery and carry its quarantine out, as an import does."""
    outcome = staging.stage_delivery(conn, store, NEW, DAY, SETTINGS)
    assert isinstance(outcome, staging.Quarantined)
    staging.quarantine_delivery(conn, store, outcome, run_id=None, now=NOW)


def pending(engine: Engine, store: ObjectStore, run_id: str = "next"):
    return import_pending(engine, store, SETTINGS, NEW, FAMILY_IMPORT_TYPES, run_id=run_id, now=NOW)


@pytest.mark.parametrize("stopped_after_moves", [1, 3])
def test_a_stopped_quarantine_is_completed_by_the_next_run(
    engine: Engine, store: ObjectStore, monkeypatch: pytest.MonkeyPatch, stopped_after_moves: int
) -> None:
    files = bad_delivery()
    land(store, NEW, files)
    real_move = staging.move_once
    moves: list[str] = []

    def stopping(store_: ObjectStore, src: str, dst: str) -> str:
        if len(moves) == stopped_after_moves:
            raise OSError("the run stopped here")
        moves.append(dst)
        return real_move(store_, src, dst)

    monkeypatch.setattr(staging, "move_once", stopping)
    # stopped during the moves, or after them and before the commit
    with suppress(OSError), engine.connect() as conn:
        stage_and_quarantine(conn, store)  # never committed
    assert len(moves) == stopped_after_moves
    monkeypatch.undo()
    prefix = quarantine_prefix(NEW, DAY)
    # the report was written before any file moved
    assert store.exists(f"{prefix}validation-report.csv")
    assert ledger(engine) == {}
    outcomes = pending(engine, store)
    assert any("stopped before recording it" in o.reason for o in outcomes), outcomes
    assert ledger(engine) == dict.fromkeys(files, "quarantined")
    assert not store.list(landing_prefix(NEW))
    assert {k.rsplit("/", 1)[-1] for k in store.list(prefix)} >= set(files)
    with engine.connect() as conn:
        assert conn.scalar(select(schema.users.c.external_id).limit(1)) is None
    # said once: a later run has nothing left to complete
    assert pending(engine, store, "later") == []


def test_a_stopped_quarantine_of_one_academy_is_completed_in_its_own_folder(
    engine: Engine, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a region of several academies the files keep their academy's folders and ledger
    rows, even when the other academy quarantined files of the very same names."""
    from tests.test_academies import REGION
    from tests.test_academies import land as land_in

    files = bad_delivery()
    for academy in ("09", "20"):
        land_in(store, academy, files)
    with engine.begin() as conn:  # Lille's quarantine completes and is recorded
        outcome = staging.stage_delivery(conn, store, NEW, DAY, REGION, academy="09")
        assert isinstance(outcome, staging.Quarantined)
        staging.quarantine_delivery(conn, store, outcome, run_id=None, now=NOW)
    real_move = staging.move_once
    moves: list[str] = []

    def stopping(store_: ObjectStore, src: str, dst: str) -> str:
        if moves:
            raise OSError("the run stopped here")
        moves.append(dst)
        return real_move(store_, src, dst)

    monkeypatch.setattr(staging, "move_once", stopping)
    with suppress(OSError), engine.connect() as conn:  # Amiens' stops after one move
        outcome = staging.stage_delivery(conn, store, NEW, DAY, REGION, academy="20")
        assert isinstance(outcome, staging.Quarantined)
        staging.quarantine_delivery(conn, store, outcome, run_id=None, now=NOW)
    monkeypatch.undo()
    outcomes = import_pending(
        engine, store, REGION, NEW, FAMILY_IMPORT_TYPES, run_id="next", now=NOW
    )
    assert any("stopped before recording it" in o.reason for o in outcomes), outcomes
    with engine.connect() as conn:
        rows = conn.execute(select(schema.feed_files.c.academy, schema.feed_files.c.status)).all()
    assert sorted(rows) == sorted([("09", "quarantined")] * 3 + [("20", "quarantined")] * 3)
    assert not store.list(landing_prefix(NEW, "20"))
    amiens = quarantine_prefix(NEW, DAY, "20")
    assert {k.rsplit("/", 1)[-1] for k in store.list(amiens)} >= set(files)


def test_a_quarantine_writes_its_report_before_moving(
    engine: Engine, store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    land(store, NEW, bad_delivery())

    def no_report(*_args: object, **_kwargs: object) -> None:
        raise OSError("storage unreachable")

    monkeypatch.setattr(staging, "write_validation_report", no_report)
    with pytest.raises(OSError), engine.begin() as conn:
        stage_and_quarantine(conn, store)
    assert store.list("quarantine/") == []  # nothing moved without its report
    assert len(store.list(landing_prefix(NEW))) == 3
    assert ledger(engine) == {}


def test_links_in_landing_are_set_aside_and_the_rest_is_imported(
    engine: Engine, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "storage")
    store.ensure_layout()
    archived = "archive/2024-2025/20240826/ENT_Complet_20240826_Eleve_0000.xml"
    store.write_bytes(archived, b"archived bytes")
    land(store, NEW, family_delivery(DAY, range(3)))
    landing = store.root / landing_prefix(NEW)
    os.symlink(store.root / archived, landing / aaf.name("Eleve", "20240826"))
    outside = tmp_path / "elsewhere.xml"
    outside.write_bytes(b"outside bytes")
    os.symlink(outside, landing / aaf.name("Eleve", "20240910"))
    outcomes = pending(engine, store)
    said = [o.reason for o in outcomes if "not a regular file" in o.reason]
    assert len(said) == 2, [o.reason for o in outcomes]
    assert [o.status for o in outcomes if o.delivery == DAY] == ["applied"]
    assert store.read_bytes(archived) == b"archived bytes"
    assert outside.read_bytes() == b"outside bytes"
    assert store.not_regular(landing_prefix(NEW)) == [] and store.list(landing_prefix(NEW)) == []
