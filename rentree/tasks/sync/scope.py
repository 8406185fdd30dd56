"""The part of the directory a Delta delivery can touch, read instead of the whole of it.

A Delta ("fichier Delta") names the records that changed and marks nobody missing by
absence (feeds.md), so its change set is about the people it names and what follows from
them. `read_delta_scope` loads the delivery's ids once into a staging table and reads, by
joins, only:
- the people it names (their own id, a feed id linked to them, the INE of a pupil record)
  with their relatives, and these relatives' children: the *core*, whose school links,
  class links, relations and scolarité memberships are read whole;
- the classes its pupils are in or may go to (the classes of their schools with a code the
  delivery names), with all the pupils of these classes: a class's levels are its pupils';
- the pupils of the RPI schools of the named pupils (the final level of an RPI school is its
  highest level now, R11's expected leavers);
- the structures and the year's school groups (one row per school), the feed ids and other
  accounts under the delivery's ids, and only the logins a new login could collide with.
The diffs then run on that directory as on the whole one. `trim` keeps, of what they derive
for everyone read, what is about the core and those classes: the rest of the directory is
as the last plan left it (what a Complet re-derives), and planning it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection, Table, case, exists, literal, select, union
from sqlalchemy.sql.base import Executable

from rentree.contracts.vocabulary import STAFF_PROFILES
from rentree.infra.db import cross_join
from rentree.infra.frames import select_frame
from rentree.infra.schema import (
    classes,
    group_members,
    groups,
    relations,
    structures,
    user_classes,
    user_feed_ids,
    user_structures,
    users,
)
from rentree.infra.staging import staging_table
from rentree.tasks.sync.diff_common import Changes, Directory
from rentree.tasks.sync.directory import read_directory
from rentree.tasks.sync.login_candidates import new_login_bases, taken_logins

PEOPLE_TYPES = ("PersEducNat", "Eleve", "PersRelEleve")
_IDS = {"user_external_id": pl.String}


@dataclass(frozen=True)
class DeltaScope:
    """A Delta's part of the directory, and what of a plan on it is exact."""

    directory: Directory
    core: pl.DataFrame  # user_external_id: people whose links and memberships are read whole
    classes: pl.DataFrame  # external_id: classes whose pupils are all read

    def trim(self, conn: Connection, changes: Changes) -> None:
        """Keep, of the changes derived for everyone read, those about the core and the
        classes read whole; a scolarité group is created only if no group has its id."""
        core = self.core
        for kind in (
            "group_members_added",
            "group_members_removed",
            "structure_links_made",
            "structure_links_cut",
        ):
            _keep(changes, kind, lambda f: f.join(core, on="user_external_id", how="semi"))
        _keep(
            changes,
            "classes_updated",
            lambda f: f.join(self.classes, on="external_id", how="semi"),
        )
        wanted = changes.get("groups_created")
        if wanted.height:
            asked = staging_table(conn, "delta_groups", wanted.select("group_id"), ["group_id"])
            existing = select_frame(
                conn,
                select(groups.c.group_id).join(asked, asked.c.group_id == groups.c.group_id),
                {"group_id": pl.String},
            )
            _keep(changes, "groups_created", lambda f: f.join(existing, on="group_id", how="anti"))


