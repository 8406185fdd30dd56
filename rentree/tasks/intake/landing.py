"""The landing scanner: what waits in `landing/<school-year>/`, listed once.

One LIST of the prefix (paginated on S3) gives every delivery with its files, in the one
applying order (extraction date; in a delivery, type order EtabEducNat, PersEducNat,
Eleve, PersRelEleve, then chunk number), and the landing files that follow no AAF name.
Files of other AAF types and the DTD copy are `not_used`: they go with their delivery
(the DTD copy, dated by nothing, with the oldest one) and are archived with it, never read.
Routing, staging and the pending imports all work from this listing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from rentree.infra.naming import (
    FEED_TYPES,
    FeedName,
    FeedNameError,
    landing_prefix,
    not_used_delivery,
    parse_feed_name,
)
from rentree.infra.storage import ObjectStore


@dataclass(frozen=True)
class LandedFile:
    key: str
    feed: FeedName


@dataclass(frozen=True)
class Delivery:
    """The files of one extraction date in `landing/<school-year>/`, in applying order.

    `strays` are landing files whose name is not an AAF name (an unknown type, say) but
    carries this extraction date as `_YYYYMMDD_`: they reject the delivery.
    """

    school_year: str
    delivery: str  # YYYYMMDD
    files: tuple[LandedFile, ...]
    strays: tuple[str, ...] = ()
    # files of other AAF types and the DTD copy: archived with the delivery, never read
    not_used: tuple[str, ...] = ()
    # in a region of several academies, the academy whose landing/<year>/<academy>/ holds it
    academy: str | None = None

    @property
    def types(self) -> frozenset[str]:
        return frozenset(f.feed.file_type for f in self.files)

    def of_types(self, types: Collection[str] | None) -> tuple[LandedFile, ...]:
        """Its files of those feed types (all of them for None), in applying order."""
        return tuple(f for f in self.files if types is None or f.feed.file_type in types)


@dataclass(frozen=True)
class Landing:
    """One listing of `landing/<school-year>/`."""

    school_year: str
    deliveries: tuple[Delivery, ...]
    strays: tuple[tuple[str, str], ...]  # (key, the sentence saying why it is no AAF file)

    def find(self, delivery: str) -> Delivery | None:
        return next((d for d in self.deliveries if d.delivery == delivery), None)

    def with_types(self, types: Collection[str]) -> list[Delivery]:
        """The deliveries holding a file of one of `types`, oldest first."""
        return [d for d in self.deliveries if d.types & set(types)]


def _landing_order(landed: LandedFile) -> tuple[int, int, str]:
    return (FEED_TYPES.index(landed.feed.file_type), landed.feed.chunk, landed.feed.name)


def _base(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def scan_landing(store: ObjectStore, school_year: str, academy: str | None = None) -> Landing:
    """List `landing/<school-year>/` (`landing/<school-year>/<academy>/` for an academy of
    a region of several) once: its deliveries and its stray files."""
    by_date: dict[str, list[LandedFile]] = {}
    strays: list[tuple[str, str]] = []
    not_used: dict[str, list[str]] = {}
    for key in store.list(landing_prefix(school_year, academy)):
        other = not_used_delivery(key)
        if other is not None:
            not_used.setdefault(other, []).append(key)
            continue
        try:
            feed = parse_feed_name(key)
        except FeedNameError as exc:
            strays.append((key, str(exc)))
            continue
        by_date.setdefault(feed.delivery, []).append(LandedFile(key, feed))
    # the DTD copy carries no date: it goes with the oldest delivery
    deliveries = tuple(
        Delivery(
            school_year,
            day,
            tuple(sorted(by_date[day], key=_landing_order)),
            tuple(k for k, _ in strays if f"_{day}_" in _base(k)),
            tuple(not_used.get(day, []) + (not_used.get("", []) if i == 0 else [])),
            academy,
        )
        for i, day in enumerate(sorted(by_date))
    )
    return Landing(school_year, deliveries, tuple(strays))


def list_deliveries(
    store: ObjectStore, school_year: str, academy: str | None = None
) -> list[Delivery]:
    """The deliveries waiting in `landing/<school-year>/`, oldest extraction date first,
    each file in type order then chunk number order. A file whose name does not follow
    the AAF naming joins, as a stray, the delivery whose date it carries (`stray_files`
    lists them all)."""
    return list(scan_landing(store, school_year, academy).deliveries)


def stray_files(
    store: ObjectStore, school_year: str, academy: str | None = None
) -> list[tuple[str, str]]:
    """Landing files that belong to no delivery, with the sentence saying why."""
    return list(scan_landing(store, school_year, academy).strays)


def find_delivery(
    store: ObjectStore, school_year: str, delivery: str, academy: str | None = None
) -> Delivery:
    """One delivery as it lies in landing/ (no file when nothing of it is there)."""
    found = scan_landing(store, school_year, academy).find(delivery)
    return found or Delivery(school_year, delivery, (), academy=academy)
