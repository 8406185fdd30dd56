"""What every part of a synthetic region draws from: the levels and school kinds, the id
ranges, the streets and mail domains, and the small draws (a pick, a date, a UAI, an INE, a
share of each group) the schools, pupils and staff modules share."""

from __future__ import annotations

import numpy as np
import polars as pl

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


def pick(rng: np.random.Generator, choices: tuple[str, ...], size: int) -> pl.Series:
    return pl.Series(choices).gather(rng.integers(0, len(choices), size))


def pick_index(values: tuple[str, ...], wanted: str) -> int:
    return values.index(wanted)


def aaf_dates(days: np.ndarray) -> pl.Series:
    """Days since 1970-01-01 as `dd/mm/yyyy` strings (the AAF date format)."""
    return pl.Series(days.astype("datetime64[D]")).dt.strftime("%d/%m/%Y")


def year_start_days(years: np.ndarray) -> np.ndarray:
    return (years - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)


def make_uai(department: str, number: int) -> str:
    digits = f"{department}{number:04d}"
    return digits + UAI_CHECK_LETTERS[int(digits) % 23]


# INEs are national: another academy's pupils draw theirs from indexes this far apart (the
# scramble is a bijection below 10^10, so they never meet another academy's)
INE_ACADEMY_SPAN = 1_000_000_000


def make_ine(index: np.ndarray) -> pl.Series:
    """Ten scrambled digits (a bijection of the index) and a check letter."""
    body = (index.astype(np.int64) * 7_919_317 + 1_234_567) % 10_000_000_000
    letters = np.array(list(UAI_CHECK_LETTERS))[body % 23]
    return pl.Series(np.char.add(np.char.zfill(body.astype(str), 10), letters))


def select_per_group(
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
