"""R12: a school's entry level present last year and absent this year is on the late-entry
watch until its pupils arrive."""

from __future__ import annotations

from sqlalchemy import Engine, select

from rentree.infra import schema
from rentree.tasks.rules.late_entries import late_entry_watch
from tests.sync_builders import CLOSING, LATER, NEW, NOW, add_class, add_structures, add_students

MATERNELLE = "0590001A"  # TPS and PS last year: entry level TPS
ELEMENTAIRE = "0590002B"  # entry level CP
RPI_LEVEL_2 = "0590003C"  # RPI school starting at CE2: entry level CE2
COMPLETE = "0590004D"  # its entry level is back this year: not late
NOT_YET = "0590005E"  # no pupil at all this year yet: not watched


def watch_rows(engine: Engine) -> dict[tuple[str, str], bool]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.late_entries).where(schema.late_entries.c.school_year == NEW)
        )
        return {(r.structure_uai, r.level): r.resolved_at is None for r in rows}


def test_r12_late_entry_watch_lists_and_clears(engine: Engine) -> None:
    with engine.begin() as conn:
        add_structures(
            conn,
            [
                (MATERNELLE, "maternelle", None),
                (ELEMENTAIRE, "elementaire", None),
                (RPI_LEVEL_2, "elementaire", "RPI-7"),
                (COMPLETE, "primaire", None),
                (NOT_YET, "elementaire", None),
            ],
        )
        # last year's classes
        add_class(conn, CLOSING, MATERNELLE, "PS-TPS", "TPS,PS")
        add_class(conn, CLOSING, MATERNELLE, "GS", "GS")
        add_class(conn, CLOSING, ELEMENTAIRE, "CP", "CP")
        add_class(conn, CLOSING, RPI_LEVEL_2, "CE2", "CE2")
        add_class(conn, CLOSING, COMPLETE, "PS", "PS")
        add_class(conn, CLOSING, NOT_YET, "CP", "CP")
        # this year: pupils of every level but the entry level (except COMPLETE)
        add_students(conn, NEW, MATERNELLE, "PS-MS", "PS", 2)
        add_students(conn, NEW, ELEMENTAIRE, "CE1", "CE1", 2)
        add_students(conn, NEW, RPI_LEVEL_2, "CM1", "CM1", 2)
        add_students(conn, NEW, COMPLETE, "PS", "PS", 2)
        open_entries = late_entry_watch(conn, NEW, NOW)
    listed = set(open_entries.select("structure_uai", "level").rows())
    assert listed == {(MATERNELLE, "TPS"), (ELEMENTAIRE, "CP"), (RPI_LEVEL_2, "CE2")}
    assert watch_rows(engine) == {k: True for k in listed}
    # running again changes nothing
    with engine.begin() as conn:
        assert set(late_entry_watch(conn, NEW, LATER).select("structure_uai", "level").rows()) == (
            listed
        )
    # CP pupils arrive: the entry is resolved, the others stay
    with engine.begin() as conn:
        add_students(conn, NEW, ELEMENTAIRE, "CP", "CP", 1)
        after = late_entry_watch(conn, NEW, LATER)
    assert set(after.select("structure_uai", "level").rows()) == {
        (MATERNELLE, "TPS"),
        (RPI_LEVEL_2, "CE2"),
    }
    assert watch_rows(engine)[(ELEMENTAIRE, "CP")] is False
