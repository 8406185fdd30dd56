"""The AAF deliveries of a rollover, as the academy sends them (feeds.md, domain.md timeline).

Closing year: one complete delivery of the four types in early September. New year: the
first staff file in late August, a staff Delta with the late moves of the "mouvement", the
first family delivery right after the ONDE switch (entry levels of some schools missing:
late ONDE entries) and a second family delivery a few days later that brings them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from rentree.contracts.vocabulary import LEVELS
from rentree.infra.aaf import ATTRIBUTES
from rentree.infra.naming import FeedType, Mode
from rentree.synthetic.aaf_writer import (
    WrittenFile,
    add_requests,
    delete_requests,
    modify_requests,
    write_feed,
)
from rentree.synthetic.population import Region
from rentree.synthetic.staff import DIRECTOR_FUNCTION, PERSONNEL_FUNCTIONS, TEACHER_FUNCTION


@dataclass(frozen=True)
class DeliveryPlan:
    """The extraction dates of the five deliveries of a rollover."""

    closing: date
    staff_first: date
    staff_late: date
    family_first: date
    family_late: date

    @classmethod
    def for_closing_year(cls, closing_start: int) -> DeliveryPlan:
        new = closing_start + 1
        return cls(
            closing=date(closing_start, 9, 6),
            staff_first=date(new, 8, 22),
            staff_late=date(new, 8, 28),
            family_first=date(new, 9, 3),
            family_late=date(new, 9, 9),
        )


@dataclass
class Delivery:
    """Files of one extraction date, in one school year's landing folder."""

    school_year: str
    extraction: date
    purpose: str
    files: list[WrittenFile] = field(default_factory=list)

    def records(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.file_type] = counts.get(f.file_type, 0) + f.records
        return counts


# -- frames per type -----------------------------------------------------------------------


def aaf_attributes(
    file_type: FeedType,
    record_id: pl.Expr,
    leave_out: tuple[str, ...] = (),
    **computed: pl.Expr,
) -> list[pl.Expr]:
    """The record id and the AAF attributes of a type, in the reader's order and named as
    the academy names them: the reader's map (`infra.aaf.ATTRIBUTES`) read backwards. Each
    comes from the frame's column of the reader's name, or from `computed` under that name."""
    return [record_id.alias("id")] + [
        computed.get(a.column, pl.col(a.column)).alias(a.aaf)
        for a in ATTRIBUTES[file_type]
        if a.column not in leave_out
    ]


def structures(region: Region) -> pl.DataFrame:
    return region.schools.select(aaf_attributes("EtabEducNat", pl.col("structure_id")))


def _structure_of(region: Region, column: str) -> pl.Expr:
    """The structure id of a school-index column (null for -1)."""
    ids = region.schools["structure_id"]
    return (
        pl.when(pl.col(column) >= 0)
        .then(pl.col(column).replace_strict(list(range(ids.len())), ids.to_list(), default=None))
        .otherwise(None)
    )


def _function(sid: pl.Expr, parts: tuple[str, str, str, str]) -> pl.Expr:
    code, label, discipline, discipline_label = parts
    return pl.concat_str([sid, pl.lit(f"${code}${label}${discipline}${discipline_label}")])


def staff_state(region: Region, year: int, late_applied: bool) -> pl.DataFrame:
    """Each staff member's schools and director post in a year: `year` 0 is the closing
    year; in year 1, before the late Delta (`late_applied` false) the late movers are still
    at their old school, late leavers still there and late arrivals not yet there."""
    staff = region.staff
    if year == 0:
        state = staff.filter(pl.col("school_0") >= 0).select(
            "staff", school="school_0", second="second_0", director="director_0"
        )
    else:
        fate = pl.col("fate")
        pending = pl.lit(not late_applied)
        pending_move = (fate == "moves-late") & pending
        still_here = (fate == "leaves-late") & pending
        state = (
            staff.with_columns(
                school=pl.when(pending_move | still_here)
                .then(pl.col("school_0"))
                .otherwise(pl.col("school_1")),
                second=pl.when(pending_move | still_here)
                .then(pl.col("second_0"))
                .otherwise(pl.col("second_1")),
            )
            .filter(pl.col("school") >= 0)
            .filter((fate != "arrives-late") | pl.lit(late_applied))
            .select("staff", "school", "second", director="director_1")
        )
    return state.sort("staff")


