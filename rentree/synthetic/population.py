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

from rentree.contracts.vocabulary import LEVELS
from rentree.synthetic import names
from rentree.synthetic.scales import Scale

TPS, PS, MS, GS, CP, CE1, CE2, CM1, CM2 = range(9)

# School kinds. An RPI ("regroupement pédagogique intercommunal") is two schools here: the
# first keeps the young pupils up to CE1, the "level 2" school starts at CE2.
MATERNELLE, ELEMENTAIRE, PRIMAIRE, RPI_FIRST, RPI_SECOND = range(5)
KIND_NAMES = ("maternelle", "elementaire", "primaire", "rpi-level-1", "rpi-level-2")
KIND_LOW = np.array([TPS, CP, TPS, TPS, CE2])
KIND_HIGH = np.array([GS, CM2, CM2, CE1, CM2])
STRUCTURE_TYPES = (
    "ECOLE MATERNELLE",
    "ECOLE ELEMENTAIRE",
    "ECOLE PRIMAIRE",
    "ECOLE PRIMAIRE",
    "ECOLE ELEMENTAIRE",
)
SCHOOL_WORDS = ("maternelle", "élémentaire", "primaire", "primaire", "élémentaire")

# A pupil's birth year is the rentrée year minus this offset for its level (TPS: 2 years).
BIRTH_OFFSET = np.arange(9) + 2
STRUCTURE_ID_BASE = 100_000_000
STAFF_ID_BASE = 200_000_000
PUPIL_ID_BASE = 300_000_000
RELATIVE_ID_BASE = 400_000_000
UAI_CHECK_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
ACADEMY_OF_DEPARTMENT = {"059": "ac-lille.fr", "062": "ac-lille.fr"}
OTHER_ACADEMY = "ac-amiens.fr"
STREETS: tuple[str, ...] = (
    "rue de la République",
    "rue Jean Jaurès",
    "place du Général-de-Gaulle",
    "allée des Tilleuls",
    "chemin du Moulin",
    "rue d'Arras",
    "impasse des Lilas",
    "avenue Foch",
    "rue de l'Église",
    "résidence Les Érables",
)
MAIL_DOMAINS: tuple[str, ...] = ("orange.fr", "laposte.net", "gmail.com", "free.fr", "sfr.fr")


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


# -- helpers -------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, choices: tuple[str, ...], size: int) -> pl.Series:
    return pl.Series(choices).gather(rng.integers(0, len(choices), size))


def _pick_index(values: tuple[str, ...], wanted: str) -> int:
    return values.index(wanted)


def _dates(days: np.ndarray) -> pl.Series:
    """Days since 1970-01-01 as `dd/mm/yyyy` strings (the AAF date format)."""
    return pl.Series(days.astype("datetime64[D]")).dt.strftime("%d/%m/%Y")


