"""A Complet delivered again with the same records (new bytes, another extraction date) onto
the directory its last apply left changes nothing, and is planned without reading the
directory (feed states); any difference, in the records or in the directory, plans in full."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import polars as pl
from sqlalchemy import Connection, Engine, delete, event, select
from sqlalchemy.sql.base import Executable

from rentree.infra import frames, schema
from rentree.infra.arrow_reads import read_arrow
from rentree.infra.storage import ObjectStore
from tests.sync_builders import NEW, NOW
from tests.test_imports import directory, family_delivery, land, run

FIRST, AGAIN, LATER = "20240902", "20240903", "20240904"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every statement run, through the engine or as an Arrow read of committed rows
    (`infra.arrow_reads`, on a connection of its own)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    def arrow(conn: Connection, query: Executable) -> pl.DataFrame | None:
        seen.append(str(query))
        return read_arrow(conn, query)

    event.listen(engine, "before_cursor_execute", record)
    try:
        with mock.patch.object(frames, "read_arrow", arrow):
            yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def read_the_directory(seen: list[str]) -> bool:
    """Whether the plan read the people of the directory (read_directory's query)."""
    return any("users.login" in s and "FROM users" in s for s in seen)


def test_same_complete_records_again_plan_nothing_without_reading_directory(
    engine: Engine, store: ObjectStore
) -> None:
    land(store, NEW, family_delivery(FIRST, range(5), range(100, 103)))
    assert run(engine, store, NEW, FIRST).status == "applied"
    with engine.connect() as conn:
        states = conn.execute(select(schema.feed_states.c.file_type)).scalars().all()
    assert sorted(states) == ["Eleve", "EtabEducNat", "PersRelEleve"]
    before = directory(engine)

    # the same records in another order: new bytes
    land(store, NEW, family_delivery(AGAIN, range(4, -1, -1), range(102, 99, -1)))
    with statements(engine) as seen:
        again = run(engine, store, NEW, AGAIN)
    assert again.status == "applied", again.reason
    assert not any(again.counts.get(k) for k in again.counts if k != "change_log"), again.counts
    assert not read_the_directory(seen)
    after = directory(engine)
    for name in before:
        assert before[name].equals(after[name]), name


def test_full_plan_agrees_when_the_state_is_gone(engine: Engine, store: ObjectStore) -> None:
    land(store, NEW, family_delivery(FIRST, range(5), range(100, 103)))
    assert run(engine, store, NEW, FIRST).status == "applied"
    with engine.begin() as conn:
        conn.execute(delete(schema.feed_states))
    land(store, NEW, family_delivery(AGAIN, range(4, -1, -1), range(102, 99, -1)))
    with statements(engine) as seen:
        again = run(engine, store, NEW, AGAIN)
    assert read_the_directory(seen)
    assert not any(again.counts.get(k) for k in again.counts if k != "change_log"), again.counts


def test_changed_records_or_moved_directory_plan_in_full(
    engine: Engine, store: ObjectStore
) -> None:
    land(store, NEW, family_delivery(FIRST, range(5), range(100, 103)))
    assert run(engine, store, NEW, FIRST).status == "applied"
    # one pupil fewer: a different digest, the full plan marks her and her parent missing
    land(store, NEW, family_delivery(AGAIN, range(4), range(100, 103)))
    with statements(engine) as seen:
        fewer = run(engine, store, NEW, AGAIN)
    assert read_the_directory(seen)
    assert fewer.counts["users_missing"] == 2, fewer.counts
    # the directory moves after that apply (a person's name edited): the same records as
    # the last apply are planned in full again, and the edit is put back from the feed
    with engine.begin() as conn:
        conn.execute(
            schema.users.update()
            .where(schema.users.c.external_id == "E0001")
            .values(last_name="Edited")
        )
        conn.execute(schema.change_log.insert().values(**_log_row()))
    land(store, NEW, family_delivery(LATER, range(3, -1, -1), range(100, 103)))
    with statements(engine) as seen:
        later = run(engine, store, NEW, LATER)
    assert read_the_directory(seen)
    assert later.counts["users_updated"] == 1, later.counts


def _log_row() -> dict[str, object]:
    return {
        "run_id": "manual-edit",
        "at": NOW,
        "entity": "user",
        "entity_id": "E0001",
        "operation": "update",
        "before": {"last_name": "Nom1"},
        "after": {"last_name": "Edited"},
    }
