"""The one place that knows names: feed files, storage keys and the ids rentree makes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal
from uuid import uuid4

FeedType = Literal["EtabEducNat", "PersEducNat", "Eleve", "PersRelEleve"]
FEED_TYPES: tuple[FeedType, ...] = ("EtabEducNat", "PersEducNat", "Eleve", "PersRelEleve")
Mode = Literal["Complet", "Delta"]

_FEED_NAME = re.compile(
    r"^(?P<prefix>.*)_(?P<mode>Complet|Delta)_(?P<date>\d{8})_(?P<type>[A-Za-z]+)_(?P<chunk>\d{4})\.xml$"
)
# A school year as written everywhere: two consecutive years, e.g. 2025-2026.
SCHOOL_YEAR_PATTERN = r"^[0-9]{4}-[0-9]{4}$"
_SCHOOL_YEAR = re.compile(r"^([0-9]{4})-([0-9]{4})$")
# A school's national id: seven digits and a letter (UAI, "unité administrative immatriculée").
UAI_PATTERN = r"^[0-9]{7}[A-Z]$"

if TYPE_CHECKING:
    import polars as pl


class FeedNameError(ValueError):
    """A feed file name that does not follow the AAF naming of feeds.md."""


@dataclass(frozen=True, order=True)
class FeedName:
    """What a feed file's name says: extraction date, chunk, type and mode."""

    extraction_date: date
    chunk: int
    file_type: FeedType
    mode: Mode
    name: str

    @property
    def complete(self) -> bool:
        return self.mode == "Complet"

    @property
    def delivery(self) -> str:
        """A delivery is the set of files of one extraction date (YYYYMMDD)."""
        return self.extraction_date.strftime("%Y%m%d")


def parse_feed_name(name: str) -> FeedName:
    """Parse a feed file name, or raise FeedNameError with one sentence saying why."""
    base = name.rsplit("/", 1)[-1]
    match = _FEED_NAME.match(base)
    if match is None:
        raise FeedNameError(
            f"{base}: the name does not match "
            "<prefix>_<Complet|Delta>_<YYYYMMDD>_<Type>_<NNNN>.xml; "
            "rename the file as the academy delivers it."
        )
    file_type = match["type"]
    if file_type not in FEED_TYPES:
        raise FeedNameError(
            f"{base}: unknown file type {file_type!r}; expected one of {', '.join(FEED_TYPES)}."
        )
    try:
        extraction = datetime.strptime(match["date"], "%Y%m%d").date()
    except ValueError:
        raise FeedNameError(
            f"{base}: {match['date']} is not a real extraction date (YYYYMMDD)."
        ) from None
    return FeedName(
        extraction_date=extraction,
        chunk=int(match["chunk"]),
        file_type=file_type,
        mode=match["mode"],  # type: ignore[arg-type]
        name=base,
    )


# The DTD copy real deliveries carry beside their files (feeds.md): archived, not used.
DTD_COPY = "ficAlimMENESR.dtd"
NOT_USED = "not-used"


def not_used_delivery(name: str) -> str | None:
    """For a file a delivery carries but rentree does not read, the delivery it belongs to.

    Files of other AAF types (`MatiereEducNat`, `MefEducNat`, ...) give their extraction
    date (YYYYMMDD); the DTD copy gives "" (it belongs to whichever delivery takes it first).
    None for any other name: a file of one of the four types, or a name that is no AAF name.
    """
    base = name.rsplit("/", 1)[-1]
    if base == DTD_COPY:
        return ""
    match = _FEED_NAME.match(base)
    if match is None or match["type"] in FEED_TYPES:
        return None
    try:
        datetime.strptime(match["date"], "%Y%m%d")
    except ValueError:
        return None
    return match["date"]


def not_used_type(name: str) -> str:
    """What a file set aside is, for the summary: its AAF type, or the DTD copy's name."""
    base = name.rsplit("/", 1)[-1]
    match = _FEED_NAME.match(base)
    return match["type"] if match else base