def _keep(changes: Changes, kind: str, rows: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    """Replace the changes of `kind` by the rows `rows` keeps of them."""
    frame = changes.get(kind)
    if frame.height:
        changes.parts.pop(kind)
        changes.add(kind, rows(frame))


def is_delta(complete: Mapping[str, bool]) -> bool:
    """True when no feed type of the delivery is a Complet (nobody is missing by absence)."""
    return not any(complete.values())


def delivery_ids(frames: Mapping[str, pl.DataFrame], rejected: Sequence[str]) -> pl.DataFrame:
    """Every person id the delivery names (`id`): its records', the relatives its pupils
    name, and the rejected records'."""
    parts = [pl.DataFrame({"id": list(rejected)}, schema={"id": pl.String})]
    for feed_type in PEOPLE_TYPES:
        if feed_type in frames:
            parts.append(frames[feed_type].select(pl.col("external_id").alias("id")))
    if "Eleve" in frames:
        parts.append(frames["Eleve"].select(pl.col("relative_ids").alias("id")).explode("id"))
    return pl.concat(parts).drop_nulls().unique()


def read_delta_scope(
    conn: Connection,
    school_year: str,
    frames: Mapping[str, pl.DataFrame],
    rejected: Sequence[str],
) -> DeltaScope:
    """The part of the directory of `school_year` the delivery's records can touch."""
    pupils = frames.get("Eleve")
    ids = delivery_ids(frames, rejected)
    named = staging_table(conn, "delta_ids", ids, ["id"])
    ines = pl.DataFrame(schema={"ine": pl.String})
    if pupils is not None:
        ines = pupils.select("ine").drop_nulls().unique()
    ine_table = staging_table(conn, "delta_ines", ines, ["ine"])

    # the accounts the records are about: by id, by a linked feed id, by INE (R1)
    matched = union(
        select(users.c.external_id.label("user_external_id")).join(
            named, named.c.id == users.c.external_id
        ),
        select(user_feed_ids.c.user_external_id).join(
            named, named.c.id == user_feed_ids.c.feed_external_id
        ),
        select(users.c.external_id).join(ine_table, ine_table.c.ine == users.c.ine),
    ).subquery()
    touched = select_frame(
        conn,
        select(users.c.external_id, users.c.profile).join(
            matched, matched.c.user_external_id == users.c.external_id
        ),
        {"user_external_id": pl.String, "profile": pl.String},
    )
    touched_table = _stage(conn, "delta_touched", touched)
    pupil_table = _stage(conn, "delta_pupils", touched.filter(pl.col("profile") == "Student"))

    # their relatives (whose schools and groups follow their children), and these
    # relatives' children (whose schools and classes these relatives' follow)
    relatives = _ids_of(
        conn,
        select(relations.c.relative_external_id).join(
            touched_table, touched_table.c.user_external_id == relations.c.student_external_id
        ),
    )
    # the new people are named by their feed ids (their account ids)
    new_people = ids.select(pl.col("id").alias("user_external_id"))
    core = pl.concat(
        [
            touched.select("user_external_id"),
            new_people,
            relatives,
            staff_out_of_step(conn, school_year),
        ]
    ).unique()
    core_table = _stage(conn, "delta_core", core)
    children = _ids_of(
        conn,
        select(relations.c.student_external_id).join(
            core_table, core_table.c.user_external_id == relations.c.relative_external_id
        ),
    )

    # the schools of the named pupils, now and in the delivery, and the classes there
    schools_now = _ids_of(
        conn,
        union(
            select(user_structures.c.structure_uai).join(
                pupil_table, pupil_table.c.user_external_id == user_structures.c.user_external_id
            ),
            select(classes.c.structure_uai)
            .join(user_classes, user_classes.c.class_external_id == classes.c.external_id)
            .join(pupil_table, pupil_table.c.user_external_id == user_classes.c.user_external_id)
            .where(user_classes.c.school_year == school_year),
        ),
        "structure_uai",
    )
    schools = pl.concat([schools_now, _delivery_schools(conn, frames)]).unique()
    school_table = staging_table(conn, "delta_schools", schools, ["structure_uai"])
    code_table = staging_table(conn, "delta_codes", _delivery_codes(pupils), ["code"])
    touched_classes = select_frame(
        conn,
        union(
            select(user_classes.c.class_external_id.label("external_id"))
            .join(pupil_table, pupil_table.c.user_external_id == user_classes.c.user_external_id)
            .where(user_classes.c.school_year == school_year),
            select(classes.c.external_id)
            .join(school_table, school_table.c.structure_uai == classes.c.structure_uai)
            .join(code_table, code_table.c.code == classes.c.code)
            .where(classes.c.school_year == school_year),
        ),
        {"external_id": pl.String},
    )
    class_table = staging_table(conn, "delta_classes", touched_classes, ["external_id"])
    # class by class (SQLite would otherwise scan every class link once)
    classmates = _ids_of(
        conn,
        select(user_classes.c.user_external_id)
        .select_from(cross_join(class_table, user_classes))
        .where(class_table.c.external_id == user_classes.c.class_external_id),
    )
    # the pupils of the RPI schools of the named pupils (their highest level now)
    rpi_pupils = _ids_of(
        conn,
        select(user_structures.c.user_external_id)
        .join(users, users.c.external_id == user_structures.c.user_external_id)
        .where(
            user_structures.c.structure_uai.in_(
                select(structures.c.uai)
                .join(school_table, school_table.c.structure_uai == structures.c.uai)
                .where(structures.c.rpi.is_not(None))
            ),
            user_structures.c.source == "feed",
            users.c.profile == "Student",
        ),
    )
    read_table = _stage(
        conn, "delta_people", pl.concat([core, children, classmates, rpi_pupils]).unique()
    )

    people = select(read_table.c.user_external_id)
    named_ids = select(named.c.id)
    year_classes = union(
        select(user_classes.c.class_external_id)
        .join(read_table, read_table.c.user_external_id == user_classes.c.user_external_id)
        .where(user_classes.c.school_year == school_year),
        select(class_table.c.external_id),
    )
    directory = read_directory(
        conn,
        school_year,
        within={
            "users": users.c.external_id.in_(people),
            "other_ids": users.c.external_id.in_(named_ids),
            "feed_ids": user_feed_ids.c.feed_external_id.in_(named_ids),
            "structure_links": user_structures.c.user_external_id.in_(people),
            "class_links": user_classes.c.user_external_id.in_(people),
            "relations": relations.c.relative_external_id.in_(
                select(core_table.c.user_external_id)
            ),
            "classes": classes.c.external_id.in_(year_classes),
            "groups": (groups.c.school_year == school_year)
            & (groups.c.class_external_id.is_(None) | groups.c.class_external_id.in_(year_classes)),
        },
        logins=taken_logins(conn, new_login_bases(pupils)),
        members_of=core_table,
    )
    return DeltaScope(
        directory=directory,
        core=core,
        classes=touched_classes,
    )


def staff_out_of_step(conn: Connection, school_year: str) -> pl.DataFrame:
    """Staff whose school groups of the year are not those of their school links: a link
    made or removed by hand (a content import) since the last plan. Whatever the delivery,
    a plan re-derives their memberships (two anti-joins over the staff's links and the
    members of the school staff groups, in the database)."""
    audience = case((users.c.profile == "Teacher", "teachers"), else_="staff")
    school_group = (
        literal(f"{school_year}:") + user_structures.c.structure_uai + literal(":") + audience
    )
    unlisted = (
        select(user_structures.c.user_external_id)
        .join(users, users.c.external_id == user_structures.c.user_external_id)
        .where(
            users.c.source == "feed",
            users.c.profile.in_(STAFF_PROFILES),
            ~exists().where(
                group_members.c.user_external_id == user_structures.c.user_external_id,
                group_members.c.group_id == school_group,
            ),
        )
    )
    profile = case((groups.c.audience == "teachers", "Teacher"), else_="Personnel")
    unlinked = (
        select(group_members.c.user_external_id)
        .join(groups, groups.c.group_id == group_members.c.group_id)
        .where(
            groups.c.kind == "scolarite",
            groups.c.school_year == school_year,
            groups.c.class_external_id.is_(None),
            groups.c.audience.in_(("teachers", "staff")),
            ~exists()
            .select_from(
                user_structures.join(
                    users, users.c.external_id == user_structures.c.user_external_id
                )
            )
            .where(
                user_structures.c.user_external_id == group_members.c.user_external_id,
                user_structures.c.structure_uai == groups.c.structure_uai,
                users.c.source == "feed",
                users.c.profile == profile,
            ),
        )
    )
    return _ids_of(conn, union(unlisted, unlinked))


def _stage(conn: Connection, name: str, people: pl.DataFrame) -> Table:
    return staging_table(conn, name, people.select("user_external_id"), ["user_external_id"])


def _ids_of(conn: Connection, query: Executable, column: str = "user_external_id") -> pl.DataFrame:
    """The one column of a query's rows, named `column`."""
    return select_frame(conn, query, {column: pl.String}).unique()


def _delivery_schools(conn: Connection, frames: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """structure_uai of the schools the pupil records name (ids of the directory's structures
    or of the delivery's EtabEducNat records)."""
    pupils = frames.get("Eleve")
    if pupils is None:
        return pl.DataFrame(schema={"structure_uai": pl.String})
    known = select_frame(
        conn,
        select(structures.c.external_id, structures.c.uai),
        {"external_id": pl.String, "uai": pl.String},
    )
    if "EtabEducNat" in frames:
        known = pl.concat([known, frames["EtabEducNat"].select("external_id", "uai")])
    return (
        pupils.select(pl.col("struct_id").alias("external_id"))
        .join(known, on="external_id", how="inner")
        .select(pl.col("uai").alias("structure_uai"))
        .drop_nulls()
        .unique()
    )


def _delivery_codes(pupils: pl.DataFrame | None) -> pl.DataFrame:
    """The class codes the pupil records name."""
    if pupils is None:
        return pl.DataFrame(schema={"code": pl.String})
    return (
        pl.concat(
            [
                pupils.select(pl.col("class_code").alias("code")),
                pupils.select(pl.col("class_codes").alias("code")).explode("code"),
            ]
        )
        .drop_nulls()
        .unique()
    )
