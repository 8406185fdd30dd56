"""Bench of retire-missing (R11): the notice run, the deactivation, the retirement and the
undo of each, on the share purge bench's synthetic directory with one person in seven marked
missing (a region after one rollover holds about 215,000 of its 1.5 million people marked).
SQLite, and PostgreSQL too when RENTREE_TEST_POSTGRES_URL is set (that database is emptied).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from bench_figures import Figure, figure, slug, timed
from bench_floors import databases
from bench_purge import generate, load, scale_factor
from sqlalchemy import Engine

from rentree.tasks.rules.retirement.apply import apply_retirement, undo_retirement
from rentree.tasks.rules.retirement.plan import plan_retirement
from rentree.tasks.rules.retirement.rules import RetirementRules

MARK = date(2024, 9, 20)
NEW = "2024-2025"
RULES = RetirementRules()
MISSING_SHARE = 7  # one person in seven


def _at(days: int) -> tuple[date, datetime]:
    day = MARK + timedelta(days=days)
    return day, datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=3)


def _run(engine: Engine, days: int, run_id: str) -> dict[str, int]:
    day, now = _at(days)
    with engine.begin() as conn:
        plan = plan_retirement(conn, RULES, day, now, NEW)
        return apply_retirement(conn, plan, run_id, now)


def _undo(engine: Engine, run_id: str) -> dict[str, int]:
    _, now = _at(200)
    with engine.begin() as conn:
        return undo_retirement(conn, run_id, now)


def measure(engine: Engine, label: str, content: dict[str, pl.DataFrame]) -> list[Figure]:
    with engine.begin() as conn:
        load(conn, content)
    missing = content["users"]["missing_since"].is_not_null().sum()
    steps: list[tuple[str, Callable[[], dict[str, int]], str]] = [
        ("notice run (plan + notice + record)", lambda: _run(engine, 90, "notice"),
         "notices_recorded"),
        ("deactivation run", lambda: _run(engine, 104, "deactivate"), "deactivated"),
        ("retirement run", lambda: _run(engine, 180, "retire"), "retired"),
        ("undo of the retirement", lambda: _undo(engine, "retire"), "accounts_restored"),
        ("undo of the deactivation", lambda: _undo(engine, "deactivate"),
         "accounts_reactivated"),
    ]  # fmt: skip
    figures = []
    for name, action, count in steps:
        with timed() as took:
            counts = action()
        figures.append(
            figure(
                f"retire.{label.lower()}.{slug(name)}",
                f"{label}: {name}: {counts[count]:,} of {missing:,} marked missing",
                took,
            )
        )
    return figures


def run(workdir: Path) -> list[Figure]:
    content = generate(scale_factor(workdir))
    users = content["users"]
    content["users"] = users.with_columns(
        pl.when(pl.int_range(pl.len()) % MISSING_SHARE == 3)
        .then(pl.lit(MARK))
        .otherwise(pl.lit(None, pl.Date))
        .alias("missing_since")
    )
    figures: list[Figure] = []
    for label, engine in databases(workdir, "bench_retire"):
        figures += measure(engine, label, content)
    return figures
