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

from rentree.contracts.vocabulary import LEVELS
from rentree.infra.naming import academy_id_prefix, class_id, school_year_of
from rentree.synthetic.aaf_writer import DEFAULT_CHUNK_SIZE
from rentree.synthetic.content import Inventory, build_inventory
from rentree.synthetic.deliveries import (
    Delivery,
    DeliveryPlan,
    staff_state,
    write_deliveries,
)
from rentree.synthetic.draws import KIND_NAMES, RPI_FIRST, RPI_SECOND, STAFF_ID_BASE
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
    manifest = _manifest(
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


def _school_year(region: Region, year: int) -> str:
    start = region.closing_start + year
    return f"{start}-{start + 1}"


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
    school_year = _school_year(region, year)
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
        name = f"{_school_year(first, year)}.csv"
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
        written[_school_year(first, year)] = f"attach-teachers/{name}"
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


def _uai_of(region: Region) -> list[str]:
    return region.schools["uai"].to_list()


def _manifest(
    scale: ScaleName,
    seed: int,
    chunk_size: int,
    region: Region,
    plan: DeliveryPlan,
    deliveries: list[Delivery],
    inventory: Inventory,
    attach: dict[str, str],
) -> dict[str, Any]:
    schools = region.schools
    uai = _uai_of(region)
    sid = schools["structure_id"].to_list()
    pupils = region.pupils
    staff = region.staff
    closing_year = _school_year(region, 0)
    new_year = _school_year(region, 1)

    fate_counts = dict(pupils.group_by("fate").len().sort("fate").iter_rows())
    final_level = schools.select("school", "high")
    expected = (
        pupils.filter(pl.col("school_0").is_not_null())
        .join(final_level, left_on="school_0", right_on="school", maintain_order="left")
        .filter(pl.col("level_0") == pl.col("high"))
        .group_by("school_0")
        .len()
        .sort("school_0")
    )
    held = (
        pupils.filter(pl.col("held"))
        .group_by("school_1", "level_1")
        .len()
        .sort("school_1", "level_1")
    )
    held_count = {(s, lv): n for s, lv, n in held.iter_rows()}
    # Classes of the new year with no pupil before the late delivery (R10 keeps a teacher's
    # request for them pending until then).
    late_classes = (
        pupils.filter(pl.col("school_1").is_not_null())
        .group_by("school_1", "class_code_1")
        .agg(pl.col("held").all())
        .filter(pl.col("held"))
        .sort("school_1", "class_code_1")
    )
    late_classes_of: dict[int, list[str]] = {}
    for s, code, _ in late_classes.iter_rows():
        late_classes_of.setdefault(s, []).append(class_id(new_year, uai[s], code))
    late_entries = [
        {
            "uai": uai[s],
            "structure_id": sid[s],
            "school_kind": KIND_NAMES[int(schools["kind"][s])],
            "levels": [LEVELS[lv] for lv in levels],
            "pupils": sum(held_count.get((s, lv), 0) for lv in levels),
            "late_classes": late_classes_of.get(s, []),
            "missing_from": plan.family_first.strftime("%Y%m%d"),
            "arrive_in": plan.family_late.strftime("%Y%m%d"),
        }
        for s, levels in sorted(region.late_levels.items())
    ]
    rpi = [
        {
            "code": schools["rpi"][s],
            "level1": {"uai": uai[s], "structure_id": sid[s], "levels": "TPS-CE1"},
            "level2": {
                "uai": uai[s + 1],
                "structure_id": sid[s + 1],
                "levels": "CE2-CM2",
                "first_level": "CE2",
            },
        }
        for s in schools.filter(pl.col("kind") == RPI_FIRST)["school"].to_list()
        if int(schools["kind"][s + 1]) == RPI_SECOND
    ]
    gs_to_cp = pupils.filter(pl.col("fate").is_in(["gs-to-cp", "gs-to-cp-elsewhere"]))
    example_gs = gs_to_cp.head(3).select("id", "ine", "school_0", "school_1").to_dicts()
    for row in example_gs:
        row["from_uai"] = uai[row.pop("school_0")]
        row["to_uai"] = uai[row.pop("school_1")]

    siblings = (
        pupils.group_by("family", maintain_order=True)
        .agg(pl.col("id"), pl.col("relative_ids").first())
        .filter(pl.col("id").list.len() > 1)
    )
    sibling_example = siblings.head(1).to_dicts()

    def staff_ids(*fates: str) -> list[str]:
        return staff.filter(pl.col("fate").is_in(fates)).sort("staff")["id"].to_list()

    def moves(fate: str) -> list[dict[str, Any]]:
        rows = staff.filter(pl.col("fate") == fate).sort("staff")
        return [
            {"id": i, "from": uai[a], "to": uai[b]}
            for i, a, b in zip(rows["id"], rows["school_0"], rows["school_1"], strict=True)
        ]

    new_directors = staff.filter(pl.col("director_1") & ~pl.col("director_0"))
    shares = inventory.shares
    scolarite = shares.filter(
        (pl.col("recipient_kind") == "group") & pl.col("recipient_id").str.contains(r"^\d{4}-")
    )
    content_counts = {table: frame.height for table, frame in inventory.tables().items()}
    classes_0 = region.classes_0
    return {
        "generator": "rentree generate",
        "seed": seed,
        "scale": scale,
        "closing_year": closing_year,
        "new_year": new_year,
        "chunk_size": chunk_size,
        "deliveries": [
            {
                "school_year": d.school_year,
                "delivery": d.extraction.strftime("%Y%m%d"),
                "purpose": d.purpose,
                "records": d.records(),
                "files": [
                    {
                        "name": f.name,
                        "type": f.file_type,
                        "mode": f.mode,
                        "chunk": f.chunk,
                        "records": f.records,
                    }
                    for f in d.files
                ],
            }
            for d in deliveries
        ],
        "counts": {
            "schools": schools.height,
            "schools_by_kind": {
                KIND_NAMES[k]: n for k, n in schools.group_by("kind").len().sort("kind").iter_rows()
            },
            "classes": {closing_year: classes_0.height, new_year: region.classes_1.height},
            "students": {
                closing_year: pupils.filter(pl.col("school_0").is_not_null()).height,
                new_year: pupils.filter(pl.col("school_1").is_not_null()).height,
            },
            "relatives": {
                d.school_year + "/" + d.extraction.strftime("%Y%m%d"): d.records()["PersRelEleve"]
                for d in deliveries
                if "PersRelEleve" in d.records()
            },
            "staff": {
                closing_year: staff.filter(pl.col("school_0") >= 0).height,
                new_year: staff.filter(pl.col("school_1") >= 0).height,
            },
            "content": content_counts,
        },
        "students": {
            "fates": fate_counts,
            "expected_leavers": {
                "rule": "pupils of the school's last level in the closing year "
                "(GS in maternelle, CM2 in élémentaire and primaire, CE1 in an RPI level-1 "
                "school)",
                "total": int(expected["len"].sum()),
                "by_uai": {uai[s]: n for s, n in expected.iter_rows()},
            },
            "unexpected_leavers": fate_counts.get("leaves-region", 0),
            "held_back": int(pupils["held"].sum()),
            "gs_to_cp_examples": example_gs,
        },
        "late_entries": late_entries,
        "rpi": rpi,
        "families": {
            "with_siblings": siblings.height,
            "example": sibling_example,
        },
        "staff": {
            "moves": moves("moves"),
            "late_moves": moves("moves-late"),
            "arrivals": staff_ids("arrives"),
            "late_arrivals": staff_ids("arrives-late"),
            "leavers": staff_ids("leaves"),
            "late_leavers": staff_ids("leaves-late"),
            "new_directors": [
                {"id": i, "uai": uai[s]}
                for i, s in zip(new_directors["id"], new_directors["school_1"], strict=True)
            ],
        },
        "content": {
            "guests": inventory.users["external_id"].to_list(),
            "manual_staff_links": inventory.manual_staff_links,
            "heavy_users": inventory.heavy_users,
            "shares_by_recipient_kind": dict(
                shares.group_by("recipient_kind").len().sort("recipient_kind").iter_rows()
            ),
            "shares_to_closing_scolarite_groups": scolarite.height,
            "closing_class_example": class_id(
                closing_year, classes_0["uai"][0], classes_0["code"][0]
            ),
        },
        "attach_teachers": attach,
    }
