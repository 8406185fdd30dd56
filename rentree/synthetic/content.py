"""The content inventory of the closing year ("productions et partages"), as storage.md's
tables: Guest accounts and their manual school links, manual groups, share bookmarks,
productions (documents, messages, app documents, trash) and shares.

Shares point to people by name, to manual groups, to bookmarks and to the closing year's
scolarité groups by the ids rentree will give them (infra.naming; only the audiences the
sync engine makes, tasks.diff_groups), so that the share purge (R5) has something to purge
and the bookmark report (R13) members that left. Every reference resolves once the closing
year's feeds are imported: the inventory imports with no reject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from rentree.contracts.content import MINIMUM_COLUMNS
from rentree.infra.naming import class_id
from rentree.synthetic import names
from rentree.synthetic.draws import PUPIL_ID_BASE, RELATIVE_ID_BASE, STAFF_ID_BASE
from rentree.synthetic.population import Region
from rentree.synthetic.productions import (
    Pool,
    draw_resources,
    draw_shares,
    numbered_ids,
    scolarite_or_manual,
    weighted_choice,
)
from rentree.synthetic.scales import Scale
from rentree.tasks.sync.accounts import assign_logins

GUEST_ID_BASE = 900_000_000


@dataclass(frozen=True)
class Inventory:
    """One frame per storage.md table that `rentree content import` reads."""

    users: pl.DataFrame
    user_structures: pl.DataFrame
    groups: pl.DataFrame
    group_members: pl.DataFrame
    bookmarks: pl.DataFrame
    bookmark_members: pl.DataFrame
    resources: pl.DataFrame
    shares: pl.DataFrame
    heavy_users: list[str]
    manual_staff_links: list[dict[str, str]]

    def tables(self) -> dict[str, pl.DataFrame]:
        return {
            "users": self.users,
            "user_structures": self.user_structures,
            "groups": self.groups,
            "group_members": self.group_members,
            "bookmarks": self.bookmarks,
            "bookmark_members": self.bookmark_members,
            "resources": self.resources,
            "shares": self.shares,
        }


def build_inventory(rng: np.random.Generator, scale: Scale, region: Region) -> Inventory:
    year = f"{region.closing_start}-{region.closing_start + 1}"
    schools = region.schools
    uai = schools["uai"].to_numpy()
    n_schools = len(schools)

    staff = region.staff.filter(pl.col("school_0") >= 0)
    staff_id = staff["staff"].to_numpy() + STAFF_ID_BASE
    staff_school = staff["school_0"].to_numpy()
    teacher = staff["is_teacher"].to_numpy()
    pupils = region.pupils.filter(pl.col("school_0").is_not_null())
    pupil_id = pupils["pupil"].to_numpy() + PUPIL_ID_BASE
    pupil_school = pupils["school_0"].to_numpy()
    families = pupils.group_by("family", maintain_order=True).agg(school=pl.col("school_0").first())
    relatives = region.relatives.join(families, on="family", how="inner", maintain_order="left")
    relative_id = relatives["relative"].to_numpy() + RELATIVE_ID_BASE
    relative_school = relatives["school"].to_numpy()

    # Guests: manual accounts (foster families, visitors), each attached to a school by hand.
    n_guests = max(3, round(n_schools * scale.guests_per_school))
    guest_school = rng.integers(0, n_schools, n_guests)
    guest_id = np.arange(n_guests) + GUEST_ID_BASE
    guest_first = rng.integers(0, len(names.FIRST_NAMES), n_guests)
    guest_last = rng.integers(0, len(names.LAST_NAMES), n_guests)
    guest_last[0] = names.LAST_NAMES.index("N'Diaye")
    users = pl.DataFrame(
        {
            "external_id": guest_id.astype(str),
            "profile": "Guest",
            "source": "manual",
            "identity": "local",
            "ine": pl.Series([None] * n_guests, dtype=pl.String),
            "first_name": pl.Series(names.FIRST_NAMES).gather(guest_first),
            "last_name": pl.Series(names.LAST_NAMES).gather(guest_last),
            "missing_since": pl.Series([None] * n_guests, dtype=pl.String),
        }
    )
    users = users.join(
        _guest_logins(users, pupils), on="external_id", how="left", maintain_order="left"
    ).select(MINIMUM_COLUMNS["users"])

    # Manual school links: every Guest, and a few staff attached by hand to another school
    # (some of them movers: a link made by hand survives the staff import, R8).
    movers = np.flatnonzero(np.isin(staff["fate"].to_numpy(), ("moves", "moves-late")))
    stayers = np.flatnonzero(staff["fate"].to_numpy() == "stays")
    n_links = max(1, round(staff.height * 0.005))
    linked = (
        np.concatenate([movers[:1], stayers[: max(0, n_links - 1)]]).astype(np.int64)
        if n_schools > 1
        else np.zeros(0, np.int64)
    )
    link_school = (staff_school[linked] + 2) % n_schools
    manual_staff_links = [
        {"user_external_id": str(staff_id[i]), "structure_uai": str(uai[s])}
        for i, s in zip(linked.tolist(), link_school.tolist(), strict=True)
    ]
    user_structures = pl.DataFrame(
        {
            "user_external_id": np.concatenate([guest_id, staff_id[linked]]).astype(str),
            "structure_uai": uai[np.concatenate([guest_school, link_school])],
            "source": "manual",
        }
    )

    # Per-school pools of who a teacher knows, as ints (ids) for fast drawing.
    pupils_of = Pool(pupil_school, pupil_id)
    staff_of = Pool(staff_school, staff_id)
    relatives_of = Pool(relative_school, relative_id)
    guests_of = Pool(guest_school, guest_id)
    classes = region.classes_0
    class_ids = np.array(
        [class_id(year, u, c) for u, c in zip(classes["uai"], classes["code"], strict=True)],
        dtype=object,
    )
    classes_of = Pool(classes["school"].to_numpy(), class_ids)
    teachers = np.flatnonzero(teacher)

    def people_of(school: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
        """Someone of the school: pupil, colleague, relative or guest, by weight."""
        kind = weighted_choice(rng, school.size, weights)
        out = np.zeros(school.size, np.int64)
        for k, pool in enumerate((pupils_of, staff_of, relatives_of, guests_of)):
            rows = kind == k
            picked, found = pool.pick(rng, school[rows])
            fallback, _ = staff_of.pick(rng, school[rows])
            out[rows] = np.where(found, picked, fallback)
        return out

    # Manual groups, owned by teachers, with members from their school.
    n_groups = max(2, round(0.3 * teachers.size))
    group_owner = teachers[rng.integers(0, teachers.size, n_groups)]
    group_school = staff_school[group_owner]
    group_ids = numbered_ids("manual", n_groups)
    groups = pl.DataFrame(
        {
            "group_id": group_ids,
            "kind": "manual",
            "school_year": pl.Series([None] * n_groups, dtype=pl.String),
            "structure_uai": uai[group_school],
            "class_external_id": pl.Series([None] * n_groups, dtype=pl.String),
            "audience": pl.Series([None] * n_groups, dtype=pl.String),
            "name": _pick_names(rng, names.MANUAL_GROUP_NAMES, n_groups),
            "owner_external_id": staff_id[group_owner].astype(str),
        }
    )
    sizes = 3 + rng.poisson(8, n_groups)
    member_group = np.repeat(np.arange(n_groups), sizes)
    members = people_of(group_school[member_group], (0.6, 0.15, 0.2, 0.05))
    group_members = pl.DataFrame(
        {"group_id": group_ids.gather(member_group), "user_external_id": members.astype(str)}
    ).unique(maintain_order=True)
    group_pool = Pool(group_school, np.arange(n_groups))
    owner_group_pool = Pool(staff_id[group_owner], np.arange(n_groups))

    # Share bookmarks, owned by teachers: people and groups, some of them leaving.
    n_bookmarks = max(2, round(0.4 * teachers.size))
    bookmark_owner = teachers[rng.integers(0, teachers.size, n_bookmarks)]
    bookmark_school = staff_school[bookmark_owner]
    bookmark_ids = numbered_ids("bookmark", n_bookmarks)
    bookmarks = pl.DataFrame(
        {
            "bookmark_id": bookmark_ids,
            "owner_external_id": staff_id[bookmark_owner].astype(str),
            "name": _pick_names(rng, names.BOOKMARK_NAMES, n_bookmarks),
        }
    )
    sizes = 2 + rng.poisson(6, n_bookmarks)
    member_bookmark = np.repeat(np.arange(n_bookmarks), sizes)
    member_school = bookmark_school[member_bookmark]
    is_group = rng.random(member_bookmark.size) < 0.25
    user_members = people_of(member_school, (0.5, 0.3, 0.15, 0.05)).astype(str)
    group_members_of_bookmarks = scolarite_or_manual(
        rng, year, uai, member_school, classes_of, group_pool, group_ids
    )
    leavers = np.flatnonzero(np.isin(staff["fate"].to_numpy(), ("leaves", "leaves-late")))
    bookmark_members = pl.concat(
        [
            pl.DataFrame(
                {
                    "bookmark_id": bookmark_ids.gather(member_bookmark),
                    "member_kind": np.where(is_group, "group", "user"),
                    "member_id": np.where(is_group, group_members_of_bookmarks, user_members),
                }
            ),
            # Each staff leaver stays in a colleague's bookmark (R13 reports them).
            pl.DataFrame(
                {
                    "bookmark_id": bookmark_ids.gather(rng.integers(0, n_bookmarks, leavers.size)),
                    "member_kind": "user",
                    "member_id": staff_id[leavers].astype(str),
                }
            ),
        ]
    ).unique(maintain_order=True)
    bookmark_pool = Pool(staff_id[bookmark_owner], np.arange(n_bookmarks))

    resources, heavy_users = draw_resources(
        rng,
        scale,
        region,
        staff_id,
        pupil_id,
        relative_id,
        guest_id,
    )
    shares = draw_shares(
        rng,
        year,
        uai,
        resources,
        staff_id,
        staff_school,
        pupil_id,
        pupil_school,
        people_of,
        classes_of,
        staff_of,
        group_pool,
        owner_group_pool,
        group_ids,
        bookmark_pool,
        bookmark_ids,
    )
    return Inventory(
        users=users,
        user_structures=user_structures,
        groups=groups,
        group_members=group_members,
        bookmarks=bookmarks,
        bookmark_members=bookmark_members,
        resources=resources.drop("owner_code", "profile_code"),
        shares=shares,
        heavy_users=heavy_users,
        manual_staff_links=manual_staff_links,
    )


def _guest_logins(guests: pl.DataFrame, pupils: pl.DataFrame) -> pl.DataFrame:
    """Guests' logins under R3, free of the logins the closing year's pupils get when the
    directory first imports them: the inventory is imported after that year's feeds, and a
    login can belong to one account only."""
    people = ["external_id", "first_name", "last_name"]
    pupil_logins = assign_logins(
        pupils.select(pl.col("id").alias("external_id"), "first_name", "last_name"),
        pl.Series("login", [], dtype=pl.String),
    )["login"]
    return assign_logins(guests.select(people), pupil_logins)


def _pick_names(rng: np.random.Generator, choices: tuple[str, ...], n: int) -> pl.Series:
    return pl.Series(choices).gather(rng.integers(0, len(choices), n))