def feed_file_name(
    file_type: FeedType, extraction: date, chunk: int, mode: Mode = "Complet", prefix: str = "ENT"
) -> str:
    return f"{prefix}_{mode}_{extraction:%Y%m%d}_{file_type}_{chunk:04d}.xml"


# -- school years ---------------------------------------------------------------------------


def check_school_year(year: str) -> str:
    match = _SCHOOL_YEAR.match(year)
    if match is None or int(match[2]) != int(match[1]) + 1:
        raise ValueError(f"{year!r} is not a school year; write it as 2024-2025.")
    return year


def check_uai(uai: str) -> str:
    if re.match(UAI_PATTERN, uai) is None:
        raise ValueError(
            f"{uai!r} is not a UAI; a UAI is seven digits and a letter, e.g. 0590001A."
        )
    return uai


def school_year_of(day: date) -> str:
    """The school year a day belongs to: from the first of August to the end of July."""
    start = day.year if day.month >= 8 else day.year - 1
    return f"{start}-{start + 1}"


def previous_school_year(year: str) -> str:
    start = int(check_school_year(year)[:4])
    return f"{start - 1}-{start}"


def next_school_year(year: str) -> str:
    start = int(check_school_year(year)[:4])
    return f"{start + 1}-{start + 2}"


def rentree_day(year: str) -> date:
    """The first of September of a school year: the day ages are computed on (feeds.md)."""
    return date(int(check_school_year(year)[:4]), 9, 1)


# -- storage keys (storage.md) --------------------------------------------------------------


def _space(year: str, academy: str | None) -> str:
    """The folder of a school year's files: `<year>`, or `<year>/<academy>` in a region of
    several academies (each delivers its own AAF export)."""
    return f"{year}/{academy}" if academy else year


def landing_prefix(year: str, academy: str | None = None) -> str:
    return f"landing/{_space(year, academy)}/"


def landing_key(year: str, name: str, academy: str | None = None) -> str:
    return f"{landing_prefix(year, academy)}{name}"


def archive_key(year: str, feed: FeedName, academy: str | None = None) -> str:
    return f"archive/{_space(year, academy)}/{feed.delivery}/{feed.name}"


def not_used_archive_key(year: str, delivery: str, name: str, academy: str | None = None) -> str:
    """Where a file the delivery carries but rentree does not read is archived with it."""
    return f"archive/{_space(year, academy)}/{delivery}/{NOT_USED}/{name.rsplit('/', 1)[-1]}"


def quarantine_prefix(year: str, delivery: str, academy: str | None = None) -> str:
    return f"quarantine/{_space(year, academy)}/{delivery}/"


def quarantine_key(year: str, feed: FeedName, academy: str | None = None) -> str:
    return f"{quarantine_prefix(year, feed.delivery, academy)}{feed.name}"


def held_key(year: str, name: str, academy: str | None = None) -> str:
    return f"held/{_space(year, academy)}/{name}"


def held_prefix(year: str, academy: str | None = None) -> str:
    return f"held/{_space(year, academy)}/"


def reports_prefix(year: str, phase: str, run: str, academy: str | None = None) -> str:
    return f"reports/{_space(year, academy)}/{phase}/{run}/"


# -- feed ids of a region of several academies -----------------------------------------------

# AAF ids are unique only within an academy: in a region of several, every feed id is scoped
# by its academy's code (Entcore does the same with a per-academy prefix).
ACADEMY_ID_SEPARATOR = "-"


def academy_id_prefix(academy: str) -> str:
    return f"{academy}{ACADEMY_ID_SEPARATOR}"


def ledger_hash(academy: str | None, file_type: str, content_hash: str) -> str:
    """The key of a file in the ledger: a digest of its academy (in a region of several),
    its feed type and its bytes' sha256. The very same bytes may come as two files that must
    each be applied: from two academies (a staff file naming the same ids), or as two feed
    types (two empty Delta files). Migration 0005 turned the earlier keys into these."""
    key = content_hash
    if academy is not None:
        key = hashlib.sha256(f"{academy}\0{content_hash}".encode()).hexdigest()
    return hashlib.sha256(f"{file_type}\0{key}".encode()).hexdigest()


