"""Classes and scolarité groups ("groupes de scolarité") of a school year, from the directory
as the delivery leaves it.

Class groups: `<class id>:students|relatives|teachers`; school groups:
`<year>:<UAI>:students|relatives|teachers|staff`. rentree manages the members of every
scolarité group except the class teachers groups, whose members are the teacher attachments
(R10, `tasks.attachments`).
"""

from __future__ import annotations

import polars as pl

from rentree.contracts.vocabulary import STAFF_PROFILES
from rentree.infra.naming import class_group_id, school_group_id
from rentree.tasks.sync.diff_common import LEVELS, Changes, Directory, diff_links
from rentree.tasks.sync.diff_relatives import plan_relative_schools

CLASS_AUDIENCES = ("students", "relatives", "teachers")
SCHOOL_AUDIENCES = ("students", "relatives", "teachers", "staff")
_AUDIENCE_NAMES = {
    "students": "élèves",
    "relatives": "parents",
    "teachers": "enseignants",
    "staff": "personnels",
}
_LINK = ["user_external_id", "structure_uai"]


def _apply(
    current: pl.DataFrame, made: pl.DataFrame, cut: pl.DataFrame, on: list[str]
) -> pl.DataFrame:
    kept = current.join(cut.select(on), on=on, how="anti")
    return pl.concat([kept, made.select(current.columns)], how="vertical_relaxed")


def users_after(directory: Directory, changes: Changes) -> pl.DataFrame:
    """external_id, profile, source, level, missing (bool) of every feed person afterwards."""
    base = directory.users.select("external_id", "profile", "source", "level", "missing_since")
    updated = changes.get("users_updated").select(
        "external_id", pl.col("profile").alias("p2"), pl.col("level").alias("l2")
    )
    base = (
        base.join(updated, on="external_id", how="left")
        .with_columns(
            pl.coalesce("p2", "profile").alias("profile"),
            pl.when(pl.col("p2").is_not_null() | pl.col("l2").is_not_null())
            .then(pl.col("l2"))
            .otherwise(pl.col("level"))
            .alias("level"),
        )
        .drop("p2", "l2")
    )
    created = changes.get("users_created").select(
        "external_id", "profile", "source", "level", "missing_since"
    )
    people = pl.concat([base, created], how="vertical_relaxed")
    missing = changes.get("users_missing").select("external_id", pl.lit(True).alias("now_missing"))
    back = changes.get("users_back").select("external_id", pl.lit(True).alias("now_back"))
    return (
        people.join(missing, on="external_id", how="left")
        .join(back, on="external_id", how="left")
        .select(
            "external_id",
            "profile",
            "source",
            "level",
            (
                pl.col("now_missing").fill_null(False)
                | (pl.col("missing_since").is_not_null() & ~pl.col("now_back").fill_null(False))
            ).alias("missing"),
        )
    )


def _sorted_levels(levels: pl.Expr) -> pl.Expr:
    order = {level: rank for rank, level in enumerate(LEVELS)}
    return levels.unique().sort_by(levels.unique().replace_strict(order, default=len(LEVELS)))


def plan_classes_and_groups(
    directory: Directory,
    changes: Changes,
    *,
    structures_after: pl.DataFrame,
    named_classes: pl.DataFrame,
    family: bool,
    rejected: pl.DataFrame,
) -> None:
    """Add relatives' school links (family deliveries), classes, groups and memberships."""
    year = directory.school_year
    people = users_after(directory, changes)
    links = _apply(
        directory.structure_links.select(*_LINK, "source", "director"),
        changes.get("structure_links_made"),
        changes.get("structure_links_cut"),
        _LINK,
    )
    relations = _apply(
        directory.relations,
        changes.get("relations_made"),
        changes.get("relations_cut"),
        ["student_external_id", "relative_external_id"],
    )
    class_links = _apply(
        directory.class_links.select("user_external_id", "class_external_id", "source"),
        changes.get("class_links_made").select("user_external_id", "class_external_id", "source"),
        changes.get("class_links_cut"),
        ["user_external_id", "class_external_id"],
    )
    if family:
        relatives = people.filter(
            (pl.col("profile") == "Relative") & (pl.col("source") == "feed") & ~pl.col("missing")
        ).select(pl.col("external_id").alias("user_external_id"))
        relatives = relatives.join(
            rejected.select(pl.col("account_id").alias("user_external_id")),
            on="user_external_id",
            how="anti",
        )
        students = people.filter(pl.col("profile") == "Student").select(
            pl.col("external_id").alias("user_external_id")
        )
        student_links = links.filter(pl.col("source") == "feed").join(
            students, on="user_external_id", how="semi"
        )
        made, cut = plan_relative_schools(directory, relatives, student_links, relations, changes)
        links = _apply(links, made, cut, _LINK)

    student_ids = people.filter(pl.col("profile") == "Student").select(
        pl.col("external_id").alias("user_external_id"), "level"
    )
    student_classes = class_links.join(student_ids, on="user_external_id", how="inner")

    # classes: the delivery's new ones, labels it renames, levels of their students now
    levels = (
        student_classes.drop_nulls("level")
        .group_by("class_external_id")
        .agg(_sorted_levels(pl.col("level")).str.join(",").alias("levels_now"))
    )
    current = directory.classes.select("external_id", "structure_uai", "label", "levels")
    created = (
        named_classes.join(current, on="external_id", how="anti")
        .join(levels.rename({"class_external_id": "external_id"}), on="external_id", how="left")
        .with_columns(pl.col("levels_now").fill_null("").alias("levels"))
    )
    changes.add("classes_created", created)
    renamed = named_classes.select("external_id", pl.col("label").alias("label_now"))
    updated = (
        current.join(renamed, on="external_id", how="left")
        .join(levels.rename({"class_external_id": "external_id"}), on="external_id", how="left")
        .with_columns(
            pl.coalesce("label_now", "label").alias("label_after"),
            pl.coalesce("levels_now", "levels").alias("levels_after"),
        )
        .filter(
            (pl.col("label_after") != pl.col("label"))
            | (pl.col("levels_after") != pl.col("levels"))
        )
        .select(
            "external_id",
            pl.col("label_after").alias("label"),
            pl.col("levels_after").alias("levels"),
            pl.struct("label", "levels").struct.json_encode().alias("before"),
        )
    )
    changes.add("classes_updated", updated)
    classes = pl.concat(
        [
            current.select("external_id", "structure_uai", "label"),
            created.select("external_id", "structure_uai", "label"),
        ]
    )
    classes = classes.join(
        updated.select("external_id", pl.col("label").alias("l2")), on="external_id", how="left"
    ).with_columns(pl.coalesce("l2", "label").alias("label"))

    _plan_groups(directory, changes, year, classes, structures_after)
    _plan_members(directory, changes, year, people, links, relations, student_classes, classes)


