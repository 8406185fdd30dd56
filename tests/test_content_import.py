"""Content import (storage.md): bad rows rejected with their reason, the rest imported, the
same inventory twice changes nothing, and what is imported exports back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from rentree.cli import app
from rentree.contracts.content import INVENTORY_TABLES, primary_key
from rentree.infra import schema
from rentree.infra.frames import read_table
from rentree.infra.storage import LocalStore, ObjectStore
from rentree.tasks.content.export import write_export
from rentree.tasks.content.inventory.apply import ContentImport, import_content
from rentree.tasks.content.inventory.read import read_inventory
from tests.frame_builders import insert_tables

SCHOOL = "0590001A"
CLOSING_GROUP = "2023-2024:0590001A:2023-2024:0590001A:CP-A:students"


def seed_directory(engine: Engine) -> None:
    """What the feeds brought: a school, a teacher, a pupil, a closing-year scolarité group."""
    insert_tables(
        engine,
        structures={
            "external_id": ["E1"],
            "uai": [SCHOOL],
            "name": ["École"],
            "type": ["primaire"],
        },
        users={
            "external_id": ["T1", "S1"],
            "profile": ["Teacher", "Student"],
            "source": ["feed", "feed"],
            "identity": ["academic_sso", "local"],
            "login": [None, "lea.martin"],
            "first_name": ["Marc", "Léa"],
            "last_name": ["Dupont", "Martin"],
            "activation_state": ["none", "active"],
        },
        groups={
            "group_id": [CLOSING_GROUP],
            "kind": ["scolarite"],
            "school_year": ["2023-2024"],
            "structure_uai": [SCHOOL],
            "audience": ["students"],
            "name": ["CP-A élèves"],
        },
    )


def good_inventory() -> dict[str, pl.DataFrame]:
    """A small inventory where every row is acceptable (accents, a name starting with `=`)."""
    return {
        "users": pl.DataFrame(
            {
                "external_id": ["G1", "G2"],
                "profile": ["Guest", "Guest"],
                "source": ["manual", "manual"],
                "identity": ["local", "local"],
                "login": ["hélène.dubœuf", "famille.accueil"],
                "ine": [None, None],
                "first_name": ["Hélène", "=SOMME(A1)"],
                "last_name": ["Dubœuf", "Famille d'accueil"],
                "missing_since": [None, None],
            },
            schema_overrides={"ine": pl.String, "missing_since": pl.Date},
        ),
        "user_structures": pl.DataFrame(
            {"user_external_id": ["G1"], "structure_uai": [SCHOOL], "source": ["manual"]}
        ),
        "groups": pl.DataFrame(
            {
                "group_id": ["M1"],
                "kind": ["manual"],
                "school_year": [None],
                "structure_uai": [None],
                "class_external_id": [None],
                "audience": [None],
                "name": ["Chorale de l'école"],
                "owner_external_id": ["T1"],
            },
            schema_overrides={
                c: pl.String for c in ("school_year", "structure_uai", "class_external_id")
            }
            | {"audience": pl.String},
        ),
        "group_members": pl.DataFrame({"group_id": ["M1", "M1"], "user_external_id": ["S1", "G1"]}),
        "bookmarks": pl.DataFrame(
            {"bookmark_id": ["B1"], "owner_external_id": ["T1"], "name": ["Parents délégués"]}
        ),
        "bookmark_members": pl.DataFrame(
            {
                "bookmark_id": ["B1", "B1"],
                "member_kind": ["user", "group"],
                "member_id": ["G2", "M1"],
            }
        ),
        "resources": pl.DataFrame(
            {
                "resource_id": ["R1", "R2", "R3", "R4"],
                "owner_external_id": ["T1", "T1", "G1", "S1"],
                "app": ["documents", "messaging", "blog", "documents"],
                "area": ["own", "sent", "own", "trash"],
                "size_bytes": [1024, 0, 5_000_000_000, 7],
                "created_at": [
                    datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
                    datetime(2024, 3, 2, 10, 0, 0, 500, tzinfo=UTC),
                    None,
                    datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC),
                ],
            },
            schema_overrides={"created_at": pl.Datetime("us", "UTC")},
        ),
        "shares": pl.DataFrame(
            {
                "resource_id": ["R1", "R1", "R1", "R2", "R3"],
                "recipient_kind": ["user", "group", "bookmark", "group", "user"],
                "recipient_id": ["G1", "M1", "B1", CLOSING_GROUP, "S1"],
                "rights": ["read", "contrib", "manage", "read", "read"],
            }
        ),
    }


def write_inventory(
    folder: Path, tables: dict[str, pl.DataFrame], fmt: str = "parquet", sep: str = ","
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "parquet":
            frame.write_parquet(folder / f"{name}.parquet")
        else:
            frame.write_csv(folder / f"{name}.csv", separator=sep)
    return folder


def run_import(
    engine: Engine, folder: Path, store: ObjectStore, dry_run: bool = False
) -> ContentImport:
    inventory = read_inventory(folder)
    with engine.begin() as conn:
        return import_content(conn, store, inventory, dry_run=dry_run)


def counts(outcome: ContentImport) -> dict[str, tuple[int, int, int, int]]:
    return {t.table: (t.imported, t.updated, t.unchanged, t.rejected) for t in outcome.tables}


def local_store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "storage")
    store.ensure_layout()
    return store


def imported_good_inventory(engine: Engine, tmp_path: Path) -> tuple[LocalStore, Path]:
    """The directory seeded and the good inventory imported once: the store and the folder
    the inventory was read from."""
    seed_directory(engine)
    store = local_store(tmp_path)
    folder = write_inventory(tmp_path / "inv", good_inventory())
    run_import(engine, folder, store)
    return store, folder


def table_rows(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(schema.metadata.tables[name])
            ).scalar_one()
        )


def test_content_import_then_export_round_trips_the_rows(engine: Engine, tmp_path: Path) -> None:
    seed_directory(engine)
    inventory = good_inventory()
    outcome = run_import(
        engine, write_inventory(tmp_path / "inv", inventory), local_store(tmp_path)
    )
    assert outcome.rejected == 0, outcome.rejects.to_dicts()
    with engine.connect() as conn:
        write_export(conn, tmp_path / "out")
    for name, frame in inventory.items():
        exported = pl.read_parquet(tmp_path / "out" / f"{name}.parquet")
        if name == "users":
            exported = exported.filter(pl.col("profile") == "Guest")
        if name == "groups":
            exported = exported.filter(pl.col("kind") == "manual")
        key = primary_key(name)
        assert exported.select(frame.columns).sort(key).equals(frame.sort(key)), name


def test_importing_the_same_inventory_twice_adds_nothing(engine: Engine, tmp_path: Path) -> None:
    seed_directory(engine)
    folder = write_inventory(tmp_path / "inv", good_inventory())
    store = local_store(tmp_path)
    first = run_import(engine, folder, store)
    sizes = {name: table_rows(engine, name) for name in INVENTORY_TABLES}
    second = run_import(engine, folder, store)
    assert {name: table_rows(engine, name) for name in INVENTORY_TABLES} == sizes
    assert all(
        imported == 0 and updated == 0 for imported, updated, _, _ in counts(second).values()
    )
    assert {t: c[2] for t, c in counts(second).items()} == {
        t: c[0] for t, c in counts(first).items()
    }


def test_a_changed_row_updates_the_directory(engine: Engine, tmp_path: Path) -> None:
    seed_directory(engine)
    inventory = good_inventory()
    store = local_store(tmp_path)
    run_import(engine, write_inventory(tmp_path / "one", inventory), store)
    inventory["resources"] = inventory["resources"].with_columns(
        pl.when(pl.col("resource_id") == "R1")
        .then(2048)
        .otherwise(pl.col("size_bytes"))
        .alias("size_bytes")
    )
    inventory["shares"] = inventory["shares"].with_columns(pl.lit("read").alias("rights"))
    outcome = run_import(engine, write_inventory(tmp_path / "two", inventory), store)
    assert counts(outcome)["resources"] == (0, 1, 3, 0)
    assert counts(outcome)["shares"] == (0, 2, 3, 0)
    with engine.connect() as conn:
        resources = read_table(conn, schema.resources)
        shares = read_table(conn, schema.shares)
    assert resources.filter(pl.col("resource_id") == "R1")["size_bytes"].item() == 2048
    assert set(shares["rights"]) == {"read"}


def bad_inventory() -> dict[str, pl.DataFrame]:
    tables = good_inventory()
    tables["users"] = pl.concat(
        [
            tables["users"],
            pl.DataFrame(
                {
                    "external_id": ["T9", "G3", "G4"],
                    "profile": ["Teacher", "Guest", "Guest"],
                    "source": ["manual", "manual", "manual"],
                    "identity": ["local", "local", "local"],
                    "login": ["t.neuf", "lea.martin", None],
                }
            ),
        ],
        how="diagonal_relaxed",
    )
    tables["groups"] = pl.concat(
        [
            tables["groups"],
            pl.DataFrame(
                {
                    "group_id": ["2024-2025:0590001A:all"],
                    "kind": ["scolarite"],
                    "name": ["École"],
                    "owner_external_id": ["T1"],
                }
            ),
        ],
        how="diagonal_relaxed",
    )
    tables["resources"] = pl.concat(
        [
            tables["resources"],
            pl.DataFrame(
                {
                    "resource_id": ["R5", "R6", "R7", "R8", "R8"],
                    "owner_external_id": ["NOBODY", "T1", "T1", "T1", "T1"],
                    "app": ["documents", "documents", "messaging", "documents", "documents"],
                    "area": ["own", "own", "own", "own", "trash"],
                    "size_bytes": [1, -5, 1, 1, 1],
                }
            ),
        ],
        how="diagonal_relaxed",
    )
    tables["shares"] = pl.concat(
        [
            tables["shares"],
            pl.DataFrame(
                {
                    "resource_id": ["R2", "R6", "R1", "R1"],
                    "recipient_kind": ["planet", "user", "group", "user"],
                    "recipient_id": ["T1", "S1", "2024-2025:0590001A:CM2:students", "S1"],
                    "rights": ["read", "read", "read", "own"],
                }
            ),
        ]
    )
    return tables


EXPECTED_REJECTS = {
    ("users", 3): "profile Teacher accounts come from the academic feeds",
    ("users", 4): "login lea.martin is already the login of S1",
    ("groups", 2): "kind scolarite cannot be imported: scolarité groups are made by rentree",
    ("resources", 5): "unknown owner NOBODY",
    ("resources", 6): "size_bytes -5 is negative",
    ("resources", 7): "area own does not exist in app messaging",
    ("resources", 8): "resource_id R8 appears on rows 8, 9 with different values",
    ("resources", 9): "resource_id R8 appears on rows 8, 9 with different values",
    ("shares", 6): "recipient_kind planet is not one of user, group, bookmark",
    ("shares", 7): "resource R6 was rejected earlier in this import",
    ("shares", 8): "unknown recipient 2024-2025:0590001A:CM2:students",
    ("shares", 9): "rights own is not one of read, contrib, manage",
}


def test_bad_rows_are_rejected_with_their_reason_and_the_rest_imported(
    engine: Engine, store: ObjectStore, tmp_path: Path
) -> None:
    seed_directory(engine)
    outcome = run_import(engine, write_inventory(tmp_path / "inv", bad_inventory()), store)
    found = {(r["table"], r["row"]): r["reason"] for r in outcome.rejects.iter_rows(named=True)}
    assert set(found) == set(EXPECTED_REJECTS)
    for where, start in EXPECTED_REJECTS.items():
        assert found[where].startswith(start), (where, found[where])
    good = good_inventory()
    assert counts(outcome)["resources"] == (good["resources"].height, 0, 0, 5)
    with engine.connect() as conn:
        resources = read_table(conn, schema.resources)
        shares = read_table(conn, schema.shares)
    assert sorted(resources["resource_id"]) == ["R1", "R2", "R3", "R4"]
    assert shares.height == good["shares"].height
    report = outcome.reports[0]
    written = pl.read_parquet(store.read_bytes(report.parquet_key))
    assert written.columns == ["table", "row", "id", "reason"]
    assert written.height == len(EXPECTED_REJECTS)
    assert b"R8;" in store.read_bytes(report.csv_key)


def test_identical_copies_keep_the_first_row(engine: Engine, tmp_path: Path) -> None:
    seed_directory(engine)
    tables = good_inventory()
    tables["shares"] = pl.concat([tables["shares"], tables["shares"].head(1)])
    outcome = run_import(engine, write_inventory(tmp_path / "inv", tables), local_store(tmp_path))
    assert outcome.rejects.select("table", "row").to_dicts() == [{"table": "shares", "row": 6}]
    assert "repeats row 1" in outcome.rejects["reason"].item()
    assert table_rows(engine, "shares") == tables["shares"].height - 1


def test_share_to_a_scolarite_group_needs_the_group_to_exist(
    engine: Engine, tmp_path: Path
) -> None:
    seed_directory(engine)
    tables = {
        "shares": pl.DataFrame(
            {
                "resource_id": ["R1", "R1"],
                "recipient_kind": ["group", "group"],
                "recipient_id": [CLOSING_GROUP, "2024-2025:0590001A:CP-B:students"],
                "rights": ["read", "read"],
            }
        ),
        "resources": good_inventory()["resources"].head(1),
    }
    outcome = run_import(engine, write_inventory(tmp_path / "inv", tables), local_store(tmp_path))
    assert counts(outcome)["shares"] == (1, 0, 0, 1)
    assert (
        outcome.rejects["reason"]
        .item()
        .startswith("unknown recipient 2024-2025:0590001A:CP-B:students")
    )


@pytest.mark.parametrize("sep", [";", ","])
def test_csv_with_either_separator_is_read(engine: Engine, tmp_path: Path, sep: str) -> None:
    seed_directory(engine)
    inventory = good_inventory()
    folder = write_inventory(tmp_path / "inv", inventory, fmt="csv", sep=sep)
    outcome = run_import(engine, folder, local_store(tmp_path))
    assert outcome.rejected == 0, outcome.rejects.to_dicts()
    assert {t: c[0] for t, c in counts(outcome).items()} == {
        name: frame.height for name, frame in inventory.items()
    }
    with engine.connect() as conn:
        users = read_table(conn, schema.users).filter(pl.col("profile") == "Guest")
        resources = read_table(conn, schema.resources)
    assert sorted(users["first_name"]) == ["=SOMME(A1)", "Hélène"]
    assert (
        resources.sort("resource_id")["created_at"].to_list()
        == inventory["resources"]["created_at"].to_list()
    )


def test_a_csv_export_imports_back_unchanged(engine: Engine, tmp_path: Path) -> None:
    store, _ = imported_good_inventory(engine, tmp_path)
    with engine.connect() as conn:
        write_export(conn, tmp_path / "out", "csv")
    assert "'=SOMME(A1)" in (tmp_path / "out" / "users.csv").read_text(encoding="utf-8")
    outcome = run_import(engine, tmp_path / "out", store)
    assert all(
        imported == 0 and updated == 0 for imported, updated, _, _ in counts(outcome).values()
    )
    # The export also holds what the feeds brought, which an inventory may not bring.
    assert set(outcome.rejects["table"]) == {"users", "groups"}
    assert set(outcome.rejects["id"]) == {"T1", "S1", CLOSING_GROUP}


def test_dry_run_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    seed_directory(engine)
    folder = write_inventory(tmp_path / "inv", good_inventory())
    outcome = run_import(engine, folder, local_store(tmp_path), dry_run=True)
    assert counts(outcome)["shares"] == (5, 0, 0, 0)
    assert table_rows(engine, "shares") == 0
    assert table_rows(engine, "resources") == 0


def cli_env(engine: Engine, tmp_path: Path) -> dict[str, str]:
    local_store(tmp_path)  # the storage root exists, as after `rentree init`
    return {
        "RENTREE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "RENTREE_STORAGE_URL": str(tmp_path / "storage"),
    }


def test_cli_exit_status_says_whether_rows_were_rejected(engine: Engine, tmp_path: Path) -> None:
    seed_directory(engine)
    env = cli_env(engine, tmp_path)
    runner = CliRunner()
    good = write_inventory(tmp_path / "good", good_inventory())
    done = runner.invoke(app, ["content", "import", str(good)], env=env)
    assert done.exit_code == 0, done.output
    assert "shares" in done.output
    bad = write_inventory(tmp_path / "bad", bad_inventory())
    rejected = runner.invoke(app, ["content", "import", str(bad)], env=env)
    assert rejected.exit_code == 1, rejected.output
    assert "size_bytes -5 is negative" in rejected.output


def test_cli_unusable_inventory_exits_2_with_one_sentence(engine: Engine, tmp_path: Path) -> None:
    env = cli_env(engine, tmp_path)
    runner = CliRunner()
    missing = runner.invoke(app, ["content", "import", str(tmp_path / "nowhere")], env=env)
    assert missing.exit_code == 2
    assert "is not a folder" in missing.output
    folder = tmp_path / "inv"
    folder.mkdir()
    pl.DataFrame({"resource_id": ["R1"], "app": ["documents"]}).write_csv(folder / "resources.csv")
    lacking = runner.invoke(app, ["content", "import", str(folder)], env=env)
    assert lacking.exit_code == 2
    assert "lacks the column(s) owner_external_id, area, size_bytes" in lacking.output
    (folder / "resources.csv").write_bytes(b"resource_id;owner_external_id\n\xff\xfe;x\n")
    unreadable = runner.invoke(app, ["content", "import", str(folder)], env=env)
    assert unreadable.exit_code == 2
    assert table_rows(engine, "resources") == 0


def test_reports_go_under_the_school_year_the_directory_is_in(
    engine: Engine, tmp_path: Path
) -> None:
    seed_directory(engine)
    with engine.begin() as conn:
        conn.execute(schema.school_years.insert().values(school_year="2019-2020", phase="open"))
    folder = write_inventory(tmp_path / "inv", good_inventory())
    outcome = run_import(engine, folder, local_store(tmp_path))
    assert all(r.csv_key.startswith("reports/2019-2020/content-import/") for r in outcome.reports)
