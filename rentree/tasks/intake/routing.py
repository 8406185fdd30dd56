"""Which files of a delivery may be applied now, and which wait in `held/` and why.

Rules (domain.md, feeds.md), checked per file type of the delivery:
- R7: a frozen year's files are held, never applied while it is frozen.
- a year older than every year the directory holds is held (nothing could apply it).
- a new year's files wait until the previous year is frozen (the rollover starts there).
- R9: a new year's Eleve and PersRelEleve files wait for the ONDE switch. EtabEducNat does
  not: structures touch no student or relative, and teachers of a new school need it.
- order: a delivery older than one already applied for the same type and year is held for
  good ("never applied"), unless all its files were applied already (a plain re-run).

Holding records the files in `feed_files` (status held, rule, reason) in the caller's
transaction; the caller commits, then moves the files (storage.md).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import polars as pl
from sqlalchemy import Connection, delete, func, select

from rentree.infra.naming import (
    archive_key,
    held_key,
    held_prefix,
    landing_key,
    ledger_hash,
    previous_school_year,
)
from rentree.infra.schema import feed_files, school_years
from rentree.infra.storage import ObjectStore, move_once, sha256_of
from rentree.tasks.intake.landing import Delivery, find_delivery
from rentree.tasks.intake.ledger import applied_hashes, files_frame, of_academy, record_feed_files
from rentree.tasks.rules.years import FAMILY_TYPES, year_state

# Rules whose hold ends by itself once their condition is met (re-checked by every run).
RELEASABLE_RULES = ("R9", "freeze")


@dataclass(frozen=True)
class HeldType:
    file_type: str
    rule: str  # R7 | R9 | order | freeze | stale-year
    reason: str  # one sentence for the operator


@dataclass(frozen=True)
class Route:
    """The routing decision for one delivery: the types to apply, and the held ones."""

    school_year: str
    delivery: str
    apply_types: tuple[str, ...]
    held: tuple[HeldType, ...]
    academy: str | None = None  # the academy that delivered it, in a region of several

    @property
    def action(self) -> str:
        return "apply" if self.apply_types else "hold"

    @property
    def reason(self) -> str | None:
        """The held types' reasons, one sentence each (None when nothing is held)."""
        if not self.held:
            return None
        return " ".join(dict.fromkeys(h.reason for h in self.held))

    def held_types(self) -> dict[str, HeldType]:
        return {h.file_type: h for h in self.held}


def route_delivery(
    conn: Connection,
    store: ObjectStore,
    year: str,
    delivery: str,
    types: Collection[str],
    *,
    landed: Delivery | None = None,
    academy: str | None = None,
) -> Route:
    """Decide, type by type, whether a landing delivery applies now or is held (and why).

    `landed`: the delivery as the caller listed it (listed here when not given). In a region
    of several academies the order is each academy's own (`landed.academy`): a delivery is
    older than one already applied only among the files of its academy."""
    landed = landed or find_delivery(store, year, delivery, academy)
    academy = landed.academy
    held_folder = held_prefix(year, academy)
    state = year_state(conn, year)
    previous = year_state(conn, previous_school_year(year))
    later_year = conn.scalar(
        select(school_years.c.school_year).where(school_years.c.school_year > year).limit(1)
    )
    newest_applied = _newest_applied(conn, year, academy)
    day = f"{delivery[:4]}-{delivery[4:6]}-{delivery[6:]}"
    apply: list[str] = []
    held: list[HeldType] = []
    for file_type in sorted(set(types)):
        hold: tuple[str, str] | None = None
        if state is not None and state.frozen:
            hold = (
                "R7",
                f"The school year {year} is frozen (R7): its {file_type} files of {day} are "
                f"kept in {held_folder} and reported, not applied; nobody loses access.",
            )
        elif state is None and later_year is not None:
            hold = (
                "stale-year",
                f"The school year {year} is older than the years the directory holds: its "
                f"{file_type} files of {day} are kept in {held_folder}, not applied.",
            )
        elif previous is not None and not previous.frozen:
            hold = (
                "freeze",
                f"The previous school year {previous.school_year} is not frozen yet: the "
                f"{file_type} files of {day} wait in {held_folder} until the freeze "
                "flow has run.",
            )
        elif (
            previous is not None
            and file_type in FAMILY_TYPES
            and not (state is not None and state.switched)
        ):
            hold = (
                "R9",
                f"The ONDE switch of {year} is not detected yet (R9): the {file_type} files "
                f"of {day} wait in {held_folder} and are imported once it is.",
            )
        else:
            newest = newest_applied.get(file_type)
            if (
                newest is not None
                and delivery < newest
                and not _all_applied(conn, store, landed, file_type)
            ):
                newest_day = f"{newest[:4]}-{newest[4:6]}-{newest[6:]}"
                hold = (
                    "order",
                    f"The {file_type} delivery of {day} is older than the one of {newest_day} "
                    f"already applied for {year}: it is kept in {held_folder} and will "
                    "never be applied; ask the academy for a new extraction if it matters.",
                )
        if hold is None:
            apply.append(file_type)
        else:
            held.append(HeldType(file_type=file_type, rule=hold[0], reason=hold[1]))
    return Route(
        school_year=year,
        delivery=delivery,
        apply_types=tuple(apply),
        held=tuple(held),
        academy=academy,
    )