def _plan_groups(
    directory: Directory,
    changes: Changes,
    year: str,
    classes: pl.DataFrame,
    structures: pl.DataFrame,
) -> None:
    rows: list[dict[str, str | None]] = []
    for class_external_id, uai, label in classes.select(
        "external_id", "structure_uai", "label"
    ).iter_rows():
        for audience in CLASS_AUDIENCES:
            rows.append(
                {
                    "group_id": class_group_id(class_external_id, audience),
                    "structure_uai": uai,
                    "class_external_id": class_external_id,
                    "audience": audience,
                    "name": f"{label} – {_AUDIENCE_NAMES[audience]} {year}",
                }
            )
    for uai, name in structures.select("uai", "name").iter_rows():
        for audience in SCHOOL_AUDIENCES:
            rows.append(
                {
                    "group_id": school_group_id(year, uai, audience),
                    "structure_uai": uai,
                    "class_external_id": None,
                    "audience": audience,
                    "name": f"{name} – {_AUDIENCE_NAMES[audience]} {year}",
                }
            )
    wanted = pl.DataFrame(
        rows,
        schema={
            "group_id": pl.String,
            "structure_uai": pl.String,
            "class_external_id": pl.String,
            "audience": pl.String,
            "name": pl.String,
        },
        orient="row",
    ).with_columns(pl.lit("scolarite").alias("kind"), pl.lit(year).alias("school_year"))
    changes.add("groups_created", wanted.join(directory.groups, on="group_id", how="anti"))


def _plan_members(
    directory: Directory,
    changes: Changes,
    year: str,
    people: pl.DataFrame,
    links: pl.DataFrame,
    relations: pl.DataFrame,
    student_classes: pl.DataFrame,
    classes: pl.DataFrame,
) -> None:
    class_ids = student_classes["class_external_id"].unique()
    class_group = dict(
        zip(
            class_ids.to_list(),
            [class_group_id(c, "students") for c in class_ids.to_list()],
            strict=True,
        )
    )
    class_relatives_group = {c: class_group_id(c, "relatives") for c in class_ids.to_list()}
    students = student_classes.select("user_external_id", "class_external_id").join(
        classes.select(pl.col("external_id").alias("class_external_id"), "structure_uai"),
        on="class_external_id",
        how="left",
    )
    relatives = students.join(
        relations.rename(
            {"student_external_id": "user_external_id", "relative_external_id": "relative"}
        ),
        on="user_external_id",
        how="inner",
    )
    uais = pl.concat([students["structure_uai"], links["structure_uai"]]).drop_nulls().unique()
    school_group = {
        (uai, audience): school_group_id(year, uai, audience)
        for uai in uais.to_list()
        for audience in SCHOOL_AUDIENCES
    }
    staff = links.join(
        people.select(pl.col("external_id").alias("user_external_id"), "profile"),
        on="user_external_id",
        how="inner",
    ).filter(pl.col("profile").is_in(STAFF_PROFILES))

    def school(audience: str) -> pl.Expr:
        mapping = {u: g for (u, a), g in school_group.items() if a == audience}
        return pl.col("structure_uai").replace_strict(mapping, default=None, return_dtype=pl.String)

    target = pl.concat(
        [
            students.select(
                pl.col("class_external_id")
                .replace_strict(class_group, default=None, return_dtype=pl.String)
                .alias("group_id"),
                "user_external_id",
            ),
            relatives.select(
                pl.col("class_external_id")
                .replace_strict(class_relatives_group, default=None, return_dtype=pl.String)
                .alias("group_id"),
                pl.col("relative").alias("user_external_id"),
            ),
            students.select(school("students").alias("group_id"), "user_external_id"),
            relatives.select(
                school("relatives").alias("group_id"),
                pl.col("relative").alias("user_external_id"),
            ),
            staff.filter(pl.col("profile") == "Teacher").select(
                school("teachers").alias("group_id"), "user_external_id"
            ),
            staff.filter(pl.col("profile") == "Personnel").select(
                school("staff").alias("group_id"), "user_external_id"
            ),
        ]
    ).drop_nulls()
    made, cut = diff_links(target, directory.group_members, ["group_id", "user_external_id"])
    changes.add("group_members_added", made)
    changes.add("group_members_removed", cut)
