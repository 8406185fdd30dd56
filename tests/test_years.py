"""School years: R7 freeze (the year's state only, nobody loses access), R9 switch record and
detection, the closing and new years."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from rentree.infra.naming import held_key
from rentree.infra.storage import ObjectStore
from rentree.tasks.rules.years import (
    advance_phase,
    current_years,
    detect_onde_switch,
    ensure_year,
    freeze_year,
    is_first_year,
    record_onde_switch,
    year_state,
)
from tests.sync_builders import CLOSING, LATER, NEW, NOW, add_structures, add_students, land
from tests.test_imports import directory


def test_r7_freeze_changes_nobodys_access(engine: Engine) -> None:
    with engine.begin() as conn:
        add_structures(conn, [("0590001A", "primaire", None)])
        add_students(conn, CLOSING, "0590001A", "CP-A", "CP", 3)
        assert current_years(conn) == (None, None)
        ensure_year(conn, CLOSING)
        assert current_years(conn) == (None, CLOSING)
        assert is_first_year(conn, CLOSING)
    before = directory(engine)
    with engine.begin() as conn:
        state = freeze_year(conn, CLOSING, NOW)
        assert state.frozen and state.phase == "frozen" and state.frozen_at is not None
        again = freeze_year(conn, CLOSING, LATER)  # freezing twice keeps the first date
        assert again.frozen_at == state.frozen_at
        assert current_years(conn) == (CLOSING, NEW)
        assert year_state(conn, NEW) is not None and not is_first_year(conn, NEW)
    after = directory(engine)
    for name in before:
        assert before[name].equals(after[name]), name


def test_r9_switch_recorded_once_and_detected(engine: Engine, store: ObjectStore) -> None:
    with engine.begin() as conn:
        freeze_year(conn, CLOSING, NOW)
        assert not detect_onde_switch(store, conn, NEW)
    # a Delta or a staff file is not the switch; a complete Eleve file is, even once held
    land(store, NEW, "Eleve", date(2024, 9, 2), mode="Delta")
    land(store, NEW, "PersEducNat", date(2024, 9, 2))
    with engine.connect() as conn:
        assert not detect_onde_switch(store, conn, NEW)
    key = land(store, NEW, "PersRelEleve", date(2024, 9, 3))
    store.move(key, held_key(NEW, key.rsplit("/", 1)[-1]))
    with engine.begin() as conn:
        assert detect_onde_switch(store, conn, NEW)
        first = record_onde_switch(conn, NEW, "detected", NOW)
        second = record_onde_switch(conn, NEW, "operator", LATER)
        assert first.switched and first.phase == "switched"
        assert (second.onde_switched_at, second.onde_switch_source) == (
            first.onde_switched_at,
            "detected",
        )
        # phases never go back
        advance_phase(conn, NEW, "staff-import")
        assert year_state(conn, NEW).phase == "switched"  # type: ignore[union-attr]
        with pytest.raises(ValueError):
            record_onde_switch(conn, NEW, "guessed", NOW)  # type: ignore[arg-type]
        # next cycle: the new year is frozen in turn and becomes the closing year
        assert freeze_year(conn, NEW, LATER).phase == "frozen"
        assert current_years(conn) == (NEW, "2025-2026")
