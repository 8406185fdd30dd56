"""School years and where each one stands in the rollover ("changement d'année").

A year lives twice: as the new year (open, staff-import, switched, family-import), then,
once frozen, as the closing year (frozen, purged, closed); within each life its `phase` only
moves forward along `schema.PHASES`. The closing year is the latest frozen one (R7); the
new year is its successor. The first year a directory ever holds has
nothing to roll over: it is simply imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, select, update

from rentree.infra.naming import (
    FeedNameError,
    check_school_year,
    held_prefix,
    landing_prefix,
    next_school_year,
    parse_feed_name,
    previous_school_year,
)
from rentree.infra.schema import PHASES, school_years
from rentree.infra.storage import ObjectStore

SwitchSource = Literal["detected", "operator"]
FAMILY_TYPES = ("Eleve", "PersRelEleve")


@dataclass(frozen=True)
class YearState:
    school_year: str
    phase: str
    frozen_at: datetime | None
    onde_switched_at: datetime | None
    onde_switch_source: str | None

    @property
    def frozen(self) -> bool:
        return self.frozen_at is not None

    @property
    def switched(self) -> bool:
        return self.onde_switched_at is not None


def year_state(conn: Connection, year: str) -> YearState | None:
    row = conn.execute(select(school_years).where(school_years.c.school_year == year)).first()
    if row is None:
        return None
    return YearState(
        school_year=row.school_year,
        phase=row.phase,
        frozen_at=row.frozen_at,
        onde_switched_at=row.onde_switched_at,
        onde_switch_source=row.onde_switch_source,
    )


def ensure_year(conn: Connection, year: str) -> YearState:
    """The year's row, created in phase `open` when the directory did not hold it yet."""
    check_school_year(year)
    state = year_state(conn, year)
    if state is not None:
        return state
    conn.execute(school_years.insert().values(school_year=year, phase="open"))
    state = year_state(conn, year)
    assert state is not None
    return state


def advance_phase(conn: Connection, year: str, phase: str) -> None:
    """Move a year to `phase` unless it is already there or further (phases never go back)."""
    state = ensure_year(conn, year)
    if PHASES.index(phase) > PHASES.index(state.phase):
        conn.execute(
            update(school_years).where(school_years.c.school_year == year).values(phase=phase)
        )


def step_back_phase(conn: Connection, year: str, undone: str) -> None:
    """The action that moved `year` to phase `undone` was undone (a share purge undo): the
    year returns to the phase before it, so that `status` no longer says it is done."""
    back = PHASES[PHASES.index(undone) - 1]
    conn.execute(
        update(school_years)
        .where(school_years.c.school_year == year, school_years.c.phase == undone)
        .values(phase=back)
    )


def freeze_year(conn: Connection, year: str, now: datetime) -> YearState:
    """R7: close the year for changes. Only the year's state changes: nobody loses access.

    The successor year is registered too, so that it is the "new year" from now on.
    Freezing twice keeps the first date.
    """
    state = ensure_year(conn, year)
    if not state.frozen:
        # a year that was the new year of the previous cycle (staff-import... family-import)
        # starts its closing life here
        conn.execute(
            update(school_years)
            .where(school_years.c.school_year == year)
            .values(frozen_at=now, phase="frozen")
        )
    ensure_year(conn, next_school_year(year))
    frozen = year_state(conn, year)
    assert frozen is not None
    return frozen


def record_onde_switch(
    conn: Connection, year: str, source: SwitchSource, now: datetime
) -> YearState:
    """R9: the ONDE switch of `year` happened (detected, or confirmed by an operator).

    Recording it again keeps the first date and source.
    """
    if source not in ("detected", "operator"):
        raise ValueError(f"{source!r} is not a switch source; use detected or operator.")
    state = ensure_year(conn, year)
    if not state.switched:
        conn.execute(
            update(school_years)
            .where(school_years.c.school_year == year)
            .values(onde_switched_at=now, onde_switch_source=source)
        )
    advance_phase(conn, year, "switched")
    switched = year_state(conn, year)
    assert switched is not None
    return switched


def current_years(conn: Connection) -> tuple[str | None, str | None]:
    """(closing, new): the latest frozen year and its successor.

    With no frozen year there is nothing to close: the new year is the latest year held
    (None when the directory holds none).
    """
    closing = conn.scalar(
        select(school_years.c.school_year)
        .where(school_years.c.frozen_at.is_not(None))
        .order_by(school_years.c.school_year.desc())
        .limit(1)
    )
    if closing is not None:
        return closing, next_school_year(closing)
    latest = conn.scalar(
        select(school_years.c.school_year).order_by(school_years.c.school_year.desc()).limit(1)
    )
    return None, latest


def is_first_year(conn: Connection, year: str) -> bool:
    """True when the directory holds no year before this one: nothing to roll over."""
    earlier = conn.scalar(
        select(school_years.c.school_year).where(school_years.c.school_year < year).limit(1)
    )
    return earlier is None


def rolls_over(conn: Connection, year: str) -> bool:
    """True when `year` follows a year the directory holds: R9 and the freeze rule apply."""
    return year_state(conn, previous_school_year(year)) is not None


def detect_onde_switch(store: ObjectStore, conn: Connection, new_year: str) -> bool:
    """R9: has the ONDE switch of `new_year` happened?

    Already recorded, or a complete Eleve or PersRelEleve file of that year waits in
    `landing/<year>/` or `held/<year>/` (the switch is what makes those files possible).
    Detection does not record anything: the caller records the switch.
    """
    state = year_state(conn, new_year)
    if state is not None and state.switched:
        return True
    for prefix in (landing_prefix(new_year), held_prefix(new_year)):
        for key in store.list(prefix):
            try:
                feed = parse_feed_name(key)
            except FeedNameError:
                continue
            if feed.complete and feed.file_type in FAMILY_TYPES:
                return True
    return False
