"""The staff of a synthetic region: teachers, directors and other personnel of both years,
with their moves (hires, leavers, changes of school)."""

from __future__ import annotations

import numpy as np
import polars as pl

from rentree.synthetic import names
from rentree.synthetic.draws import (
    ACADEMY_OF_DEPARTMENT,
    OTHER_ACADEMY,
    STAFF_ID_BASE,
    aaf_dates,
    pick_index,
    year_start_days,
)
from rentree.synthetic.scales import Scale


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
        last[i] = pick_index(names.LAST_NAMES, last_name)
        first[i] = pick_index(names.FIRST_NAMES, first_name)
    birth_years = rng.integers(1962, 2001, total)
    birth = year_start_days(birth_years) + rng.integers(0, 365, total)
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
            "birth_date": aaf_dates(birth),
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
