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
from datetime import UTC, datetime

import numpy as np
import polars as pl

from rentree.contracts.content import MINIMUM_COLUMNS, RIGHTS
from rentree.infra.naming import class_group_id, class_id, school_group_id
from rentree.synthetic import names
from rentree.synthetic.draws import PUPIL_ID_BASE, RELATIVE_ID_BASE, STAFF_ID_BASE
from rentree.synthetic.population import Region
from rentree.synthetic.scales import Scale
from rentree.tasks.sync.accounts import assign_logins
from rentree.tasks.sync.diff_groups import CLASS_AUDIENCES, SCHOOL_AUDIENCES

GUEST_ID_BASE = 900_000_000
RIGHTS_WEIGHTS = (0.75, 0.18, 0.07)
BIG_FILE_BYTES = (300 * 1024**2, 450 * 1024**2)

# (app, area, share of a profile's productions, median size in bytes, lognormal sigma)
Production = tuple[str, str, float, float, float]
STAFF_PRODUCTIONS: tuple[Production, ...] = (
    ("documents", "own", 0.38, 250_000, 1.6),
    ("documents", "apps", 0.15, 400_000, 1.4),
    ("documents", "trash", 0.05, 250_000, 1.6),
    ("messaging", "inbox", 0.20, 12_000, 1.3),
    ("messaging", "sent", 0.10, 15_000, 1.3),
    ("messaging", "trash", 0.04, 10_000, 1.2),
    ("blog", "own", 0.03, 90_000, 1.2),
    ("notebook", "own", 0.03, 150_000, 1.2),
    ("wiki", "own", 0.01, 40_000, 1.0),
    ("pad", "own", 0.01, 8_000, 0.8),
)
STUDENT_PRODUCTIONS: tuple[Production, ...] = (
    ("documents", "own", 0.30, 180_000, 1.5),
    ("documents", "apps", 0.20, 300_000, 1.4),
    ("documents", "trash", 0.05, 150_000, 1.5),
    ("messaging", "inbox", 0.30, 8_000, 1.2),
    ("messaging", "sent", 0.05, 6_000, 1.1),
    ("blog", "own", 0.05, 60_000, 1.2),
    ("notebook", "own", 0.05, 120_000, 1.2),
)
FAMILY_PRODUCTIONS: tuple[Production, ...] = (
    ("messaging", "inbox", 0.70, 9_000, 1.2),
    ("messaging", "sent", 0.18, 7_000, 1.1),
    ("messaging", "trash", 0.07, 8_000, 1.1),
    ("documents", "own", 0.05, 200_000, 1.5),
)
SHAREABLE = ("own", "apps")


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


class Pool:
    """Values grouped by an integer key, for drawing a random value of a given key."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.values = values[order]

    def pick(self, rng: np.random.Generator, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A random value for each wanted key, and whether the key had any value."""
        start = np.searchsorted(self.keys, wanted, side="left")
        stop = np.searchsorted(self.keys, wanted, side="right")
        found = stop > start
        at = start + (rng.random(wanted.size) * (stop - start)).astype(np.int64)
        at = np.where(found, at, 0)
        if self.values.size == 0:
            return np.zeros(wanted.size, self.values.dtype), np.zeros(wanted.size, bool)
        return self.values[at], found


def _choice(rng: np.random.Generator, n: int, weights: tuple[float, ...]) -> np.ndarray:
    p = np.asarray(weights, float)
    return rng.choice(p.size, size=n, p=p / p.sum())