def _year_start_days(years: np.ndarray) -> np.ndarray:
    return (years - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


def _uai(department: str, number: int) -> str:
    digits = f"{department}{number:04d}"
    return digits + UAI_CHECK_LETTERS[int(digits) % 23]


# INEs are national: another academy's pupils draw theirs from indexes this far apart (the
# scramble is a bijection below 10^10, so they never meet another academy's)
INE_ACADEMY_SPAN = 1_000_000_000


def _ine(index: np.ndarray) -> pl.Series:
    """Ten scrambled digits (a bijection of the index) and a check letter."""
    body = (index.astype(np.int64) * 7_919_317 + 1_234_567) % 10_000_000_000
    letters = np.array(list(UAI_CHECK_LETTERS))[body % 23]
    return pl.Series(np.char.add(np.char.zfill(body.astype(str), 10), letters))


def _select_per_group(
    rng: np.random.Generator, groups: np.ndarray, eligible: np.ndarray, share: float
) -> np.ndarray:
    """A mask choosing floor(share * size) eligible rows in each group, at random."""
    frame = pl.DataFrame({"g": groups, "e": eligible, "k": rng.random(groups.size)})
    size = pl.col("e").sum().over("g")
    rank = pl.col("k").rank("ordinal").over(["g", "e"])
    chosen = frame.select(
        pl.col("e") & (rank <= (size.cast(pl.Float64) * share).floor())
    ).to_series()
    return chosen.to_numpy()


# -- schools -------------------------------------------------------------------------------


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
    uai = [_uai(f"{int(departments[i]) + 100 * academy:03d}", 1000 + i) for i in range(n)]
    patron = _pick(rng, names.SCHOOL_PATRONS, n)
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


# -- pupils and families -------------------------------------------------------------------


def _level_counts(
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
    return _year_start_days(years) + (rng.random(level.size) * span).astype(np.int64)


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
    school_0, level_0 = _level_counts(rng, schools, _level_factor(schools, 0.3))
    n0 = school_0.size
    family_0 = _families(rng, town_of_school[school_0], 0)
    families_0 = int(family_0.max()) + 1 if n0 else 0

    move = _next_year(rng, schools, school_0, level_0)
    late_levels = _late_entries(rng, scale, schools)
    apart = _late_classes_apart(scale, schools, late_levels)

    # New pupils: entry-level intake and a few newcomers at other levels.
    intake_school, intake_level = _intake(rng, schools)
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
        family_last[i] = _pick_index(names.LAST_NAMES, last)
    first = rng.integers(0, len(names.FIRST_NAMES), n0 + n_new)
    # The first pupil of each showcase family carries the showcase first name.
    for i, (_, first_name) in enumerate(names.SHOWCASE_PUPILS[: min(families_total, 4)]):
        members = np.flatnonzero(family == i)
        if members.size:
            first[members[0]] = _pick_index(names.FIRST_NAMES, first_name)

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
            "ine": _ine(index + academy * INE_ACADEMY_SPAN),
            "last_name": pl.Series(names.LAST_NAMES).gather(family_last[family]),
            "first_name": pl.Series(names.FIRST_NAMES).gather(first),
            "birth_date": _dates(birth),
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
            lambda s: _held_mask(s, late_levels), return_dtype=pl.Boolean
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


def _held_mask(rows: pl.Series, late_levels: dict[int, tuple[int, ...]]) -> pl.Series:
    school = rows.struct.field("school_1").fill_null(-1).to_numpy()
    level = rows.struct.field("level_1").fill_null(-1).to_numpy()
    held = np.zeros(school.size, bool)
    for late_school, levels in late_levels.items():
        held |= (school == late_school) & np.isin(level, levels)
    return pl.Series(held)


def _next_year(
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
    unexpected = _select_per_group(rng, school, ongoing & ~repeats, 0.015)
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


def _late_entries(
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


def _late_classes_apart(
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


def _intake(rng: np.random.Generator, schools: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
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
    return _level_counts(rng, schools, factor)


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
                _pick(rng, MAIL_DOMAINS, n),
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
                _pick(rng, STREETS, n),
            )
        ),
    )
    return frame.join(home.drop("school"), on="family", how="left", maintain_order="left")


# -- classes -------------------------------------------------------------------------------


def form_classes(
    rng: np.random.Generator,
    schools: pl.DataFrame,
    pupils: pl.DataFrame,
    school_col: str,
    level_col: str,
    start: int,
    capacity: int,
    apart: dict[int, tuple[int, ...]] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split each school's pupils, in level then name order, into classes of about
    `class_capacity` pupils; a class spanning two levels is a multi-level class. The levels
    `apart` names for a school (school -> levels) are split into classes of their own.

    Returns the classes (school, code, label, levels) and, per pupil, its class code and
    label in columns suffixed with the year's index (`class_code_0`...).
    """
    suffix = school_col.rsplit("_", 1)[1]
    present = pupils.filter(pl.col(school_col).is_not_null()).select(
        "pupil",
        "last_name",
        "first_name",
        school=pl.col(school_col),
        level=pl.col(level_col),
    )
    apart_rows = pl.DataFrame(
        [(s, lv) for s, levels in (apart or {}).items() for lv in levels],
        schema={"school": pl.Int64, "level": pl.Int64},
        orient="row",
    ).with_columns(part=pl.lit(0, dtype=pl.Int64))
    present = (
        present.cast({"school": pl.Int64, "level": pl.Int64})
        .join(apart_rows, on=["school", "level"], how="left", maintain_order="left")
        .with_columns(pl.col("part").fill_null(1))
        .sort("school", "part", "level", "last_name", "first_name", "pupil")
    )
    # Each part of a school (its levels apart, the rest) is split on its own.
    n = pl.len().over("school", "part")
    rank = pl.int_range(pl.len()).over("school", "part")
    k = ((n + capacity - 1) // capacity).cast(pl.Int64)
    present = present.with_columns(
        class_no=(
            pl.struct(pl.col("part"), (rank * k // n).alias("no")).rank("dense").over("school") - 1
        ).cast(pl.Int64)
    )
    classes = (
        present.group_by("school", "class_no", maintain_order=True)
        .agg(levels=pl.col("level").unique(maintain_order=True), size=pl.len())
        .with_columns(
            base=pl.col("levels")
            .list.eval(
                pl.element().replace_strict(list(range(9)), list(LEVELS), return_dtype=pl.String)
            )
            .list.join("-")
        )
        .with_columns(
            letter=pl.int_range(pl.len()).over("school", "base"),
        )
    )
    nickname = _pick(rng, names.CLASS_NICKNAMES, classes.height)
    letters = pl.Series(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    classes = classes.with_columns(
        code=pl.format("{}-{}", pl.col("base"), letters.gather(classes["letter"].to_numpy())),
        label=pl.format(
            "{} {} - {}",
            pl.col("base"),
            letters.gather(classes["letter"].to_numpy()),
            nickname,
        ),
        levels_text=pl.col("base").str.replace_all("-", ","),
    ).join(schools.select("school", "uai", "structure_id"), on="school", maintain_order="left")
    placed = present.join(
        classes.select("school", "class_no", "code", "label"),
        on=["school", "class_no"],
        maintain_order="left",
    ).select(
        "pupil",
        pl.col("code").alias(f"class_code_{suffix}"),
        pl.col("label").alias(f"class_label_{suffix}"),
    )
    classes = classes.select(
        "school", "uai", "structure_id", "code", "label", "levels_text", "size"
    ).with_columns(year_start=pl.lit(start))
    return classes, placed


# -- staff ---------------------------------------------------------------------------------


def build_staff(
    rng: np.random.Generator,
    scale: Scale,
    schools: pl.DataFrame,
    classes_0: pl.DataFrame,
) -> pl.DataFrame:
    """Staff of both years: teachers (one a class plus replacements) and personnel, their
    schools each year, directors, and who moves, arrives and leaves (the "mouvement")."""
    n_schools = len(schools)
    classes_per_school = np.bincount(classes_0["school"].to_numpy(), minlength=n_schools)
    teachers = classes_per_school + rng.binomial(classes_per_school, 0.1)
    personnel = rng.poisson(1.0, n_schools)
    if scale.fixed_layout:
        personnel = np.maximum(personnel, 1)
    teacher_school = np.repeat(np.arange(n_schools), teachers)
    personnel_school = np.repeat(np.arange(n_schools), personnel)
    n0 = teacher_school.size + personnel_school.size
    school_0 = np.concatenate([teacher_school, personnel_school])
    is_teacher = np.concatenate(
        [np.ones(teacher_school.size, bool), np.zeros(personnel_school.size, bool)]
    )
    # The first teacher of each school (lowest index) is its director.
    first_teacher = np.r_[0, np.cumsum(teachers)[:-1]]
    director_0 = np.zeros(n0, bool)
    director_0[first_teacher[teachers > 0]] = True

    fate = np.full(n0, "stays", dtype=object)
    # Directors stay in post; every other kind of change happens at least once.
    pool = np.flatnonzero(~director_0)[rng.permutation(int((~director_0).sum()))]
    n_leaves = max(1, round(n0 * 0.012))
    n_leaves_late = max(1, round(n0 * 0.002))
    n_moves = max(3, round(n0 * 0.1))
    n_late = max(1, round(n_moves * 0.2))
    cut = np.cumsum([n_leaves, n_leaves_late, n_moves - n_late, n_late])
    leaves = np.isin(np.arange(n0), pool[: cut[0]])
    leaves_late = np.isin(np.arange(n0), pool[cut[0] : cut[1]])
    moves = np.isin(np.arange(n0), pool[cut[1] : cut[3]])
    late_move = np.isin(np.arange(n0), pool[cut[2] : cut[3]])
    fate[leaves] = "leaves"
    fate[leaves_late] = "leaves-late"
    fate[moves] = "moves"
    fate[late_move] = "moves-late"
    new_school = school_0.copy()
    moving = np.flatnonzero(moves)
    shift = rng.integers(1, max(2, n_schools), moving.size)
    new_school[moving] = (school_0[moving] + shift) % n_schools

    arrivals = max(2, round(n0 * 0.02))
    late_arrivals = max(1, round(arrivals * 0.1))
    arrival_school = rng.integers(0, n_schools, arrivals)
    arrival_teacher = rng.random(arrivals) < 0.9
    arrival_teacher[0] = True
    fate_arrivals = np.full(arrivals, "arrives", dtype=object)
    fate_arrivals[-late_arrivals:] = "arrives-late"

    total = n0 + arrivals
    school_0_all = np.concatenate([school_0, np.full(arrivals, -1)])
    school_1_all = np.concatenate([new_school, arrival_school])
    school_1_all[np.isin(fate.astype(str), ("leaves", "leaves-late")).nonzero()[0]] = -1
    fate_all = np.concatenate([fate, fate_arrivals]).astype(str)
    teacher_all = np.concatenate([is_teacher, arrival_teacher])

    # Part-time teachers complete their service in a second school; personnel often serve
    # several schools of a district.
    second_0 = np.where(
        (rng.random(total) < np.where(teacher_all, 0.05, 0.4)) & (school_0_all >= 0),
        (school_0_all + 1) % n_schools,
        -1,
    )
    second_0[school_0_all < 0] = -1
    second_1 = np.where(np.isin(fate_all, ("stays",)), second_0, -1)
    if n_schools < 2:
        second_0[:] = -1
        second_1[:] = -1

    director_1 = _new_directors(director_0, fate_all, school_0_all, school_1_all, teacher_all)
    director_0_all = np.concatenate([director_0, np.zeros(arrivals, bool)])

    last = rng.integers(0, len(names.LAST_NAMES), total)
    first = rng.integers(0, len(names.FIRST_NAMES), total)
    for i, (last_name, first_name) in enumerate(names.SHOWCASE_STAFF[: min(total, 2)]):
        last[i] = _pick_index(names.LAST_NAMES, last_name)
        first[i] = _pick_index(names.FIRST_NAMES, first_name)
    birth_years = rng.integers(1962, 2001, total)
    birth = _year_start_days(birth_years) + rng.integers(0, 365, total)
    department = schools["department"].to_numpy()[np.maximum(school_0_all, school_1_all)]
    domain = np.where(
        np.isin(department, list(ACADEMY_OF_DEPARTMENT)), "ac-lille.fr", OTHER_ACADEMY
    )
    mail_first = pl.Series([_mail_part(x) for x in names.FIRST_NAMES]).gather(first)
    mail_last = pl.Series([_mail_part(x) for x in names.LAST_NAMES]).gather(last)
    index = np.arange(total)
    category_present = rng.random(total) < 0.7

    frame = pl.DataFrame(
        {
            "staff": index,
            "id": (index + STAFF_ID_BASE).astype(str),
            "last_name": pl.Series(names.LAST_NAMES).gather(last),
            "first_name": pl.Series(names.FIRST_NAMES).gather(first),
            "birth_date": _dates(birth),
            "mail_base": pl.select(pl.format("{}.{}", mail_first, mail_last)).to_series(),
            "domain": domain,
            "is_teacher": teacher_all,
            "category": pl.select(
                pl.when(pl.Series(category_present)).then(
                    pl.Series(np.where(teacher_all, "O", "N"))
                )
            ).to_series(),
            "fate": fate_all,
            "school_0": school_0_all,
            "second_0": second_0,
            "school_1": school_1_all,
            "second_1": second_1,
            "director_0": director_0_all,
            "director_1": director_1,
            "personnel_kind": rng.integers(0, len(PERSONNEL_FUNCTIONS), total),
        }
    )
    duplicate = pl.int_range(pl.len()).over(pl.col("mail_base") + pl.col("domain"))
    frame = frame.with_columns(
        email=pl.format(
            "{}{}@{}",
            pl.col("mail_base"),
            pl.when(duplicate > 0).then((duplicate + 1).cast(pl.String)).otherwise(pl.lit("")),
            pl.col("domain"),
        )
    ).drop("mail_base", "domain")
    return frame


PERSONNEL_FUNCTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("EDU", "EDUCATION", "AESH", "ACCOMPAGNANT D'ÉLÈVES EN SITUATION DE HANDICAP"),
    ("MDS", "MEDICO-SOCIAL", "PSYEN", "PSYCHOLOGUE DE L'ÉDUCATION NATIONALE"),
    ("ADF", "ADMINISTRATION", "SECR", "SECRÉTARIAT"),
)
TEACHER_FUNCTION = ("ENS", "ENSEIGNEMENT", "G0010", "ENSEIGNANT DU PREMIER DEGRÉ")
DIRECTOR_FUNCTION = ("DIR", "DIRECTION", "G0020", "DIRECTEUR D'ÉCOLE")


def _mail_part(name: str) -> str:
    """An academic address part: accents dropped, hyphens kept, spaces and quotes removed."""
    return "-".join(names.ascii_fold(piece) for piece in name.split("-"))


def _new_directors(
    director_0: np.ndarray,
    fate: np.ndarray,
    school_0: np.ndarray,
    school_1: np.ndarray,
    teacher: np.ndarray,
) -> np.ndarray:
    """Directors stay on; a school whose director leaves gets the first teacher who stays."""
    total = fate.size
    director_1 = np.zeros(total, bool)
    director_1[: director_0.size] = director_0 & (fate[: director_0.size] == "stays")
    vacant = np.setdiff1d(school_0[: director_0.size][director_0], school_1[director_1])
    eligible = np.flatnonzero((fate == "stays") & teacher & (school_1 >= 0))
    schools_of_eligible, first = np.unique(school_1[eligible], return_index=True)
    promoted = eligible[first[np.isin(schools_of_eligible, vacant)]]
    director_1[promoted] = True
    return director_1
