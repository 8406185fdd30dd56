"""The schools of a synthetic region: kinds, levels, towns, RPI pairs (numpy arrays, one
row per school)."""

from __future__ import annotations

import numpy as np
import polars as pl

from rentree.synthetic import names
from rentree.synthetic.draws import (
    ELEMENTAIRE,
    KIND_HIGH,
    KIND_LOW,
    MATERNELLE,
    PRIMAIRE,
    RPI_FIRST,
    RPI_SECOND,
    SCHOOL_WORDS,
    STRUCTURE_ID_BASE,
    STRUCTURE_TYPES,
    TPS,
    make_uai,
    pick,
)
from rentree.synthetic.scales import Scale


def build_schools(rng: np.random.Generator, scale: Scale, academy: int = 0) -> pl.DataFrame:
    """One row per school, in structure-id order, with its place in the region's flows.

    `feeds` is the school its last level goes on to (a maternelle's élémentaire, an RPI's
    level-2 school), -1 when its last level leaves primary school.
    """
    if scale.fixed_layout:
        kinds = np.array([MATERNELLE, ELEMENTAIRE, PRIMAIRE, RPI_FIRST, RPI_SECOND])
        town = np.array([0, 0, 1, 2, 3])
        feeds = np.array([1, -1, -1, 4, -1])
        has_tps = np.array([False, False, True, True, False])
        n_towns = 4
    else:
        kinds, town, feeds, n_towns = _school_units(rng, scale)
        has_tps = (rng.random(kinds.size) < 0.3) & np.isin(kinds, (MATERNELLE, PRIMAIRE, RPI_FIRST))
    n = kinds.size
    levels_per_school = KIND_HIGH[kinds] - KIND_LOW[kinds] + 1 - (KIND_LOW[kinds] == TPS)
    mean_cohort = scale.pupils / max(1, int(levels_per_school.sum()))
    cohort = np.maximum(4.0, rng.gamma(5.0, mean_cohort / 5.0, n))
    if scale.fixed_layout:
        cohort = np.full(n, mean_cohort)

    villages = names.village_names()
    town_name = pl.Series([v[0] for v in villages[:n_towns]]).gather(town)
    town_prefix = np.array([v[1] for v in villages[:n_towns]])[town]
    postcode = np.char.add(town_prefix, np.char.zfill(((town * 7) % 100).astype(str), 2))
    departments = np.char.add("0", np.char.ljust(town_prefix, 2).astype("<U2"))
    districts_total = max(1, n // 32)
    district_index = town % districts_total
    district = pl.Series([names.TOWNS[d % len(names.TOWNS)][0] for d in range(districts_total)])
    district_name = pl.format(
        "Circonscription de {} {}",
        district.gather(district_index),
        pl.Series(district_index // len(names.TOWNS) + 1),
    )
    # UAIs are national: a second academy's schools (same draw, same feed ids) get their own
    uai = [make_uai(f"{int(departments[i]) + 100 * academy:03d}", 1000 + i) for i in range(n)]
    patron = pick(rng, names.SCHOOL_PATRONS, n)
    rpi_number = np.where(kinds == RPI_FIRST, np.arange(n), -1)
    rpi_number = np.where(kinds == RPI_SECOND, np.arange(n) - 1, rpi_number)
    frame = pl.DataFrame(
        {
            "school": np.arange(n),
            "kind": kinds,
            "low": KIND_LOW[kinds],
            "high": KIND_HIGH[kinds],
            "feeds": feeds,
            "has_tps": has_tps,
            "cohort": cohort,
            "town_index": town,
            "structure_id": (np.arange(n) + STRUCTURE_ID_BASE).astype(str),
            "uai": uai,
            "structure_type": pl.Series(STRUCTURE_TYPES).gather(kinds),
            "town": town_name,
            "postcode": postcode,
            "department": departments,
            "rpi_number": rpi_number,
        }
    )
    return frame.with_columns(
        name=pl.format("École {} {}", pl.Series(SCHOOL_WORDS).gather(kinds), patron),
        district=pl.select(district_name).to_series(),
        rpi=pl.when(pl.col("rpi_number") >= 0).then(
            pl.format("RPI{}{}", pl.col("department"), pl.col("rpi_number").cast(pl.String))
        ),
    ).drop("rpi_number")


def _school_units(
    rng: np.random.Generator, scale: Scale
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Schools as units that pupils flow through: maternelle + élémentaire pairs, lone
    élémentaires, primaires, RPI pairs; paired schools share a town, RPI schools are
    in neighbouring villages."""
    n = scale.schools
    rpi_pairs = max(1, round(n * scale.rpi_share / 2))
    maternelles = max(1, round(n * scale.maternelle_share))
    elementaires = max(maternelles, round(n * scale.elementaire_share))
    primaires = max(1, n - 2 * rpi_pairs - maternelles - elementaires)
    units = np.concatenate(
        [
            np.zeros(maternelles, int),
            np.ones(elementaires - maternelles, int),
            np.full(primaires, 2),
            np.full(rpi_pairs, 3),
        ]
    )
    units = units[rng.permutation(units.size)]
    n_towns = min(len(names.village_names()), max(3, n // 3))
    unit_town = rng.integers(0, n_towns, units.size)
    kinds: list[int] = []
    towns: list[int] = []
    feeds: list[int] = []
    # A short loop over units (not people) laying out their one or two schools.
    for unit, town in zip(units.tolist(), unit_town.tolist(), strict=True):
        here = len(kinds)
        if unit == 0:
            kinds += [MATERNELLE, ELEMENTAIRE]
            towns += [town, town]
            feeds += [here + 1, -1]
        elif unit == 3:
            kinds += [RPI_FIRST, RPI_SECOND]
            towns += [town, (town + 1) % n_towns]
            feeds += [here + 1, -1]
        else:
            kinds.append(ELEMENTAIRE if unit == 1 else PRIMAIRE)
            towns.append(town)
            feeds.append(-1)
    return np.array(kinds), np.array(towns), np.array(feeds), n_towns


def level_counts(
    rng: np.random.Generator, schools: pl.DataFrame, factor: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pupils per (school, level) drawn around each school's cohort: school and level
    arrays with one entry per pupil."""
    low = schools["low"].to_numpy()
    high = schools["high"].to_numpy()
    levels = np.arange(9)
    offered = (levels[None, :] >= low[:, None]) & (levels[None, :] <= high[:, None])
    mean = schools["cohort"].to_numpy()[:, None] * factor * offered
    counts = rng.poisson(mean)
    school = np.repeat(np.arange(len(schools)), counts.sum(axis=1))
    level = np.concatenate([np.repeat(levels, row) for row in counts]) if counts.size else levels
    return school, level.astype(np.int64)