def _iso(seconds: np.ndarray) -> pl.Series:
    instants = pl.Series(seconds.astype(np.int64) * 1_000_000).cast(pl.Datetime("us"))
    return instants.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _ids(prefix: str, n: int) -> pl.Series:
    return pl.select(
        pl.format("{}-{}", pl.lit(prefix), pl.int_range(n).cast(pl.String).str.zfill(7))
    ).to_series()


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
        kind = _choice(rng, school.size, weights)
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
    group_ids = _ids("manual", n_groups)
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
    bookmark_ids = _ids("bookmark", n_bookmarks)
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
    group_members_of_bookmarks = _scolarite_or_manual(
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

    resources, heavy_users = _resources(
        rng,
        scale,
        region,
        staff_id,
        pupil_id,
        relative_id,
        guest_id,
    )
    shares = _shares(
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


def _scolarite_or_manual(
    rng: np.random.Generator,
    year: str,
    uai: np.ndarray,
    school: np.ndarray,
    classes_of: Pool,
    group_pool: Pool,
    group_ids: pl.Series,
) -> np.ndarray:
    """A group of the school: a class group (60%), a school group (15%), a manual group."""
    n = school.size
    kind = _choice(rng, n, (0.6, 0.15, 0.25))
    klass, has_class = classes_of.pick(rng, school)
    audience = np.array(CLASS_AUDIENCES, dtype=object)[_choice(rng, n, (0.45, 0.4, 0.15))]
    school_audience = np.array(SCHOOL_AUDIENCES, dtype=object)[
        rng.integers(0, len(SCHOOL_AUDIENCES), n)
    ]
    manual, has_manual = group_pool.pick(rng, school)
    manual_ids = group_ids.to_numpy()[manual] if n else np.zeros(0, object)
    school_group = np.array(
        [school_group_id(year, uai[s], a) for s, a in zip(school, school_audience, strict=True)],
        dtype=object,
    )
    class_group = np.array(
        [
            class_group_id(c, a) if ok else ""
            for c, a, ok in zip(klass, audience, has_class, strict=True)
        ],
        dtype=object,
    )
    out = np.where((kind == 0) & has_class, class_group, school_group)
    return np.where((kind == 2) & has_manual, manual_ids, out).astype(str)


def _resources(
    rng: np.random.Generator,
    scale: Scale,
    region: Region,
    staff_id: np.ndarray,
    pupil_id: np.ndarray,
    relative_id: np.ndarray,
    guest_id: np.ndarray,
) -> tuple[pl.DataFrame, list[str]]:
    """Productions per owner, with lognormal sizes per app and a few very big files."""
    parts: list[pl.DataFrame] = []
    profile_sets = (
        (staff_id, scale.resources_per_staff, STAFF_PRODUCTIONS, 0),
        (pupil_id, scale.resources_per_student, STUDENT_PRODUCTIONS, 1),
        (relative_id, scale.resources_per_relative, FAMILY_PRODUCTIONS, 2),
        (guest_id, 5.0, FAMILY_PRODUCTIONS, 3),
    )
    for owners, mean, productions, profile in profile_sets:
        count = rng.poisson(mean, owners.size)
        owner = np.repeat(owners, count)
        kind = _choice(rng, owner.size, tuple(p[2] for p in productions))
        median = np.array([p[3] for p in productions])[kind]
        sigma = np.array([p[4] for p in productions])[kind]
        size = np.maximum(200, median * np.exp(sigma * rng.standard_normal(owner.size)))
        parts.append(
            pl.DataFrame(
                {
                    "owner_code": owner,
                    "profile_code": np.full(owner.size, profile),
                    "app": pl.Series([p[0] for p in productions]).gather(kind),
                    "area": pl.Series([p[1] for p in productions]).gather(kind),
                    "size_bytes": np.minimum(size, 1.5 * 1024**3).astype(np.int64),
                }
            )
        )
    # A few staff keep videos: near their quota, they top the storage report.
    heavy = staff_id[rng.permutation(staff_id.size)[: max(1, round(staff_id.size * 0.002))]]
    heavy_owner = np.repeat(heavy, 4)
    parts.append(
        pl.DataFrame(
            {
                "owner_code": heavy_owner,
                "profile_code": np.zeros(heavy_owner.size, np.int64),
                "app": "documents",
                "area": np.tile(np.array(["own", "own", "apps", "trash"]), heavy.size),
                "size_bytes": rng.integers(*BIG_FILE_BYTES, heavy_owner.size).astype(np.int64),
            }
        )
    )
    frame = pl.concat(parts)
    n = frame.height
    start = int(datetime(region.closing_start, 9, 2, tzinfo=UTC).timestamp())
    stop = int(datetime(region.closing_start + 1, 7, 4, tzinfo=UTC).timestamp())
    created = rng.integers(start, stop, n)
    frame = frame.with_columns(
        resource_id=_ids("res", n),
        owner_external_id=pl.col("owner_code").cast(pl.String),
        created_at=_iso(created),
    ).select(
        "resource_id",
        "owner_external_id",
        "app",
        "area",
        "size_bytes",
        "created_at",
        "owner_code",
        "profile_code",
    )
    return frame, sorted(str(h) for h in heavy)


def _shares(
    rng: np.random.Generator,
    year: str,
    uai: np.ndarray,
    resources: pl.DataFrame,
    staff_id: np.ndarray,
    staff_school: np.ndarray,
    pupil_id: np.ndarray,
    pupil_school: np.ndarray,
    people_of: object,
    classes_of: Pool,
    staff_of: Pool,
    group_pool: Pool,
    owner_group_pool: Pool,
    group_ids: pl.Series,
    bookmark_pool: Pool,
    bookmark_ids: pl.Series,
) -> pl.DataFrame:
    """Shares of staff and pupil productions (documents, app documents, blogs...)."""
    shareable = resources.filter(
        pl.col("area").is_in(SHAREABLE) & pl.col("profile_code").is_in([0, 1])
    )
    owner = shareable["owner_code"].to_numpy()
    profile = shareable["profile_code"].to_numpy()
    shared = rng.random(owner.size) < np.where(profile == 0, 0.35, 0.1)
    per_resource = np.where(shared, 1 + np.minimum(rng.poisson(0.5, owner.size), 3), 0)
    row_resource = np.repeat(np.arange(owner.size), per_resource)
    row_owner = owner[row_resource]
    row_staff = profile[row_resource] == 0
    school_by_staff = Pool(staff_id, staff_school)
    school_by_pupil = Pool(pupil_id, pupil_school)
    owner_school = np.where(
        row_staff,
        school_by_staff.pick(rng, row_owner)[0],
        school_by_pupil.pick(rng, row_owner)[0],
    )
    n = row_resource.size
    # Staff: class group, school group, by name, manual group, bookmark; pupils: a teacher
    # by name or their class group.
    kind = np.where(
        row_staff,
        _choice(rng, n, (0.3, 0.08, 0.3, 0.15, 0.17)),
        np.where(rng.random(n) < 0.6, 2, 0),
    )
    scolarite = _scolarite_or_manual(
        rng, year, uai, owner_school, classes_of, group_pool, group_ids
    )
    school_audience = np.array(SCHOOL_AUDIENCES, dtype=object)[
        rng.integers(0, len(SCHOOL_AUDIENCES), n)
    ]
    school_group = np.array(
        [
            school_group_id(year, uai[s], a)
            for s, a in zip(owner_school, school_audience, strict=True)
        ],
        dtype=object,
    ).astype(str)
    person = people_of(owner_school, (0.55, 0.3, 0.1, 0.05))  # type: ignore[operator]
    teacher, _ = staff_of.pick(rng, owner_school)
    by_name = np.where(row_staff, person, teacher).astype(str)
    own_group, has_group = owner_group_pool.pick(rng, row_owner)
    own_bookmark, has_bookmark = bookmark_pool.pick(rng, row_owner)
    group_text = group_ids.to_numpy()[own_group] if n else np.zeros(0, object)
    bookmark_text = bookmark_ids.to_numpy()[own_bookmark] if n else np.zeros(0, object)
    kind = np.where((kind == 3) & ~has_group, 2, kind)
    kind = np.where((kind == 4) & ~has_bookmark, 2, kind)
    recipient = np.select(
        [kind == 0, kind == 1, kind == 2, kind == 3],
        [scolarite, school_group, by_name, group_text],
        default=bookmark_text,
    ).astype(str)
    recipient_kind = np.select(
        [kind == 2, kind == 4], ["user", "bookmark"], default="group"
    ).astype(str)
    rights = pl.Series(RIGHTS).gather(_choice(rng, n, RIGHTS_WEIGHTS))
    return pl.DataFrame(
        {
            "resource_id": shareable["resource_id"].gather(row_resource),
            "recipient_kind": recipient_kind,
            "recipient_id": recipient,
            "rights": rights,
        }
    ).unique(subset=["resource_id", "recipient_kind", "recipient_id"], maintain_order=True)
