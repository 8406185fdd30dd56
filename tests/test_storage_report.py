"""The storage report's figures equal sums computed here from the inventory rows, users above
80% of their quota are listed, the top users per school are ordered and capped, and the
charts are real PNG files."""

from __future__ import annotations

import io
from collections import defaultdict

import polars as pl
import pytest
from sqlalchemy import Engine

from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore
from rentree.tasks.content.storage_places import AREA_COLUMNS
from rentree.tasks.content.storage_report import (
    StorageReport,
    storage_report,
    write_storage_report,
)
from tests.content_builders import (
    U1,
    U2,
    insert_content,
    resources_frame,
    users_frame,
)

MIB = 1024**2
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLACES = {
    ("messaging", "inbox"): "messaging_inbox",
    ("messaging", "sent"): "messaging_sent",
    ("messaging", "trash"): "messaging_trash",
    ("documents", "own"): "documents_own",
    ("documents", "apps"): "documents_apps",
    ("documents", "trash"): "documents_trash",
}


def expected_per_user(content: dict[str, pl.DataFrame]) -> dict[str, dict[str, int]]:
    """Bytes per user and area, summed in plain Python from the inserted resources."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(AREA_COLUMNS, 0))
    for row in content["resources"].iter_rows(named=True):
        place = PLACES.get((row["app"], row["area"]), "other_apps")
        totals[row["owner_external_id"]][place] += row["size_bytes"]
    return totals


def schools_of(content: dict[str, pl.DataFrame]) -> dict[str, set[str]]:
    links: dict[str, set[str]] = defaultdict(set)
    for user, uai in content["user_structures"].select("user_external_id", "structure_uai").rows():
        links[user].add(uai)
    return links


def report_of(
    engine: Engine, settings: Settings | None = None, with_charts: bool = False
) -> StorageReport:
    with engine.connect() as conn:
        return storage_report(conn, settings or Settings(), with_charts=with_charts)


def test_per_user_figures_equal_the_inventory_sums(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    report = report_of(engine)
    expected = expected_per_user(small_region_rows)
    links = schools_of(small_region_rows)
    people = {row["external_id"]: row for row in small_region_rows["users"].iter_rows(named=True)}
    got = {row["user_external_id"]: row for row in report.users.iter_rows(named=True)}
    assert set(got) == set(expected)
    assert report.users["user_external_id"].to_list() == sorted(expected)
    for user, areas in expected.items():
        # who they are and their schools, sorted (an owner the directory does not know has none)
        assert got[user]["schools"] == (sorted(links[user]) if user in links else None)
        if user in people:
            assert got[user]["last_name"] == people[user]["last_name"]
            assert got[user]["missing_since"] == people[user]["missing_since"]
        assert {c: got[user][c] for c in AREA_COLUMNS} == areas
        assert got[user]["total_bytes"] == sum(areas.values())
        assert got[user]["trash_bytes"] == areas["messaging_trash"] + areas["documents_trash"]


def test_per_school_figures_count_a_user_in_each_of_their_schools(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    report = report_of(engine)
    per_user = expected_per_user(small_region_rows)
    links = schools_of(small_region_rows)
    for uai in (U1, U2):
        members = [u for u in per_user if uai in links.get(u, set())]
        row = report.schools.filter(pl.col("structure_uai") == uai).row(0, named=True)
        assert row["users"] == len(members)
        for column in AREA_COLUMNS:
            assert row[column] == sum(per_user[u][column] for u in members)
        assert row["trash_bytes"] == sum(
            per_user[u]["messaging_trash"] + per_user[u]["documents_trash"] for u in members
        )
    # t1 is in both schools: counted in each.
    assert "t1" in links and links["t1"] == {U1, U2}


def test_region_figures_count_each_user_once(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    report = report_of(engine)
    sizes = small_region_rows["resources"]
    row = report.region.row(0, named=True)
    assert row["users"] == sizes["owner_external_id"].n_unique()
    assert row["total_bytes"] == sum(sizes["size_bytes"])
    assert row["trash_bytes"] == sum(
        r["size_bytes"] for r in sizes.iter_rows(named=True) if r["area"] == "trash"
    )
    by_app = {(a, b): n for a, b, n, *_ in report.region_by_app.rows()}
    assert by_app[("documents", "apps")] == 50 * MIB
    assert by_app[("blog", "own")] == 10 * MIB
    assert sum(report.schools_by_app.filter(pl.col("structure_uai") == U2)["bytes"]) == (
        report.schools.filter(pl.col("structure_uai") == U2)["total_bytes"].item()
    )
    # users per app and area: each owner once, however many of their resources lie there
    owners = sizes.group_by("app", "area").agg(pl.col("owner_external_id").n_unique())
    users = report.region_by_app.select("app", "area", "users")
    assert sorted(owners.rows()) == sorted(users.rows())
    links = schools_of(small_region_rows)
    in_u2 = sizes.filter(
        pl.col("owner_external_id").is_in([u for u, s in links.items() if U2 in s])
    )
    expected_u2 = in_u2.group_by("app", "area").agg(pl.col("owner_external_id").n_unique())
    got_u2 = report.schools_by_app.filter(pl.col("structure_uai") == U2)
    assert sorted(expected_u2.rows()) == sorted(got_u2.select("app", "area", "users").rows())


def test_quota_use_takes_the_user_quota_or_the_profile_default(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    settings = Settings(quota_staff_bytes=1000 * MIB, quota_family_bytes=4 * MIB)
    users = report_of(engine, settings).users
    quota = dict(users.select("user_external_id", "quota_bytes").rows())
    source = dict(users.select("user_external_id", "quota_source").rows())
    assert quota["t1"] == 1000 * MIB and source["t1"] == "default"
    assert quota["t2"] == 100 * MIB and source["t2"] == "user"
    assert quota["s1"] == 4 * MIB and quota["g1"] == 4 * MIB
    assert quota["ghost"] is None  # an owner the directory does not know has no quota
    use = dict(users.select("user_external_id", "quota_use").rows())
    assert use["g1"] == pytest.approx(0.5)


def test_users_above_80_percent_of_their_quota_are_listed(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    per_user = expected_per_user(small_region_rows)
    quotas = {
        row["external_id"]: row["quota_bytes"]
        or (2 * 1024**3 if row["profile"] in ("Teacher", "Personnel") else 500 * MIB)
        for row in small_region_rows["users"].iter_rows(named=True)
    }
    expected = {
        u for u, areas in per_user.items() if u in quotas and sum(areas.values()) > 0.8 * quotas[u]
    }
    above = report_of(engine).above_threshold
    assert set(above["user_external_id"]) == expected == {"t2", "r2"}
    assert above["user_external_id"].to_list() == ["r2", "t2"]  # fullest first
    support = dict(above.select("user_external_id", "support").rows())
    assert "ERUN" in support["t2"]


def test_top_users_per_school_are_the_50_largest_in_order(engine: Engine) -> None:
    people = [(f"u{i:03d}", "Student", "A", f"N{i}", None, None) for i in range(60)]
    sizes = [(f"r{i:03d}", f"u{i:03d}", "documents", "own", (i % 30 + 1) * MIB) for i in range(60)]
    links = pl.DataFrame(
        {
            "user_external_id": [p[0] for p in people],
            "structure_uai": [U1] * 60,
            "source": ["feed"] * 60,
            "director": [False] * 60,
        }
    )
    with engine.begin() as conn:
        insert_content(
            conn,
            {
                "users": users_frame(people),
                "user_structures": links,
                "resources": resources_frame(sizes),
            },
        )
    top = report_of(engine).top_users
    assert top.height == 50
    assert top["rank"].to_list() == list(range(1, 51))
    expected = sorted(((-size, owner) for _, owner, _, _, size in sizes))[:50]
    assert top["user_external_id"].to_list() == [owner for _, owner in expected]
    assert top["total_bytes"].to_list() == [-size for size, _ in expected]


def test_charts_are_png_files_and_no_figure_stays_open(
    engine: Engine, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    import matplotlib.pyplot as plt

    report = report_of(engine, with_charts=True)
    assert set(report.charts) == {"region_by_area", "schools_by_area", "quota_use"}
    for png in report.charts.values():
        assert png.startswith(PNG_SIGNATURE)
        assert len(png) > 5_000
    assert plt.get_fignums() == []


def test_an_empty_inventory_gives_empty_figures_and_charts(engine: Engine) -> None:
    report = report_of(engine, with_charts=True)
    assert report.users.is_empty() and report.above_threshold.is_empty()
    assert all(png.startswith(PNG_SIGNATURE) for png in report.charts.values())


def test_the_report_is_written_as_csv_parquet_and_png(
    engine: Engine, store: ObjectStore, small_region_rows: dict[str, pl.DataFrame]
) -> None:
    report = report_of(engine, with_charts=True)
    keys = write_storage_report(store, "reports/2024-2025/storage-report/run-1/", report)
    assert len(keys) == 7 * 2 + 3
    assert all(store.exists(k) for k in keys)
    pngs = [k for k in keys if k.endswith(".png")]
    assert all(store.read_bytes(k).startswith(PNG_SIGNATURE) for k in pngs)
    users_key = next(k for k in keys if k.endswith("storage-users.parquet"))
    back = pl.read_parquet(io.BytesIO(store.read_bytes(users_key)))
    assert back.equals(report.users)
    schools_csv = next(k for k in keys if k.endswith("storage-schools.csv"))
    assert ";'=École d'Été;" in store.read_bytes(schools_csv).decode()
