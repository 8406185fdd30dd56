"""Synthetic region generator: AAF deliveries of a rollover and the closing year's content.

`generate_region` writes, under one folder:

- `landing/<closing-year>/` and `landing/<new-year>/`: the AAF files, laid out like the
  storage `landing/` prefix (storage.md) so that a demo can copy them in;
- `content/<table>.parquet`: the content inventory of the closing year (storage.md tables);
- `attach-teachers/<school-year>.csv`: which teacher takes which class, in the format of
  `rentree attach-teachers`;
- `manifest.json`: seed, scale, deliveries, counts and the facts tests and demos check.

`academies=2` makes a region of two academies (Lille and Amiens): each academy's deliveries
in `landing/<school-year>/<code>/`, drawn from the same seed so that their feed ids overlap
on purpose (UAIs and INEs, national, do not); the content inventory (the first academy's) and
the teachers' requests carry the directory's ids, scoped by academy
(`naming.academy_id_prefix`). The manifest's
facts are those of the first academy; `manifest["academies"]` lists both.

Same seed and scale, same bytes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from rentree.infra.naming import academy_id_prefix, school_year_of
from rentree.synthetic.aaf_writer import DEFAULT_CHUNK_SIZE
from rentree.synthetic.content import build_inventory
from rentree.synthetic.deliveries import (
    Delivery,
    DeliveryPlan,
    staff_state,
    write_deliveries,
)
from rentree.synthetic.draws import STAFF_ID_BASE
from rentree.synthetic.manifest import region_manifest, school_year_label
from rentree.synthetic.population import Region, build_region
from rentree.synthetic.scales import SCALE_NAMES, SCALES, ScaleName

DEFAULT_SEED = 20250901
DEFAULT_CLOSING_YEAR = "2024-2025"
# The academies of a generated region of several (Hauts-de-France), by academy code.
REGION_ACADEMIES: tuple[tuple[str, str], ...] = (("09", "Lille"), ("20", "Amiens"))
OUTPUT_ENTRIES = ("landing", "content", "attach-teachers", "manifest.json")

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CLOSING_YEAR",
    "DEFAULT_SEED",
    "REGION_ACADEMIES",
    "SCALE_NAMES",
    "GeneratedRegion",
    "OutputNotEmpty",
    "generate_region",
]


class OutputNotEmpty(Exception):
    """The output folder already holds files; the message is one sentence."""


@dataclass(frozen=True)
class GeneratedRegion:
    out: Path
    manifest: dict[str, Any]

    @property
    def files(self) -> int:
        return sum(len(d["files"]) for d in self.manifest["deliveries"])


def generate_region(
    scale: ScaleName,
    out: Path,
    seed: int = DEFAULT_SEED,
    closing_year: str = DEFAULT_CLOSING_YEAR,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    replace: bool = False,
    academies: int = 1,
) -> GeneratedRegion:
    """Generate a synthetic region into `out` (see the module docstring)."""
    if not 1 <= academies <= len(REGION_ACADEMIES):
        raise ValueError(
            f"{academies} academies is not usable; generate 1 to {len(REGION_ACADEMIES)}."
        )
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALE_NAMES)}.")
    if chunk_size < 1:
        raise ValueError(f"chunk size {chunk_size} is not usable; give at least 1 record.")
    closing_start = int(closing_year[:4])
    if school_year_of(DeliveryPlan.for_closing_year(closing_start).closing) != closing_year:
        raise ValueError(f"{closing_year!r} is not a school year; write it as 2024-2025.")
    _prepare(out, replace)

    plan = DeliveryPlan.for_closing_year(closing_start)
    codes: list[str | None] = [None]
    if academies > 1:
        codes = [code for code, _ in REGION_ACADEMIES[:academies]]
    written: list[tuple[str | None, Region, list[Delivery]]] = []
    for index, code in enumerate(codes):
        # every academy is drawn from the same seed: the same feed ids, on purpose
        rng = np.random.default_rng(seed)
        region = build_region(rng, SCALES[scale], closing_start, academy=index)
        deliveries = write_deliveries(region, out / "landing", plan, chunk_size, code)
        if index == 0:
            first_rng, first_region, first_deliveries = rng, region, deliveries
        written.append((code, region, deliveries))
    inventory = build_inventory(first_rng, SCALES[scale], first_region)
    content_dir = out / "content"
    content_dir.mkdir(parents=True, exist_ok=True)
    for table, frame in inventory.tables().items():
        scoped = scope_content(table, frame, codes[0])
        scoped.write_parquet(content_dir / f"{table}.parquet", compression="zstd")
    attach = _write_attachments(
        [(code, region) for code, region, _ in written], out / "attach-teachers"
    )
    manifest = region_manifest(
        scale, seed, chunk_size, first_region, plan, first_deliveries, inventory, attach
    )
    if academies > 1:
        names_of = dict(REGION_ACADEMIES)
        manifest["academies"] = [
            {
                "code": code,
                "name": names_of[str(code)],
                "deliveries": {
                    d.extraction.strftime("%Y%m%d"): [f.name for f in d.files] for d in deliveries
                },
            }
            for code, _, deliveries in written
        ]
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return GeneratedRegion(out=out, manifest=manifest)


def _prepare(out: Path, replace: bool) -> None:
    if out.exists() and not out.is_dir():
        raise OutputNotEmpty(f"{out} is a file; give a folder to generate into.")
    if out.exists() and any(out.iterdir()):
        if not replace:
            raise OutputNotEmpty(
                f"{out} is not empty; choose a new folder, or pass --replace to overwrite "
                "a region generated there before."
            )
        for entry in OUTPUT_ENTRIES:
            target = out / entry
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _attachments(region: Region, year: int) -> pl.DataFrame:
    """Teacher of each class: a school's teachers take its classes in turn."""
    state = staff_state(region, year, late_applied=True).join(
        region.staff.select("staff", "is_teacher"), on="staff", maintain_order="left"
    )
    teachers = (
        state.filter(pl.col("is_teacher"))
        .sort("school", "staff")
        .with_columns(turn=pl.int_range(pl.len()).over("school"), team=pl.len().over("school"))
    )
    classes = region.classes_0 if year == 0 else region.classes_1
    school_year = school_year_label(region, year)
    return (
        classes.with_columns(turn=pl.int_range(pl.len()).over("school"))
        .join(teachers.select("school", "team").unique("school"), on="school")
        .with_columns(turn=pl.col("turn") % pl.col("team"))
        .join(teachers.select("school", "turn", "staff"), on=["school", "turn"])
        .sort("school", "code")
        .select(
            teacher_external_id=(pl.col("staff") + STAFF_ID_BASE).cast(pl.String),
            class_external_id=pl.concat_str(
                [pl.lit(f"{school_year}:"), pl.col("uai"), pl.lit(":"), pl.col("code")]
            ),
        )
    )


