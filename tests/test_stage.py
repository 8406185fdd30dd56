"""Staging deliveries from landing/: hand over valid frames, or quarantine the whole
delivery with its report; the directory is never touched (feeds.md, storage.md)."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from aaf_samples import (
    HOSTILE_CASES,
    SECRET,
    document,
    hostile,
    name,
    staff,
    student,
    valid_delivery,
)
from sqlalchemy import Connection, Engine, func, insert, select

from rentree.infra import schema
from rentree.infra.naming import landing_key, landing_prefix, ledger_hash, quarantine_prefix
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.intake.landing import list_deliveries, stray_files
from rentree.tasks.intake.stage import (
    AlreadyApplied,
    Quarantined,
    StagedDelivery,
    quarantine_delivery,
    stage_delivery,
)

YEAR = "2024-2025"
DAY = "20240902"
DIRECTORY_TABLES = [
    t for t in schema.metadata.sorted_tables if t.name not in {"feed_files", "runs"}
]


def land(store: ObjectStore, files: dict[str, bytes]) -> None:
    for file_name, content in files.items():
        store.write_bytes(landing_key(YEAR, file_name), content)


def directory_rows(conn: Connection) -> dict[str, int]:
    return {t.name: conn.scalar(select(func.count()).select_from(t)) or 0 for t in DIRECTORY_TABLES}


def ledger(conn: Connection) -> list[tuple[str, str]]:
    rows = conn.execute(
        select(schema.feed_files.c.file_name, schema.feed_files.c.status).order_by(
            schema.feed_files.c.file_name
        )
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def stage(engine: Engine, store: ObjectStore, **settings: object) -> object:
    """Stage the delivery and carry a quarantine out as an import does."""
    with engine.begin() as conn:
        outcome = stage_delivery(conn, store, YEAR, DAY, Settings(**settings))  # type: ignore[arg-type]
        if isinstance(outcome, Quarantined):
            outcome = quarantine_delivery(conn, store, outcome, run_id=None, now=datetime.now(UTC))
    return outcome


def test_list_deliveries_groups_by_date_then_type_and_chunk(store: ObjectStore) -> None:
    land(
        store,
        {
            name("Eleve", "20240910", 1, "Delta"): b"x",
            name("Eleve", "20240910", 0, "Delta"): b"x",
            name("PersEducNat", "20240826"): b"x",
            name("EtabEducNat", "20240910", 0, "Delta"): b"x",
            "ENT_Complet_20240910_Enseignant_0000.xml": b"x",
            "ENT_20240910_notes.txt": b"x",
            "ficAlimMENESR.dtd": b"x",
            "notes.txt": b"x",
        },
    )
    deliveries = list_deliveries(store, YEAR)
    assert [d.delivery for d in deliveries] == ["20240826", "20240910"]
    assert [f.feed.name for f in deliveries[1].files] == [
        name("EtabEducNat", "20240910", 0, "Delta"),
        name("Eleve", "20240910", 0, "Delta"),
        name("Eleve", "20240910", 1, "Delta"),
    ]
    assert deliveries[1].strays == (landing_key(YEAR, "ENT_20240910_notes.txt"),)
    # another AAF type is set aside with its delivery; the DTD copy goes with the oldest one
    assert deliveries[1].not_used == (
        landing_key(YEAR, "ENT_Complet_20240910_Enseignant_0000.xml"),
    )
    assert deliveries[0].not_used == (landing_key(YEAR, "ficAlimMENESR.dtd"),)
    assert [k for k, _ in stray_files(store, YEAR)] == [
        landing_key(YEAR, "ENT_20240910_notes.txt"),
        landing_key(YEAR, "notes.txt"),
    ]


def test_valid_delivery_is_handed_over_untouched(engine: Engine, store: ObjectStore) -> None:
    files = valid_delivery(DAY)
    land(store, files)
    outcome = stage(engine, store)
    assert isinstance(outcome, StagedDelivery)
    assert {t: f.height for t, f in outcome.frames.items()} == {
        "EtabEducNat": 2,
        "PersEducNat": 2,
        "Eleve": 3,
        "PersRelEleve": 2,
    }
    assert outcome.complete == dict.fromkeys(outcome.frames, True)
    assert outcome.problems.is_empty()
    by_name = {f.feed.name: f for f in outcome.files}
    for file_name, content in files.items():
        assert by_name[file_name].content_hash == ledger_hash(
            None, file_name.split("_")[3], hashlib.sha256(content).hexdigest()
        )
        assert by_name[file_name].key == landing_key(YEAR, file_name)
    assert len(store.list(landing_prefix(YEAR))) == 4
    with engine.connect() as conn:
        assert sum(directory_rows(conn).values()) == 0
        assert ledger(conn) == []


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_bad_input_quarantines_the_delivery_with_its_report(
    case: str, engine: Engine, store: ObjectStore, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    bad = hostile(case, str(secret))
    land(store, bad.files)
    outcome = stage(engine, store)
    with engine.connect() as conn:
        assert sum(directory_rows(conn).values()) == 0
        statuses = ledger(conn)
    if not bad.quarantined:
        assert isinstance(outcome, StagedDelivery)
        assert bad.rule in outcome.problems["rule"].to_list()
        assert statuses == []
        return
    assert isinstance(outcome, Quarantined)
    assert "\n" not in outcome.sentence and outcome.sentence.endswith(".")
    assert store.list(landing_prefix(YEAR)) == []
    prefix = quarantine_prefix(YEAR, DAY)
    for file_name in bad.files:
        assert store.exists(prefix + file_name)
    assert outcome.report.csv_key == prefix + "validation-report.csv"
    report = pl.read_parquet(io.BytesIO(store.read_bytes(outcome.report.parquet_key)))
    assert bad.rule in report["rule"].to_list()
    assert report["message_fr"].null_count() == 0 and report["support_channel"].null_count() == 0
    named = sorted(n for n in bad.files if "Enseignant" not in n)
    assert statuses == [(n, "quarantined") for n in named]
    everything = b"".join(store.read_bytes(k) for k in store.list("quarantine/"))
    assert SECRET.encode() not in everything
    assert SECRET not in outcome.sentence


def test_formula_name_is_neutralised_in_the_csv_report(engine: Engine, store: ObjectStore) -> None:
    land(store, hostile("formula_name").files)
    outcome = stage(engine, store)
    assert isinstance(outcome, Quarantined)
    csv = store.read_bytes(outcome.report.csv_key).decode("utf-8")
    assert "'=HYPERLINK" in csv
    assert ";=HYPERLINK" not in csv


def test_already_applied_delivery_is_recognised(engine: Engine, store: ObjectStore) -> None:
    files = valid_delivery(DAY)
    land(store, files)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.feed_files),
            [
                {
                    "content_hash": ledger_hash(
                        None, file_name.split("_")[3], hashlib.sha256(content).hexdigest()
                    ),
                    "file_name": file_name,
                    "school_year": YEAR,
                    "file_type": file_name.split("_")[3],
                    "mode": "Complet",
                    "extraction_date": date(2024, 9, 2),
                    "chunk": 0,
                    "status": "applied",
                    "recorded_at": datetime.now(UTC),
                }
                for file_name, content in files.items()
            ],
        )
    outcome = stage(engine, store)
    assert isinstance(outcome, AlreadyApplied)
    assert len(outcome.keys) == 4


def test_requarantined_file_replaces_its_ledger_row(engine: Engine, store: ObjectStore) -> None:
    bad = hostile("not_xml")
    land(store, bad.files)
    assert isinstance(stage(engine, store), Quarantined)
    land(store, bad.files)
    assert isinstance(stage(engine, store), Quarantined)
    with engine.connect() as conn:
        assert len(ledger(conn)) == 4


def test_record_errors_under_the_ratio_only_drop_the_record(
    engine: Engine, store: ObjectStore
) -> None:
    files = valid_delivery(DAY)
    files[name("Eleve", DAY)] = document([student(), student("E2", ine="bad")])
    land(store, files)
    outcome = stage(engine, store, invalid_record_ratio=0.5)
    assert isinstance(outcome, StagedDelivery)
    assert outcome.frames["Eleve"]["external_id"].to_list() == ["E1"]
    assert outcome.problems["rule"].to_list() == ["ine_format"]


def test_structure_known_in_the_directory_is_accepted(engine: Engine, store: ObjectStore) -> None:
    files = valid_delivery(DAY)
    files[name("PersEducNat", DAY)] = document([staff(structs=("S1", "S9"))])
    land(store, files)
    with engine.begin() as conn:
        conn.execute(
            insert(schema.structures),
            {"external_id": "S9", "uai": "0590009K", "name": "École", "type": "primaire"},
        )
    outcome = stage(engine, store)
    assert isinstance(outcome, StagedDelivery)
    assert outcome.frames["PersEducNat"]["struct_ids"].to_list() == [["S1", "S9"]]


def test_file_checks_can_run_on_a_task_runner(engine: Engine, store: ObjectStore) -> None:
    land(store, valid_delivery(DAY))
    with ThreadPoolExecutor(max_workers=2) as pool, engine.begin() as conn:
        outcome = stage_delivery(conn, store, YEAR, DAY, Settings(), map_files=pool.map)
    assert isinstance(outcome, StagedDelivery)
    assert outcome.frames["Eleve"].height == 3
