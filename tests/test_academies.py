"""A region of several academies: each delivers its own AAF export into
`landing/<year>/<academy>/`, with ids that overlap; ids are scoped by academy, and a Complet
of one academy marks nobody of the other missing."""

from __future__ import annotations

import polars as pl
import pytest
from sqlalchemy import Engine

from rentree.infra import schema
from rentree.infra.frames import read_table
from rentree.infra.naming import landing_key
from rentree.infra.settings import ConfigurationError, Settings, load_settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.imports.outcome import FAMILY_IMPORT_TYPES
from rentree.tasks.imports.pending import import_pending
from tests import aaf_samples as aaf
from tests.sync_builders import NEW, NOW

REGION = Settings(
    database_url="sqlite://",
    storage_url="unused",
    academies=({"code": "09", "name": "Lille"}, {"code": "20", "name": "Amiens"}),  # type: ignore[arg-type]
)


def delivery(day: str, uai_digit: str, pupils: range, town: str) -> dict[str, bytes]:
    """One academy's family delivery; the ids (S1, E0001, R0001...) are the same in every
    academy, the UAIs and INEs (national) are not."""
    school = aaf.school("S1", f"059000{uai_digit}A", f"École {town}", ENTEcoleCommune=town)
    students = [
        aaf.student(
            f"E{n:04d}",
            f"{uai_digit}{n:09d}A",
            f"Nom{n}",
            f"Prénom{n}",
            relatives=(f"R{n:04d}",),
            birth="15/04/2017",
        )
        for n in pupils
    ]
    relatives = [aaf.relative(f"R{n:04d}", f"Nom{n}", f"Parent{n}") for n in pupils]
    return {
        aaf.name("EtabEducNat", day): aaf.document([school]),
        aaf.name("Eleve", day): aaf.document(students),
        aaf.name("PersRelEleve", day): aaf.document(relatives),
    }


def land(store: ObjectStore, academy: str, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        store.write_bytes(landing_key(NEW, name, academy), content)


def users(engine: Engine) -> pl.DataFrame:
    with engine.connect() as conn:
        return read_table(conn, schema.users).sort("external_id")


def test_academies_are_configured_as_code_name_pairs_or_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RENTREE_ACADEMIES", "09=Lille, 20=Amiens")
    assert load_settings().academy_codes() == ("09", "20")
    monkeypatch.setenv("RENTREE_ACADEMIES", '[{"code": "09", "name": "Lille"}]')
    assert load_settings().academy_codes() == (None,)  # one academy: landing/<year>/ as before
    monkeypatch.setenv("RENTREE_ACADEMIES", "09=Lille,09=Amiens")
    with pytest.raises(ConfigurationError, match="RENTREE_ACADEMIES"):
        load_settings()


def test_two_academies_with_overlapping_ids_are_kept_apart(
    engine: Engine, store: ObjectStore
) -> None:
    land(store, "09", delivery("20240902", "1", range(1, 4), "Lille"))
    land(store, "20", delivery("20240902", "2", range(1, 3), "Amiens"))
    outcomes = import_pending(
        engine, store, REGION, NEW, FAMILY_IMPORT_TYPES, run_id="first", now=NOW
    )
    assert [(o.academy, o.status) for o in outcomes] == [("09", "applied"), ("20", "applied")]
    people = users(engine)
    pupils = people.filter(pl.col("profile") == "Student")["external_id"].to_list()
    assert pupils == ["09-E0001", "09-E0002", "09-E0003", "20-E0001", "20-E0002"]
    with engine.connect() as conn:
        structures = read_table(conn, schema.structures).sort("external_id")
        relations = read_table(conn, schema.relations)
    assert structures["external_id"].to_list() == ["09-S1", "20-S1"]
    assert ("20-E0002", "20-R0002") in set(relations.iter_rows())
    assert not store.list(f"landing/{NEW}/")
    assert store.list(f"archive/{NEW}/09/20240902/") and store.list(f"archive/{NEW}/20/20240902/")

    # a later Complet of Lille without pupil 3: only Lille's pupil 3 goes missing
    land(store, "09", delivery("20240910", "1", range(1, 3), "Lille"))
    (later,) = import_pending(
        engine, store, REGION, NEW, FAMILY_IMPORT_TYPES, run_id="second", now=NOW
    )
    assert (later.academy, later.status) == ("09", "applied"), later.reason
    missing = users(engine).filter(pl.col("missing_since").is_not_null())
    assert missing.filter(pl.col("profile") == "Student")["external_id"].to_list() == ["09-E0003"]
    assert not missing.filter(pl.col("external_id").str.starts_with("20-")).height


def test_ordering_is_per_academy(engine: Engine, store: ObjectStore) -> None:
    land(store, "09", delivery("20240910", "1", range(1, 3), "Lille"))
    import_pending(engine, store, REGION, NEW, FAMILY_IMPORT_TYPES, run_id="a", now=NOW)
    # Amiens' first delivery is older than Lille's last: it is not held for Lille's order
    land(store, "20", delivery("20240902", "2", range(1, 3), "Amiens"))
    (amiens,) = import_pending(engine, store, REGION, NEW, FAMILY_IMPORT_TYPES, run_id="b", now=NOW)
    assert (amiens.academy, amiens.status) == ("20", "applied"), amiens.reason
    # while an older Lille delivery is held for good (order), in Lille's own held/ folder
    land(store, "09", delivery("20240905", "1", range(1, 4), "Lille"))
    (old,) = import_pending(engine, store, REGION, NEW, FAMILY_IMPORT_TYPES, run_id="c", now=NOW)
    assert old.academy == "09"
    assert "The Eleve delivery of 2024-09-05 is older than the one of 2024-09-10" in old.reason
    assert store.list(f"held/{NEW}/09/") and not store.list(f"held/{NEW}/20/")
    with engine.connect() as conn:
        ledger = read_table(conn, schema.feed_files)
    assert set(ledger["academy"].to_list()) == {"09", "20"}
