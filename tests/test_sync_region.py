"""The generated tiny region through stage -> plan -> apply: closing year, new-year staff,
then new-year families; the directory follows the rules, and re-plans are empty."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine, text

from rentree.infra.settings import Settings
from rentree.infra.storage import LocalStore
from rentree.synthetic import generate_region
from rentree.tasks.intake.stage import StagedDelivery, stage_delivery
from rentree.tasks.sync.apply import apply_change_set
from rentree.tasks.sync.changeset import ChangeSet
from rentree.tasks.sync.plan import plan_delivery

NOW = datetime(2025, 9, 10, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("region") / "tiny"
    generate_region("tiny", out)
    return out


def _staged(engine: Engine, store: LocalStore, year: str, delivery: str) -> StagedDelivery:
    with engine.begin() as conn:
        staged = stage_delivery(conn, store, year, delivery, Settings())
    assert isinstance(staged, StagedDelivery), staged
    return staged


def _import(engine: Engine, store: LocalStore, year: str, delivery: str) -> ChangeSet:
    staged = _staged(engine, store, year, delivery)
    today = datetime.strptime(delivery, "%Y%m%d").date()
    with engine.begin() as conn:
        cs = plan_delivery(conn, staged, today=today)
        apply_change_set(conn, cs, f"run-{delivery}", NOW)
    # planning the same delivery again changes nothing
    with engine.connect() as conn:
        again = plan_delivery(conn, staged, today=today)
    assert again.is_empty(), {k: v for k, v in again.counts().items() if v}
    return cs


def _rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def test_tiny_region_rollover_follows_the_rules(
    engine: Engine, region: Path, tmp_path: Path
) -> None:
    manifest = json.loads((region / "manifest.json").read_text())
    closing, new = manifest["closing_year"], manifest["new_year"]
    store = LocalStore(tmp_path / "storage")
    store.ensure_layout()
    shutil.copytree(region / "landing", tmp_path / "storage" / "landing", dirs_exist_ok=True)

    first = manifest["deliveries"][0]
    _import(engine, store, closing, first["delivery"])
    assert _rows(engine, "SELECT count(*) FROM users WHERE profile = 'Student'") == [
        (manifest["counts"]["students"][closing],)
    ]
    families_before = _rows(
        engine,
        "SELECT us.user_external_id, us.structure_uai FROM user_structures us "
        "JOIN users u ON u.external_id = us.user_external_id "
        "WHERE u.profile IN ('Student', 'Relative') ORDER BY 1, 2",
    )
    logins_before = dict(
        _rows(engine, "SELECT external_id, login FROM users WHERE profile = 'Student'")
    )

    staff_deliveries = [
        d for d in manifest["deliveries"][1:] if set(d["records"]) == {"PersEducNat"}
    ]
    for d in staff_deliveries:
        _import(engine, store, new, d["delivery"])
    # R8: students and relatives untouched, no teacher in a class
    assert (
        _rows(
            engine,
            "SELECT us.user_external_id, us.structure_uai FROM user_structures us "
            "JOIN users u ON u.external_id = us.user_external_id "
            "WHERE u.profile IN ('Student', 'Relative') ORDER BY 1, 2",
        )
        == families_before
    )
    assert _rows(
        engine,
        "SELECT count(*) FROM user_classes uc JOIN users u ON u.external_id = uc.user_external_id "
        "WHERE u.profile IN ('Teacher', 'Personnel')",
    ) == [(0,)]
    for move in manifest["staff"]["moves"]:
        uais = {
            r[0]
            for r in _rows(
                engine,
                "SELECT structure_uai FROM user_structures "
                "WHERE user_external_id = :u AND source = 'feed'",
                u=move["id"],
            )
        }
        assert move["to"] in uais and move["from"] not in uais, move

    family_deliveries = [d for d in manifest["deliveries"][1:] if "Eleve" in d["records"]]
    first_families = _import(engine, store, new, family_deliveries[0]["delivery"])
    # expected leavers (holds): last year's final level of each school, as the generator says
    leavers = first_families.users_missing.filter(
        (pl.col("profile") == "Student") & pl.col("expected_leaver")
    )
    assert (
        dict(leavers.group_by("structure_uai").len().iter_rows())
        == (manifest["students"]["expected_leavers"]["by_uai"])
    )
    for d in family_deliveries[1:]:
        _import(engine, store, new, d["delivery"])

    # R1: every pupil present last year kept their account and login; no INE twice
    assert _rows(
        engine,
        "SELECT count(*) FROM (SELECT ine FROM users WHERE profile = 'Student' "
        "GROUP BY ine HAVING count(*) > 1) d",
    ) == [(0,)]
    logins_after = dict(
        _rows(engine, "SELECT external_id, login FROM users WHERE profile = 'Student'")
    )
    assert all(logins_after[k] == v for k, v in logins_before.items())
    # every present pupil of the new year: one school, one class of the new year
    present = _rows(
        engine,
        "SELECT count(*) FROM users WHERE profile = 'Student' AND missing_since IS NULL",
    )[0][0]
    assert present == manifest["counts"]["students"][new]
    assert _rows(
        engine,
        "SELECT count(DISTINCT user_external_id) FROM user_classes WHERE school_year = :y",
        y=new,
    ) == [(present,)]
    assert _rows(engine, "SELECT count(*) FROM classes WHERE school_year = :y", y=new) == [
        (manifest["counts"]["classes"][new],)
    ]
    # R11: leavers are marked, never deleted
    cm2_leavers = manifest["students"]["fates"]["leaves-cm2"]
    missing = _rows(
        engine, "SELECT count(*) FROM users WHERE profile = 'Student' AND missing_since IS NOT NULL"
    )[0][0]
    assert missing >= cm2_leavers
    assert _rows(engine, "SELECT count(*) FROM users WHERE profile = 'Student'")[0][0] == (
        present + missing
    )
    # GS pupils moved to their CP school
    for example in manifest["students"]["gs_to_cp_examples"]:
        assert _rows(
            engine,
            "SELECT structure_uai FROM user_structures us JOIN users u "
            "ON u.external_id = us.user_external_id WHERE u.ine = :ine AND us.source = 'feed'",
            ine=example["ine"],
        ) == [(example["to_uai"],)]
