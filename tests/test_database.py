"""The schema migrates the same way on SQLite and PostgreSQL, and init is idempotent."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, event, func, inspect, select

from rentree.infra import schema
from rentree.infra.db import directory_lock, insert_frame
from rentree.infra.engine import make_engine
from rentree.infra.errors import DatabaseError
from rentree.infra.frames import read_table, select_frame
from rentree.infra.migrate import upgrade
from rentree.infra.staging import staging_table


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert set(schema.metadata.tables) <= set(inspect(engine).get_table_names())


def test_the_migrations_at_head_create_what_the_schema_declares(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []


def test_the_migrations_go_down_to_nothing_and_up_again(tmp_path: Path) -> None:
    from alembic import command

    from rentree.infra.migrate import alembic_config

    eng = make_engine(f"sqlite:///{tmp_path / 'down.db'}")
    upgrade(eng)
    command.downgrade(alembic_config(eng), "base")
    assert set(inspect(eng).get_table_names()) == {"alembic_version"}
    upgrade(eng)
    assert set(schema.metadata.tables) <= set(inspect(eng).get_table_names())


def test_insert_frame_and_read_table_round_trip(engine: Engine) -> None:
    frame = pl.DataFrame(
        {
            "external_id": ["s1", "s2"],
            "uai": ["0590001A", "0590002B"],
            "name": ["École Jean-Moulin", "École d'Été"],
            "type": ["primaire", "maternelle"],
        }
    )
    with engine.begin() as conn:
        assert insert_frame(conn, schema.structures, frame) == 2
    with engine.connect() as conn:
        back = read_table(conn, schema.structures).sort("external_id")
    assert back.select(frame.columns).equals(frame)


def test_select_frame_reads_dates_and_flags_as_core_wrote_them(engine: Engine) -> None:
    # the driver's raw values (SQLite's date text and 0/1) come back as dates and booleans
    person = {"profile": "Student", "source": "feed", "identity": "educonnect"}
    with engine.begin() as conn:
        conn.execute(
            schema.users.insert(),
            [
                {
                    **person,
                    "external_id": "A",
                    "birth_date": date(2017, 2, 10),
                    "missing_since": None,
                },
                {
                    **person,
                    "external_id": "B",
                    "birth_date": None,
                    "missing_since": date(2024, 9, 3),
                },
            ],
        )
        conn.execute(
            schema.user_structures.insert(),
            [
                {
                    "user_external_id": "A",
                    "structure_uai": "0590001A",
                    "source": "feed",
                    "director": True,
                },
                {
                    "user_external_id": "B",
                    "structure_uai": "0590001A",
                    "source": "feed",
                    "director": False,
                },
            ],
        )
    with engine.connect() as conn:
        people = select_frame(
            conn,
            select(
                schema.users.c.external_id, schema.users.c.birth_date, schema.users.c.missing_since
            ).order_by(schema.users.c.external_id),
            {"external_id": pl.String, "birth_date": pl.Date, "missing_since": pl.Date},
        )
        links = select_frame(
            conn,
            select(
                schema.user_structures.c.user_external_id, schema.user_structures.c.director
            ).order_by(schema.user_structures.c.user_external_id),
            {"user_external_id": pl.String, "director": pl.Boolean},
        )
    assert people.rows() == [("A", date(2017, 2, 10), None), ("B", None, date(2024, 9, 3))]
    assert links.rows() == [("A", True), ("B", False)]


def _memberships(n: int, offset: int = 0) -> pl.DataFrame:
    ids = pl.int_range(offset, offset + n, eager=True).cast(pl.String)
    return pl.DataFrame({"group_id": "2025-2026:G" + ids, "user_external_id": "U" + ids})


@pytest.mark.parametrize(
    ("existing", "added", "rebuilt"),
    [(0, 120_000, True), (100_000, 120_000, True), (400_000, 120_000, False), (0, 5_000, False)],
    ids=["into-empty", "more-than-half", "a-quarter", "few-rows"],
)
def test_a_bulk_insert_into_sqlite_builds_the_indexes_after_it_when_it_adds_many_rows(
    sqlite_engine: Engine, existing: int, added: int, rebuilt: bool
) -> None:
    # the same rows and the same indexes either way; only how the indexes are built differs
    statements: list[str] = []
    with sqlite_engine.begin() as conn:
        insert_frame(conn, schema.group_members, _memberships(existing, offset=added))
    event.listen(sqlite_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with sqlite_engine.begin() as conn:
        directory_lock(conn)  # as every apply does first: the transaction is open
        insert_frame(conn, schema.group_members, _memberships(added))
    index = "ix_group_members_user_external_id"
    assert any(s.strip().startswith("DROP INDEX") and index in s for s in statements) is rebuilt
    with sqlite_engine.connect() as conn:
        assert index in {i["name"] for i in inspect(conn).get_indexes("group_members")}
        count = conn.execute(select(func.count()).select_from(schema.group_members)).scalar_one()
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT group_id FROM group_members WHERE user_external_id = 'U7'"
        ).all()
    assert count == existing + added
    assert index in str(plan)


def test_a_failed_bulk_insert_rolls_back_with_its_indexes(sqlite_engine: Engine) -> None:
    rows = _memberships(150_000)
    with pytest.raises(DatabaseError), sqlite_engine.begin() as conn:
        directory_lock(conn)
        insert_frame(conn, schema.group_members, pl.concat([rows, rows.head(1)]))
    with sqlite_engine.connect() as conn:
        names = {i["name"] for i in inspect(conn).get_indexes("group_members")}
        count = conn.execute(select(func.count()).select_from(schema.group_members)).scalar_one()
    assert "ix_group_members_user_external_id" in names
    assert count == 0


def test_staging_table_joins_with_the_directory(engine: Engine) -> None:
    with engine.begin() as conn:
        insert_frame(
            conn,
            schema.structures,
            pl.DataFrame(
                {"external_id": ["s1"], "uai": ["0590001A"], "name": ["A"], "type": ["primaire"]}
            ),
        )
        staged = staging_table(
            conn, "probe", pl.DataFrame({"uai": ["0590001A", "0599999Z"]}), ["uai"]
        )
        found = (
            conn.execute(
                select(schema.structures.c.external_id).join(
                    staged, staged.c.uai == schema.structures.c.uai
                )
            )
            .scalars()
            .all()
        )
    assert found == ["s1"]


def test_cross_join_keeps_its_loop_order_on_sqlite(engine: Engine) -> None:
    """The late-entry query walks the year's classes first, then their links, then each
    pupil by key, never the region's pupils (SQLite keeps a CROSS JOIN's order)."""
    from rentree.tasks.rules.late_entries import _present_levels

    query = _present_levels("2024-2025")
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            assert "CROSS JOIN" in str(query.compile(dialect=conn.dialect))
            return
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    loops = [d for d in plan if d.startswith(("SCAN", "SEARCH"))]
    assert [d.split()[1] for d in loops] == ["classes", "user_classes", "users"], plan
    assert "PRIMARY KEY" in loops[2] or "sqlite_autoindex_users_1" in loops[2], plan


def test_directory_lock_makes_a_second_writer_wait(engine: Engine) -> None:
    import threading
    import time

    from rentree.infra.db import directory_lock

    events: list[str] = []

    def second_writer() -> None:
        with engine.begin() as conn:
            directory_lock(conn)
            events.append("second locked")

    with engine.begin() as conn:
        directory_lock(conn)
        other = threading.Thread(target=second_writer)
        other.start()
        time.sleep(0.5)
        events.append("first commits")
    other.join(timeout=30)
    assert events == ["first commits", "second locked"]


def test_a_sqlite_writer_waits_for_another_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from rentree.infra.db import directory_lock
    from rentree.infra.errors import DatabaseError
    from rentree.infra.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'locked.db'}"
    upgrade(make_engine(url))
    holder, waiter = make_engine(url), make_engine(url, lock_patience_seconds=6)
    with holder.connect() as held:
        held.begin()
        directory_lock(held)
        release = threading.Timer(2.5, held.rollback)
        release.start()
        with waiter.begin() as conn:
            directory_lock(conn)  # waits for the other writer, then holds the lock
        release.join()
    assert "Waiting for the database: another run is writing" in capsys.readouterr().out
    impatient = make_engine(url, lock_patience_seconds=1)
    with holder.connect() as held:
        held.begin()
        directory_lock(held)
        locked = pytest.raises(DatabaseError, match="stayed locked by another writer")
        with locked as caught, impatient.begin() as conn:
            directory_lock(conn)
        held.rollback()
    assert caught.value.locked


def test_an_error_raised_before_the_driver_names_the_database_and_no_value(
    engine: Engine,
) -> None:
    # rows of an executemany that lack a column: SQLAlchemy refuses them itself
    rows = [
        {"external_id": "S1", "uai": "0590001A", "name": "École Jean-Moulin"},
        {"external_id": "S2"},
    ]
    with pytest.raises(DatabaseError) as refused, engine.begin() as conn:
        conn.execute(schema.structures.insert(), rows)
    said = str(refused.value)
    database = "PostgreSQL" if engine.dialect.name == "postgresql" else "SQLite"
    assert said.startswith(f"{database} refused the change on the table structures"), said
    assert "Jean-Moulin" not in said and "0590001A" not in said