def staff_records(region: Region, state: pl.DataFrame) -> pl.DataFrame:
    """PersEducNat attributes of a staff state (see `staff_state`)."""
    people = state.join(region.staff, on="staff", how="left", maintain_order="left")
    primary = _structure_of(region, "school")
    second = _structure_of(region, "second")
    personnel = [_function(pl.col("primary_sid"), parts) for parts in PERSONNEL_FUNCTIONS]
    personnel_function = pl.col("personnel_kind")
    own_function = (
        pl.when(pl.col("is_teacher"))
        .then(_function(pl.col("primary_sid"), TEACHER_FUNCTION))
        .when(personnel_function == 0)
        .then(personnel[0])
        .when(personnel_function == 1)
        .then(personnel[1])
        .otherwise(personnel[2])
    )
    second_function = (
        pl.when(pl.col("is_teacher"))
        .then(_function(pl.col("second_sid"), TEACHER_FUNCTION))
        .when(personnel_function == 0)
        .then(_function(pl.col("second_sid"), PERSONNEL_FUNCTIONS[0]))
        .when(personnel_function == 1)
        .then(_function(pl.col("second_sid"), PERSONNEL_FUNCTIONS[1]))
        .otherwise(_function(pl.col("second_sid"), PERSONNEL_FUNCTIONS[2]))
    )
    director_function = pl.when(pl.col("director")).then(
        _function(pl.col("primary_sid"), DIRECTOR_FUNCTION)
    )
    return people.with_columns(primary_sid=primary, second_sid=second).select(
        aaf_attributes(
            "PersEducNat",
            pl.col("id"),
            struct_ids=pl.concat_list("primary_sid", "second_sid").list.drop_nulls(),
            functions=pl.concat_list(
                own_function, director_function, second_function
            ).list.drop_nulls(),
            director_of=pl.concat_list(
                pl.when(pl.col("director")).then("primary_sid")
            ).list.drop_nulls(),
            teacher_category=pl.col("category"),
        )
    )


def pupil_records(region: Region, pupils: pl.DataFrame, year: int) -> pl.DataFrame:
    """Eleve attributes of the given pupils in a year (0 closing, 1 new)."""
    start = region.closing_start + year
    sid = _structure_of(region, f"school_{year}")
    level = pl.col(f"level_{year}").replace_strict(
        list(range(len(LEVELS))), list(LEVELS), return_dtype=pl.String
    )
    return pupils.with_columns(sid=sid).select(
        aaf_attributes(
            "Eleve",
            pl.col("id"),
            struct_ids=pl.col("sid"),
            classes=pl.concat_str(
                [
                    pl.col("sid"),
                    pl.lit(f"${start}$"),
                    level,
                    pl.lit("$"),
                    pl.col(f"class_code_{year}"),
                    pl.lit("$"),
                    pl.col(f"class_label_{year}"),
                ]
            ),
            level=level,
        )
    )


def relative_records(region: Region, pupils: pl.DataFrame) -> pl.DataFrame:
    """PersRelEleve attributes of the relatives of the given pupils."""
    families = pupils.select("family").unique()
    return (
        region.relatives.join(families, on="family", how="semi", maintain_order="left")
        .sort("relative")
        # the pupils a relative answers for are written on the pupils' side only
        .select(aaf_attributes("PersRelEleve", pl.col("id"), ("student_ids",), city=pl.col("town")))
    )


# -- the deliveries ------------------------------------------------------------------------


