"""The productions and shares of a synthetic closing year: each profile's documents, messages
and app documents drawn around a median size per app and area, the few very big files, and
who they are shared with (people, manual groups, bookmarks, scolarité groups)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from rentree.contracts.content import RIGHTS
from rentree.infra.naming import class_group_id, school_group_id
from rentree.synthetic.population import Region
from rentree.synthetic.scales import Scale
from rentree.tasks.sync.diff_groups import CLASS_AUDIENCES, SCHOOL_AUDIENCES

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


def weighted_choice(rng: np.random.Generator, n: int, weights: tuple[float, ...]) -> np.ndarray:
    p = np.asarray(weights, float)
    return rng.choice(p.size, size=n, p=p / p.sum())


def iso_times(seconds: np.ndarray) -> pl.Series:
    instants = pl.Series(seconds.astype(np.int64) * 1_000_000).cast(pl.Datetime("us"))
    return instants.dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def numbered_ids(prefix: str, n: int) -> pl.Series:
    return pl.select(
        pl.format("{}-{}", pl.lit(prefix), pl.int_range(n).cast(pl.String).str.zfill(7))
    ).to_series()


def draw_resources(
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
        kind = weighted_choice(rng, owner.size, tuple(p[2] for p in productions))
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
        resource_id=numbered_ids("res", n),
        owner_external_id=pl.col("owner_code").cast(pl.String),
        created_at=iso_times(created),
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


def draw_shares(
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
        weighted_choice(rng, n, (0.3, 0.08, 0.3, 0.15, 0.17)),
        np.where(rng.random(n) < 0.6, 2, 0),
    )
    scolarite = scolarite_or_manual(rng, year, uai, owner_school, classes_of, group_pool, group_ids)
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
    rights = pl.Series(RIGHTS).gather(weighted_choice(rng, n, RIGHTS_WEIGHTS))
    return pl.DataFrame(
        {
            "resource_id": shareable["resource_id"].gather(row_resource),
            "recipient_kind": recipient_kind,
            "recipient_id": recipient,
            "rights": rights,
        }
    ).unique(subset=["resource_id", "recipient_kind", "recipient_id"], maintain_order=True)


def scolarite_or_manual(
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
    kind = weighted_choice(rng, n, (0.6, 0.15, 0.25))
    klass, has_class = classes_of.pick(rng, school)
    audience = np.array(CLASS_AUDIENCES, dtype=object)[weighted_choice(rng, n, (0.45, 0.4, 0.15))]
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
