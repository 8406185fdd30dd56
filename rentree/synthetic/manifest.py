"""The manifest of a generated region (`manifest.json`): what it holds, for the demo, the
tests and the bench to find without reading the files: schools, people, deliveries, content."""

from __future__ import annotations

from typing import Any

import polars as pl

from rentree.contracts.vocabulary import LEVELS
from rentree.infra.naming import class_id
from rentree.synthetic.content import Inventory
from rentree.synthetic.deliveries import (
    Delivery,
    DeliveryPlan,
)
from rentree.synthetic.draws import KIND_NAMES, RPI_FIRST, RPI_SECOND
from rentree.synthetic.population import Region
from rentree.synthetic.scales import ScaleName


def school_year_label(region: Region, year: int) -> str:
    start = region.closing_start + year
    return f"{start}-{start + 1}"


def uai_of(region: Region) -> list[str]:
    return region.schools["uai"].to_list()


def region_manifest(
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
    uai = uai_of(region)
    sid = schools["structure_id"].to_list()
    pupils = region.pupils
    staff = region.staff
    closing_year = school_year_label(region, 0)
    new_year = school_year_label(region, 1)

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
