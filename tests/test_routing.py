"""Routing of deliveries: R7 (frozen year held), R9 (no family file before the switch), the
freeze rule, extraction-date order, and the release of held files."""

from __future__ import annotations

from datetime import date

import polars as pl
from sqlalchemy import Engine, select

from rentree.infra import schema
from rentree.infra.db import insert_frame
from rentree.infra.frames import select_frame
from rentree.infra.naming import held_key, landing_prefix, ledger_hash
from rentree.infra.storage import ObjectStore, sha256_of
from rentree.tasks.intake.routing import hold_files, move_files, release_held, route_delivery
from rentree.tasks.rules.years import (
    current_years,
    detect_onde_switch,
    ensure_year,
    freeze_year,
    record_onde_switch,
)
from tests.sync_builders import CLOSING, LATER, NEW, NOW, land

FAMILY = ("EtabEducNat", "Eleve", "PersRelEleve")


def held_rows(engine: Engine) -> pl.DataFrame:
    files = schema.feed_files.c
    query = select(files.file_name, files.status, files.held_rule, files.reason)
    with engine.connect() as conn:
        return select_frame(
            conn,
            query.order_by(files.file_name),
            dict.fromkeys(("file_name", "status", "held_rule", "reason"), pl.String),
        )


def hold(engine: Engine, store: ObjectStore, year: str, delivery: str, types: tuple[str, ...]):
    with engine.begin() as conn:
        route = route_delivery(conn, store, year, delivery, types)
        report, moves = hold_files(conn, store, route, "run-1", NOW)
    move_files(store, moves)
    return route, report


def test_r7_frozen_year_files_are_held(engine: Engine, store: ObjectStore) -> None:
    with engine.begin() as conn:
        freeze_year(conn, CLOSING, NOW)
        assert current_years(conn) == (CLOSING, NEW)
    key = land(store, CLOSING, "PersEducNat", date(2024, 7, 8))
    route, report = hold(engine, store, CLOSING, "20240708", ("PersEducNat",))
    assert route.action == "hold"
    assert route.apply_types == ()
    assert [h.rule for h in route.held] == ["R7"]
    assert "frozen (R7)" in (route.reason or "")
    assert report.height == 1
    rows = held_rows(engine)
    assert rows["status"].to_list() == ["held"]
    assert rows["held_rule"].to_list() == ["R7"]
    assert "frozen" in rows["reason"][0]
    assert not store.exists(key)
    assert store.exists(held_key(CLOSING, key.rsplit("/", 1)[-1]))
    # a frozen year's files are never released, whatever else happens
    with engine.begin() as conn:
        record_onde_switch(conn, NEW, "operator", LATER)
        _, moves = release_held(conn, store, CLOSING, LATER)
    assert moves == []
    assert store.list(landing_prefix(CLOSING)) == []


def test_r9_no_family_file_before_switch(engine: Engine, store: ObjectStore) -> None:
    with engine.begin() as conn:
        ensure_year(conn, CLOSING)
        freeze_year(conn, CLOSING, NOW)
    day = date(2024, 9, 2)
    for file_type in ("PersEducNat", *FAMILY):
        land(store, NEW, file_type, day)
    with engine.connect() as conn:
        assert detect_onde_switch(store, conn, NEW)  # a complete Eleve file is there
    route, _ = hold(engine, store, NEW, "20240902", ("PersEducNat", *FAMILY))
    assert route.apply_types == ("EtabEducNat", "PersEducNat")
    assert {h.file_type: h.rule for h in route.held} == {"Eleve": "R9", "PersRelEleve": "R9"}
    landed = {k.rsplit("_", 2)[-2] for k in store.list(landing_prefix(NEW))}
    assert landed == {"EtabEducNat", "PersEducNat"}
    # nothing released before the switch
    with engine.begin() as conn:
        _, moves = release_held(conn, store, NEW, LATER)
    assert moves == []
    with engine.begin() as conn:
        assert detect_onde_switch(store, conn, NEW)  # still found in held/
        record_onde_switch(conn, NEW, "detected", LATER)
        _, moves = release_held(conn, store, NEW, LATER)
    move_files(store, moves)
    landed = {k.rsplit("_", 2)[-2] for k in store.list(landing_prefix(NEW))}
    assert landed == {"EtabEducNat", "PersEducNat", "Eleve", "PersRelEleve"}
    assert held_rows(engine).is_empty()
    with engine.connect() as conn:
        again = route_delivery(conn, store, NEW, "20240902", FAMILY)
    assert again.action == "apply" and again.held == ()


def test_first_year_is_simply_imported(engine: Engine, store: ObjectStore) -> None:
    land(store, NEW, "Eleve", date(2024, 9, 2))
    with engine.connect() as conn:
        route = route_delivery(conn, store, NEW, "20240902", ("Eleve", "PersRelEleve"))
    assert route.action == "apply" and route.held == ()


def test_new_year_waits_for_the_freeze(engine: Engine, store: ObjectStore) -> None:
    with engine.begin() as conn:
        ensure_year(conn, CLOSING)
    land(store, NEW, "PersEducNat", date(2024, 8, 26))
    route, _ = hold(engine, store, NEW, "20240826", ("PersEducNat",))
    assert [h.rule for h in route.held] == ["freeze"]
    with engine.begin() as conn:
        freeze_year(conn, CLOSING, LATER)
        _, moves = release_held(conn, store, NEW, LATER)
    move_files(store, moves)
    assert len(store.list(landing_prefix(NEW))) == 1


def test_ordering_older_delivery_is_held(engine: Engine, store: ObjectStore) -> None:
    with engine.begin() as conn:
        ensure_year(conn, NEW)
    applied = land(store, NEW, "PersEducNat", date(2024, 9, 1), content=b"<newer/>")
    with engine.begin() as conn:
        insert_frame(
            conn,
            schema.feed_files,
            pl.DataFrame(
                [
                    {
                        "content_hash": ledger_hash(None, "PersEducNat", sha256_of(store, applied)),
                        "file_name": applied.rsplit("/", 1)[-1],
                        "school_year": NEW,
                        "file_type": "PersEducNat",
                        "mode": "Complet",
                        "extraction_date": date(2024, 9, 1),
                        "chunk": 0,
                        "status": "applied",
                        "run_id": "run-0",
                        "recorded_at": NOW,
                    }
                ]
            ),
        )
    store.delete(applied)
    older = land(store, NEW, "PersEducNat", date(2024, 8, 28), content=b"<older/>")
    route, _ = hold(engine, store, NEW, "20240828", ("PersEducNat",))
    assert [h.rule for h in route.held] == ["order"]
    assert "never be applied" in (route.reason or "")
    assert not store.exists(older)
    # the same delivery date or a newer one applies; an older one never comes back
    with engine.connect() as conn:
        assert route_delivery(conn, store, NEW, "20240901", ("PersEducNat",)).action == "apply"
        assert route_delivery(conn, store, NEW, "20240905", ("PersEducNat",)).action == "apply"
    with engine.begin() as conn:
        record_onde_switch(conn, NEW, "operator", LATER)
        _, moves = release_held(conn, store, NEW, LATER)
    assert moves == []
    # an old file already applied (a plain re-run) is not held: it is skipped downstream
    land(store, NEW, "PersEducNat", date(2024, 8, 20), content=b"<newer/>")
    with engine.connect() as conn:
        assert route_delivery(conn, store, NEW, "20240820", ("PersEducNat",)).action == "apply"
