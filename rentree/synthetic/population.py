"""The people of a synthetic region over one rollover: schools, pupils, families, staff.

Everything is drawn as whole arrays (numpy) and joined as frames (polars); no step loops
over people. A pupil, relative or staff member is a row index into these arrays, and the
closing and the new school year are two states of the same rows, so that identity
continuity (R1) holds by construction: same id, same INE, new school or level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from rentree.synthetic import names
from rentree.synthetic.classes import form_classes
from rentree.synthetic.draws import (
    BIRTH_OFFSET,
    CP,
    INE_ACADEMY_SPAN,
    MAIL_DOMAINS,
    PUPIL_ID_BASE,
    RELATIVE_ID_BASE,
    STREETS,
    TPS,
    aaf_dates,
    make_ine,
    pick,
    pick_index,
    year_start_days,
)
from rentree.synthetic.moves import (
    entry_intake,
    held_mask,
    late_classes_apart,
    late_entry_levels,
    next_year_moves,
)
from rentree.synthetic.scales import Scale
from rentree.synthetic.schools import build_schools, level_counts
from rentree.synthetic.staff import build_staff


@dataclass(frozen=True)
class Region:
    """The schools and people of both school years.

    `pupils` has one row per pupil ever present, with `school_0`/`level_0` (closing year,
    null when the pupil arrived) and `school_1`/`level_1` (new year, null when they left).
    `staff` likewise with `schools_0`/`schools_1` (lists of school indices, empty when
    absent) and the staff move status. `relatives` has one row per relative with its family.
    """

    closing_start: int
    schools: pl.DataFrame
    pupils: pl.DataFrame
    relatives: pl.DataFrame
    staff: pl.DataFrame
    classes_0: pl.DataFrame
    classes_1: pl.DataFrame
    late_levels: dict[int, tuple[int, ...]]


# -- pupils and families -------------------------------------------------------------------


def _level_factor(schools: pl.DataFrame, tps_share: float) -> np.ndarray:
    """Per school and level, the share of a cohort: TPS only where the school takes them."""
    factor = np.ones((len(schools), 9))
    factor[:, TPS] = np.where(schools["has_tps"].to_numpy(), tps_share, 0.0)
    return factor


def _birth_days(rng: np.random.Generator, start: int, level: np.ndarray) -> np.ndarray:
    """Birth dates (days since epoch) that give the level's age on the first of September;
    TPS pupils are two by the rentrée (feeds.md: ages 2 to 14)."""
    older = (rng.random(level.size) < 0.03) & (level >= CP)
    years = start - BIRTH_OFFSET[level] - older
    span = np.where((level == TPS) & ~older, 243, 365)
    return year_start_days(years) + (rng.random(level.size) * span).astype(np.int64)


def _families(rng: np.random.Generator, town: np.ndarray, first_family: int) -> np.ndarray:
    """Family numbers for pupils: siblings are drawn among pupils of the same town."""
    n = town.size
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((rng.random(n), town))
    sizes = rng.choice([1, 2, 3], size=n, p=[0.89, 0.10, 0.01])
    ends = np.cumsum(sizes)
    family_sorted = np.searchsorted(ends, np.arange(n), side="right")
    family = np.empty(n, np.int64)
    family[order] = family_sorted
    # Renumber so that family numbers follow the pupils' order (stable, dense).
    _, first_seen = np.unique(family, return_index=True)
    rank = np.empty(first_seen.size, np.int64)
    rank[np.argsort(first_seen, kind="stable")] = np.arange(first_seen.size)
    return rank[family] + first_family


def _relatives_of(
    rng: np.random.Generator, family_count: int, first_family: int, first_index: int
) -> pl.DataFrame:
    per_family = rng.choice([1, 2, 3], size=family_count, p=[0.13, 0.85, 0.02])
    family = np.repeat(np.arange(family_count) + first_family, per_family)
    rank = np.arange(family.size) - np.repeat(np.cumsum(per_family) - per_family, per_family)
    index = np.arange(family.size) + first_index
    return pl.DataFrame({"relative": index, "family": family, "rank_in_family": rank})


def build_region(
    rng: np.random.Generator, scale: Scale, closing_start: int, academy: int = 0
) -> Region:
    """The region's people and schools; `academy` (0, 1...) makes another academy of a
    region of several from the same draw: the same feed ids, its own UAIs and INEs."""
    schools = build_schools(rng, scale, academy)
    town_of_school = schools["town_index"].to_numpy()
    new_start = closing_start + 1

    # Closing year: cohorts per school and level.
    school_0, level_0 = level_counts(rng, schools, _level_factor(schools, 0.3))
    n0 = school_0.size
    family_0 = _families(rng, town_of_school[school_0], 0)
    families_0 = int(family_0.max()) + 1 if n0 else 0

    move = next_year_moves(rng, schools, school_0, level_0)
    late_levels = late_entry_levels(rng, scale, schools)
    apart = late_classes_apart(scale, schools, late_levels)

    # New pupils: entry-level intake and a few newcomers at other levels.
    intake_school, intake_level = entry_intake(rng, schools)
    n_new = intake_school.size
    new_town = town_of_school[intake_school]
    continuing = move["school"] >= 0
    family_new = _join_families(
        rng, new_town, town_of_school[move["school"][continuing]], family_0[continuing]
    )
    fresh = family_new < 0
    fresh_families = _families(rng, new_town[fresh], families_0)
    family_new[fresh] = fresh_families
    families_total = int(fresh_families.max()) + 1 if fresh.any() else families_0

    family = np.concatenate([family_0, family_new])
    family_last = rng.integers(0, len(names.LAST_NAMES), families_total)
    for i, (last, _) in enumerate(names.SHOWCASE_PUPILS[: min(families_total, 4)]):
        family_last[i] = pick_index(names.LAST_NAMES, last)
    first = rng.integers(0, len(names.FIRST_NAMES), n0 + n_new)
    # The first pupil of each showcase family carries the showcase first name.
    for i, (_, first_name) in enumerate(names.SHOWCASE_PUPILS[: min(families_total, 4)]):
        members = np.flatnonzero(family == i)
        if members.size:
            first[members[0]] = pick_index(names.FIRST_NAMES, first_name)

    birth = np.concatenate(
        [_birth_days(rng, closing_start, level_0), _birth_days(rng, new_start, intake_level)]
    )
    # A pupil who repeats a year was born a year earlier than their new level says; the
    # birth date drawn for the closing year stays (identity continuity).
    index = np.arange(n0 + n_new)
    pupils = pl.DataFrame(
        {
            "pupil": index,
            "id": (index + PUPIL_ID_BASE).astype(str),
            "ine": make_ine(index + academy * INE_ACADEMY_SPAN),
            "last_name": pl.Series(names.LAST_NAMES).gather(family_last[family]),
            "first_name": pl.Series(names.FIRST_NAMES).gather(first),
            "birth_date": aaf_dates(birth),
            "family": family,
            "school_0": np.concatenate([school_0, np.full(n_new, -1)]),
            "level_0": np.concatenate([level_0, np.full(n_new, -1)]),
            "school_1": np.concatenate([move["school"], intake_school]),
            "level_1": np.concatenate([move["level"], intake_level]),
            "fate": pl.Series(np.concatenate([move["fate"], np.full(n_new, "arrives")])),
        }
    ).with_columns(pl.col("school_0", "level_0", "school_1", "level_1").replace(-1, None))
    pupils = pupils.with_columns(
        held=pl.struct("school_1", "level_1").map_batches(
            lambda s: held_mask(s, late_levels), return_dtype=pl.Boolean
        )
    )

    relatives = _relatives_frame(rng, families_total, family_last, schools, pupils)
    pupils = pupils.join(
        relatives.group_by("family", maintain_order=True).agg(relative_ids=pl.col("id")),
        on="family",
        how="left",
        maintain_order="left",
    )

    classes_0, placed_0 = form_classes(
        rng, schools, pupils, "school_0", "level_0", closing_start, scale.class_capacity
    )
    classes_1, placed_1 = form_classes(
        rng,
        schools,
        pupils,
        "school_1",
        "level_1",
        new_start,
        scale.class_capacity,
        apart={s: late_levels[s] for s in apart},
    )
    pupils = pupils.join(placed_0, on="pupil", how="left", maintain_order="left").join(
        placed_1, on="pupil", how="left", maintain_order="left"
    )

    staff = build_staff(rng, scale, schools, classes_0)
    return Region(
        closing_start=closing_start,
        schools=schools,
        pupils=pupils,
        relatives=relatives,
        staff=staff,
        classes_0=classes_0,
        classes_1=classes_1,
        late_levels=late_levels,
    )


def _join_families(
    rng: np.random.Generator,
    new_town: np.ndarray,
    continuing_town: np.ndarray,
    continuing_family: np.ndarray,
) -> np.ndarray:
    """For each new pupil, an existing family of the same town (a younger sibling) for about
    one in five, else -1."""
    result = np.full(new_town.size, -1, np.int64)
    if continuing_town.size == 0:
        return result
    order = np.argsort(continuing_town, kind="stable")
    towns_sorted = continuing_town[order]
    start = np.searchsorted(towns_sorted, new_town, side="left")
    stop = np.searchsorted(towns_sorted, new_town, side="right")
    sibling = (rng.random(new_town.size) < 0.2) & (stop > start)
    pick = start + (rng.random(new_town.size) * (stop - start)).astype(np.int64)
    result[sibling] = continuing_family[order[pick[sibling]]]
    return result


def _relatives_frame(
    rng: np.random.Generator,
    families: int,
    family_last: np.ndarray,
    schools: pl.DataFrame,
    pupils: pl.DataFrame,
) -> pl.DataFrame:
    frame = _relatives_of(rng, families, 0, 0)
    n = frame.height
    same_last = (frame["rank_in_family"].to_numpy() == 0) | (rng.random(n) < 0.7)
    last = np.where(
        same_last,
        family_last[frame["family"].to_numpy()],
        rng.integers(0, len(names.LAST_NAMES), n),
    )
    first_idx = rng.integers(0, len(names.FIRST_NAMES), n)
    home = (
        pupils.group_by("family", maintain_order=True)
        .agg(school=pl.coalesce("school_0", "school_1").first())
        .join(
            schools.select("school", "town", "postcode"),
            on="school",
            how="left",
            maintain_order="left",
        )
    )
    folded_first = pl.Series([names.ascii_fold(x) for x in names.FIRST_NAMES]).gather(first_idx)
    folded_last = pl.Series([names.ascii_fold(x) for x in names.LAST_NAMES]).gather(last)
    mobile_digits = rng.integers(10_000_000, 99_999_999, n).astype(str)
    frame = frame.with_columns(
        id=pl.Series((frame["relative"].to_numpy() + RELATIVE_ID_BASE).astype(str)),
        last_name=pl.Series(names.LAST_NAMES).gather(last),
        first_name=pl.Series(names.FIRST_NAMES).gather(first_idx),
        email=pl.when(pl.Series(rng.random(n) < 0.7)).then(
            pl.format(
                "{}.{}{}@{}",
                folded_first,
                folded_last,
                pl.Series(rng.integers(1, 99, n)).cast(pl.String),
                pick(rng, MAIL_DOMAINS, n),
            )
        ),
        mobile=pl.when(pl.Series(rng.random(n) < 0.8)).then(
            pl.when(pl.Series(rng.random(n) < 0.8))
            .then(
                pl.format(
                    "0{} {} {} {} {}",
                    pl.Series(rng.choice(["6", "7"], n)),
                    pl.Series(mobile_digits).str.slice(0, 2),
                    pl.Series(mobile_digits).str.slice(2, 2),
                    pl.Series(mobile_digits).str.slice(4, 2),
                    pl.Series(mobile_digits).str.slice(6, 2),
                )
            )
            .otherwise(pl.format("+33 6.{}", pl.Series(mobile_digits)))
        ),
        address=pl.when(pl.Series(rng.random(n) < 0.9)).then(
            pl.format(
                "{} {}",
                pl.Series(rng.integers(1, 120, n)).cast(pl.String),
                pick(rng, STREETS, n),
            )
        ),
    )
    return frame.join(home.drop("school"), on="family", how="left", maintain_order="left")