def _newest_applied(conn: Connection, year: str, academy: str | None) -> dict[str, str]:
    rows = conn.execute(
        select(feed_files.c.file_type, func.max(feed_files.c.extraction_date))
        .where(
            feed_files.c.school_year == year,
            feed_files.c.status == "applied",
            of_academy(academy),
        )
        .group_by(feed_files.c.file_type)
    )
    return {file_type: _yyyymmdd(newest) for file_type, newest in rows}


def _yyyymmdd(value: date | str) -> str:
    if isinstance(value, str):
        return value.replace("-", "")[:8]
    return value.strftime("%Y%m%d")


def _all_applied(conn: Connection, store: ObjectStore, landed: Delivery, file_type: str) -> bool:
    hashes = [
        ledger_hash(landed.academy, f.feed.file_type, sha256_of(store, f.key))
        for f in landed.of_types([file_type])
    ]
    return bool(hashes) and applied_hashes(conn, hashes) == set(hashes)


def hold_files(
    conn: Connection,
    store: ObjectStore,
    route: Route,
    run_id: str,
    now: datetime,
    *,
    landed: Delivery | None = None,
) -> tuple[pl.DataFrame, list[tuple[str, str]]]:
    """Record the held types' landing files in `feed_files` (status held, rule, reason).

    Returns the report rows and the moves that the caller makes after committing: landing/
    -> held/, and landing/ -> archive/ for a file whose very content was applied before
    (nothing in it is new). Recording again the same file replaces its held row.
    """
    held_types = route.held_types()
    year, academy = route.school_year, route.academy
    landed = landed or find_delivery(store, year, route.delivery, academy)
    files = [(f.key, f.feed) for f in landed.of_types(held_types)]
    hashes = [ledger_hash(academy, feed.file_type, sha256_of(store, key)) for key, feed in files]
    applied = applied_hashes(conn, hashes)
    frame = files_frame(
        (
            (feed, content_hash)
            for (_, feed), content_hash in zip(files, hashes, strict=True)
            if content_hash not in applied
        ),
        academy,
    ).with_columns(
        pl.col("file_type")
        .replace_strict({t: h.rule for t, h in held_types.items()}, return_dtype=pl.String)
        .alias("held_rule"),
        pl.col("file_type")
        .replace_strict({t: h.reason for t, h in held_types.items()}, return_dtype=pl.String)
        .alias("reason"),
    )
    record_feed_files(conn, frame, "held", school_year=year, run_id=run_id, now=now)
    moves = [
        (landing_key(year, name, academy), held_key(year, name, academy))
        for name in frame["file_name"].to_list()
    ]
    moves += [
        (key, archive_key(year, feed, academy))
        for (key, feed), content_hash in zip(files, hashes, strict=True)
        if content_hash in applied
    ]
    report = frame.select(
        pl.col("file_name").alias("file"),
        "file_type",
        pl.col("held_rule").alias("rule"),
        "reason",
    )
    return report, moves


def release_held(
    conn: Connection, store: ObjectStore, year: str, now: datetime, academy: str | None = None
) -> tuple[pl.DataFrame, list[tuple[str, str]]]:
    """Re-check the year's held files: those whose reason has ended go back to landing/.

    R9 holds end when the switch is recorded, freeze holds when the previous year is
    frozen; R7, order and stale-year holds never end by themselves. A file left in held/
    without its row (a move that failed after its release was committed) is released too.
    The released rows are deleted here; the caller commits, then makes the moves. The
    released files are then routed again like any landing file, in extraction-date order.
    """
    state = year_state(conn, year)
    previous = year_state(conn, previous_school_year(year))
    ended: list[str] = []
    if state is not None and state.switched:
        ended.append("R9")
    if previous is None or previous.frozen:
        ended.append("freeze")
    rows = conn.execute(
        select(feed_files.c.content_hash, feed_files.c.file_name, feed_files.c.held_rule).where(
            feed_files.c.school_year == year,
            feed_files.c.status == "held",
            of_academy(academy),
        )
    ).all()
    still_held = {r.file_name for r in rows if r.held_rule not in ended}
    released = [r for r in rows if r.held_rule in ended]
    if released:
        conn.execute(
            delete(feed_files).where(
                feed_files.c.content_hash.in_([r.content_hash for r in released]),
                feed_files.c.status == "held",
            )
        )
    names: dict[str, str] = {r.file_name: str(r.held_rule) for r in released}
    for key in store.list(held_prefix(year, academy)):
        name = key.rsplit("/", 1)[-1]
        if name not in still_held and name not in names:
            names[name] = "orphan"
    moves = [
        (held_key(year, name, academy), landing_key(year, name, academy))
        for name in sorted(names)
        if store.exists(held_key(year, name, academy))
    ]
    report = pl.DataFrame(
        {"file": sorted(names), "rule": [names[n] for n in sorted(names)]},
        schema={"file": pl.String, "rule": pl.String},
    ).with_columns(pl.lit(now.isoformat()).alias("released_at"))
    return report, moves


def move_files(store: ObjectStore, moves: Sequence[tuple[str, str]]) -> list[str]:
    """Make the moves decided by a committed transaction; returns where the files lie now
    (in `archive/` and `quarantine/` a file of the same name stays, the new one lies beside
    it)."""
    return [move_once(store, src, dst) for src, dst in moves]