def _write(
    delivery: Delivery,
    folder: Path,
    file_type: FeedType,
    mode: Mode,
    records: list[pl.Series],
    chunk_size: int,
) -> None:
    delivery.files += write_feed(folder, file_type, mode, delivery.extraction, records, chunk_size)


def write_deliveries(
    region: Region,
    landing: Path,
    plan: DeliveryPlan,
    chunk_size: int,
    academy: str | None = None,
) -> list[Delivery]:
    """Write the five deliveries under `landing/<school-year>/` (`<school-year>/<academy>/`
    for an academy of a region of several) and describe them."""
    closing_year = f"{region.closing_start}-{region.closing_start + 1}"
    new_year = f"{region.closing_start + 1}-{region.closing_start + 2}"
    closing_dir = landing / closing_year / (academy or "")
    new_dir = landing / new_year / (academy or "")
    etab = add_requests(structures(region), "EtabEducNat")
    pupils = region.pupils

    closing = Delivery(closing_year, plan.closing, "closing year, complete")
    closing_pupils = pupils.filter(pl.col("school_0").is_not_null()).sort("pupil")
    _write(closing, closing_dir, "EtabEducNat", "Complet", [etab], chunk_size)
    staff_0 = staff_records(region, staff_state(region, 0, late_applied=True))
    _write(
        closing,
        closing_dir,
        "PersEducNat",
        "Complet",
        [add_requests(staff_0, "PersEducNat")],
        chunk_size,
    )
    _write_family(region, closing, closing_dir, closing_pupils, 0, chunk_size)

    staff_first = Delivery(new_year, plan.staff_first, "first staff file of the new year")
    first_state = staff_state(region, 1, late_applied=False)
    _write(
        staff_first,
        new_dir,
        "PersEducNat",
        "Complet",
        [add_requests(staff_records(region, first_state), "PersEducNat")],
        chunk_size,
    )

    staff_late = Delivery(new_year, plan.staff_late, "late staff moves (Delta)")
    final_state = staff_state(region, 1, late_applied=True)
    final_records = staff_records(region, final_state)
    fate = region.staff.select("id", "fate")
    late_ids = fate.filter(pl.col("fate") == "moves-late").select("id")
    arrival_ids = fate.filter(pl.col("fate") == "arrives-late").select("id")
    modified = final_records.join(late_ids, on="id", how="semi", maintain_order="left").select(
        "id", "ENTPersonStructRattach", "ENTPersonFonctions"
    )
    added = final_records.join(arrival_ids, on="id", how="semi", maintain_order="left")
    deleted = fate.filter(pl.col("fate") == "leaves-late")["id"]
    _write(
        staff_late,
        new_dir,
        "PersEducNat",
        "Delta",
        [
            add_requests(added, "PersEducNat"),
            modify_requests(modified, "PersEducNat"),
            delete_requests(deleted, "PersEducNat"),
        ],
        chunk_size,
    )

    present = pupils.filter(pl.col("school_1").is_not_null()).sort("pupil")
    family_first = Delivery(new_year, plan.family_first, "first family files after the switch")
    _write(family_first, new_dir, "EtabEducNat", "Complet", [etab], chunk_size)
    _write_family(region, family_first, new_dir, present.filter(~pl.col("held")), 1, chunk_size)
    family_late = Delivery(new_year, plan.family_late, "family files with the late entries")
    _write(family_late, new_dir, "EtabEducNat", "Complet", [etab], chunk_size)
    _write_family(region, family_late, new_dir, present, 1, chunk_size)
    return [closing, staff_first, staff_late, family_first, family_late]


def _write_family(
    region: Region,
    delivery: Delivery,
    folder: Path,
    pupils: pl.DataFrame,
    year: int,
    chunk_size: int,
) -> None:
    eleve = add_requests(pupil_records(region, pupils, year), "Eleve")
    _write(delivery, folder, "Eleve", "Complet", [eleve], chunk_size)
    relatives = add_requests(relative_records(region, pupils), "PersRelEleve")
    _write(delivery, folder, "PersRelEleve", "Complet", [relatives], chunk_size)
