"""The new school year of a synthetic region's pupils: who moves up, repeats, changes school
or leaves, the entry-level intake, and the entry levels that arrive late (R12)."""

from __future__ import annotations

import numpy as np
import polars as pl

from rentree.synthetic.draws import (
    CE1,
    CE2,
    CM1,
    CM2,
    CP,
    ELEMENTAIRE,
    GS,
    MATERNELLE,
    MS,
    PRIMAIRE,
    PS,
    RPI_FIRST,
    RPI_SECOND,
    TPS,
    select_per_group,
)
from rentree.synthetic.scales import Scale
from rentree.synthetic.schools import level_counts


def held_mask(rows: pl.Series, late_levels: dict[int, tuple[int, ...]]) -> pl.Series:
    school = rows.struct.field("school_1").fill_null(-1).to_numpy()
    level = rows.struct.field("level_1").fill_null(-1).to_numpy()
    held = np.zeros(school.size, bool)
    for late_school, levels in late_levels.items():
        held |= (school == late_school) & np.isin(level, levels)
    return pl.Series(held)


def next_year_moves(
    rng: np.random.Generator, schools: pl.DataFrame, school: np.ndarray, level: np.ndarray
) -> dict[str, np.ndarray]:
    """Where each closing-year pupil is next year (-1: gone) and why ("fate")."""
    kind = schools["kind"].to_numpy()
    high = schools["high"].to_numpy()
    feeds = schools["feeds"].to_numpy()
    n = school.size
    final = level == high[school]
    next_school = school.copy()
    next_level = level + 1
    fate = np.full(n, "moves-up", dtype=object)

    leaves_primary = final & (feeds[school] < 0)
    fate[leaves_primary] = "leaves-cm2"
    goes_on = final & (feeds[school] >= 0)
    next_school[goes_on] = feeds[school][goes_on]
    fate[goes_on & (kind[school] == MATERNELLE)] = "gs-to-cp"
    fate[goes_on & (kind[school] == RPI_FIRST)] = "ce1-to-rpi-ce2"
    draw = rng.random(n)
    # A few GS pupils go to another élémentaire, a few leave the region.
    other = goes_on & (kind[school] == MATERNELLE) & (draw < 0.05)
    elementaires = np.flatnonzero(kind == ELEMENTAIRE)
    if other.any() and elementaires.size > 1:
        choice = elementaires[rng.integers(0, elementaires.size, other.sum())]
        next_school[other] = choice
        fate[other & (next_school != feeds[school])] = "gs-to-cp-elsewhere"
    gone_after_final = goes_on & (draw > 0.97)
    fate[gone_after_final] = "leaves-region-final"

    ongoing = ~final
    repeats = ongoing & np.isin(level, (CE1, CM1)) & (draw < 0.015)
    next_level[repeats] = level[repeats]
    fate[repeats] = "repeats"
    unexpected = select_per_group(rng, school, ongoing & ~repeats, 0.015)
    fate[unexpected] = "leaves-region"
    movable = ongoing & ~repeats & ~unexpected & np.isin(level + 1, (MS, GS, CE1, CM1, CM2))
    transfer = movable & (rng.random(n) < 0.01)
    low = schools["low"].to_numpy()
    for lvl in np.unique(next_level[transfer]):
        rows = np.flatnonzero(transfer & (next_level == lvl))
        offering = np.flatnonzero((low <= lvl) & (high >= lvl))
        if offering.size < 2:
            continue
        target = offering[rng.integers(0, offering.size, rows.size)]
        same = target == school[rows]
        target[same] = offering[(np.searchsorted(offering, target[same]) + 1) % offering.size]
        next_school[rows] = target
        fate[rows] = "changes-school"

    gone = np.isin(fate, ("leaves-cm2", "leaves-region", "leaves-region-final"))
    next_school[gone] = -1
    next_level[gone] = -1
    return {"school": next_school, "level": next_level, "fate": fate.astype(str)}


def late_entry_levels(
    rng: np.random.Generator, scale: Scale, schools: pl.DataFrame
) -> dict[int, tuple[int, ...]]:
    """Schools whose entry level is held back from the first family delivery (late ONDE
    entries), with those levels. A maternelle-type school qualifies only when it had no TPS
    pupils, so that every held-back pupil is new to the school."""
    kind = schools["kind"].to_numpy()
    has_tps = schools["has_tps"].to_numpy()
    entry = {
        MATERNELLE: (PS,),
        PRIMAIRE: (PS,),
        RPI_FIRST: (PS,),
        ELEMENTAIRE: (CP,),
        RPI_SECOND: (CE2,),
    }
    eligible = ~has_tps
    if scale.fixed_layout:
        chosen = np.array([True, True, False, False, True])
    else:
        chosen = eligible & (rng.random(kind.size) < scale.late_entry_share)
        for k in (MATERNELLE, ELEMENTAIRE, RPI_SECOND):
            candidates = np.flatnonzero(eligible & (kind == k))
            if candidates.size and not chosen[candidates].any():
                chosen[candidates[0]] = True
    return {int(s): entry[int(kind[s])] for s in np.flatnonzero(chosen & eligible)}


def late_classes_apart(
    scale: Scale, schools: pl.DataFrame, late_levels: dict[int, tuple[int, ...]]
) -> tuple[int, ...]:
    """Late-entry schools whose late level is taught in classes of its own, so that a class
    has no pupil at all until the late delivery (R10: a teacher's request for it waits).
    Big schools get such classes by themselves; tiny's cohorts share a class with the next
    level, so its élémentaire opens a CP class of its own."""
    if not scale.fixed_layout:
        return ()
    kind = schools["kind"].to_numpy()
    return tuple(s for s in sorted(late_levels) if int(kind[s]) == ELEMENTAIRE)


def entry_intake(rng: np.random.Generator, schools: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """New pupils of the new year: the entry levels and a few newcomers elsewhere."""
    kind = schools["kind"].to_numpy()
    fed = np.zeros(kind.size, bool)
    feeds = schools["feeds"].to_numpy()
    fed[feeds[feeds >= 0]] = True
    factor = np.full((kind.size, 9), 0.02)
    factor[:, TPS] = np.where(schools["has_tps"].to_numpy(), 0.3, 0.0)
    factor[:, PS] = 0.9
    factor[:, CP] = np.where(kind == ELEMENTAIRE, np.where(fed, 0.08, 1.0), 0.02)
    factor[:, CE2] = np.where(kind == RPI_SECOND, 0.05, 0.02)
    return level_counts(rng, schools, factor)