def scoped_feed_id(academy: str | None, feed_id: str) -> str:
    """A feed id as the directory stores it: as delivered, or `<academy>-<id>`."""
    return f"{academy_id_prefix(academy)}{feed_id}" if academy else feed_id


def snapshot_prefix(year: str, label: str) -> str:
    return f"snapshots/{year}/{label}/"


def request_list_key(year: str | None, phase: str, content_hash: str) -> str:
    """An operator's input list for a run (e.g. teacher attachment requests), named by its
    sha256: large inputs reach a flow as a storage key, never inline (Prefect refuses
    parameters over 512 KB)."""
    return f"reports/{year or 'all'}/{phase}/requests/{content_hash}.csv"


STORAGE_ROOTS = ("landing", "archive", "quarantine", "held", "reports", "snapshots")
# Roots whose objects are never replaced: a second object of the same name lies beside the first.
WRITE_ONCE_ROOTS = ("archive", "quarantine")


def is_write_once(key: str) -> bool:
    return key.split("/", 1)[0] in WRITE_ONCE_ROOTS


def beside_key(key: str, content_hash: str, length: int = 16) -> str:
    """Where a second object of the same name goes in a write-once root: its name with the
    start of its content hash before the extension
    (`ENT_Complet_20240826_Eleve_0000.3f2a9c0d1e4b5a6f.xml`)."""
    folder, slash, name = key.rpartition("/")
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    return f"{folder}{slash}{stem}.{content_hash[:length]}{dot}{extension}"


_BESIDE = re.compile(r"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{16}|[0-9a-f]{64})(?P<ext>\.[^.]+)?$")


def split_beside(name: str) -> tuple[str, str | None]:
    """A name that `beside_key` made, as (the original name, the start of its content hash);
    any other name as (name, None)."""
    match = _BESIDE.match(name)
    if match is None:
        return name, None
    return f"{match['stem']}{match['ext'] or ''}", match["hash"]


def not_regular_key(year: str, name: str) -> str:
    """Where a landing entry that is not a regular file (a symbolic link...) is set aside."""
    return f"quarantine/{year}/not-a-regular-file/{name}"


# -- ids made by rentree (storage.md) -------------------------------------------------------


def class_id(year: str, uai: str, code: str) -> str:
    return f"{year}:{uai}:{code}"


def class_group_id(class_external_id: str, audience: str) -> str:
    return f"{class_external_id}:{audience}"


def school_group_id(year: str, uai: str, audience: str) -> str:
    return f"{year}:{uai}:{audience}"


# The same `<year>:<UAI>:...` ids read from a column, set-based (no per-row loop).


def class_ids(year: str, uais: pl.Expr, codes: pl.Expr) -> pl.Expr:
    """`class_id` of each row's school and class code (null when either is)."""
    return f"{year}:" + uais + ":" + codes


def year_of_ids(ids: pl.Expr) -> pl.Expr:
    """The school year of class and group ids (null for an id of another shape)."""
    return ids.str.extract(r"^(\d{4}-\d{4}):")


def uai_of_ids(ids: pl.Expr) -> pl.Expr:
    """The school (UAI) of class and group ids."""
    return ids.str.split(":").list.get(1, null_on_oob=True)


# -- change sets (written by dry runs and holds) --------------------------------------------


def change_set_part_key(prefix: str, kind: str) -> str:
    """One Parquet file per kind of change under a change set's prefix."""
    return f"{prefix.rstrip('/')}/{kind}.parquet"


def change_set_summary_key(prefix: str) -> str:
    return f"{prefix.rstrip('/')}/summary.json"


# -- holds (operations.md: a held delivery or share purge waits for an operator) -------------


def hold_id(kind: str, year: str, label: str, at: datetime) -> str:
    """`<kind>-<year>-<label>-<YYYYMMDDTHHMMSS>-<random>`: readable in the UI, unique."""
    return f"{kind}-{year}-{label[:16]}-{at:%Y%m%dT%H%M%S}-{uuid4().hex[:8]}"


def hold_prefix(year: str, hold: str) -> str:
    """Where a hold's change set lies until the operator decides."""
    return f"reports/{year}/holds/{hold}/"