def _write_attachments(regions: list[tuple[str | None, Region]], folder: Path) -> dict[str, str]:
    """Which teacher takes which class, for every academy (teacher ids as the directory
    holds them: scoped by academy in a region of several)."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    first = regions[0][1]
    for year in (0, 1):
        name = f"{school_year_label(first, year)}.csv"
        pl.concat(
            [
                _attachments(region, year).with_columns(
                    (pl.lit(academy_id_prefix(code)) + pl.col("teacher_external_id")).alias(
                        "teacher_external_id"
                    )
                    if code
                    else pl.col("teacher_external_id")
                )
                for code, region in regions
            ]
        ).write_csv(folder / name)
        written[school_year_label(first, year)] = f"attach-teachers/{name}"
    return written


# The columns of the content tables that name a person (a user reference), and the column
# saying, where needed, that a row's id is a user's: ids the directory scopes by academy.
_PERSON_COLUMNS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "users": (("external_id", None),),
    "user_structures": (("user_external_id", None),),
    "groups": (("owner_external_id", None),),
    "group_members": (("user_external_id", None),),
    "bookmarks": (("owner_external_id", None),),
    "bookmark_members": (("member_id", "member_kind"),),
    "resources": (("owner_external_id", None),),
    "shares": (("recipient_id", "recipient_kind"),),
}


def scope_content(table: str, frame: pl.DataFrame, academy: str | None) -> pl.DataFrame:
    """A content table with its people's ids as the directory of a region of several
    academies holds them (unchanged for a one-academy region)."""
    if academy is None:
        return frame
    prefix = academy_id_prefix(academy)
    scoped = []
    if table == "users":
        # the previous ENT's logins are unique region-wide: a guest's does not take the one
        # the directory gives a namesake of another academy
        scoped.append(
            pl.when(pl.col("login").is_not_null())
            .then(pl.col("login") + pl.lit(f".{academy}"))
            .otherwise(pl.col("login"))
            .alias("login")
        )
    for column, kind in _PERSON_COLUMNS.get(table, ()):
        value = pl.lit(prefix) + pl.col(column)
        if kind is not None:
            value = pl.when(pl.col(kind) == "user").then(value).otherwise(pl.col(column))
        scoped.append(value.alias(column))
    return frame.with_columns(scoped)
