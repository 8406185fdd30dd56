"""Staging a delivery: from `landing/<school-year>/` to checked frames, or to quarantine.

A delivery is the set of files of one extraction date (feeds.md). Each file is hashed as it
streams from the store, then checked on its own by whoever the file mapper gives it to (a
worker receives the store's address and the key: `check_stored_file`); then the delivery is
checked as a whole. A file error, or a
file with too many invalid records, makes the delivery `Quarantined`: staging decides it
and changes nothing; `quarantine_delivery` (the import's effect step, which a dry run
skips) then moves every file of the delivery to `quarantine/<school-year>/<YYYYMMDD>/`
with one report for the delivery beside them (`validation-report.csv` and `.parquet`) and
writes a `quarantined` row per file in `feed_files`. Nothing is written to the directory
tables: applying a staged delivery is the sync engine's work.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl
from sqlalchemy import ColumnElement, Connection, Table, and_, select, true

from rentree.contracts.base import empty_failures
from rentree.contracts.delivery import KnownIds
from rentree.infra.naming import (
    FeedName,
    FeedNameError,
    landing_prefix,
    ledger_hash,
    not_regular_key,
    parse_feed_name,
    quarantine_key,
    quarantine_prefix,
    split_beside,
)
from rentree.infra.reports import WrittenReport
from rentree.infra.schema import feed_files, structures, users
from rentree.infra.settings import Settings
from rentree.infra.staging import staging_table
from rentree.infra.storage import ObjectStore, address_of, move_once, sha256_of
from rentree.tasks.intake.landing import Delivery, find_delivery, list_deliveries
from rentree.tasks.intake.ledger import applied_hashes, files_frame, record_feed_files
from rentree.tasks.intake.validate import (
    CheckContext,
    FileCheck,
    StoredFile,
    assess_delivery,
    check_not_used,
    check_stored_file,
    lookups,
    not_used_note,
    write_validation_report,
)

REPORT_NAME = "validation-report"

# How a flow runs the file checks: `map` here, a task runner's map in the flows.
FileMapper = Callable[..., Iterable[FileCheck]]


@dataclass(frozen=True)
class StagedFile:
    key: str
    feed: FeedName
    content_hash: str
    records: int


@dataclass(frozen=True)
class StagedDelivery:
    """A usable delivery: valid typed frames per type, ready for the sync engine."""

    school_year: str
    delivery: str
    files: tuple[StagedFile, ...]
    frames: dict[str, pl.DataFrame]
    complete: dict[str, bool]
    problems: pl.DataFrame
    not_used: tuple[str, ...] = ()  # landing keys of the files set aside (archived on apply)
    note: str = ""  # the summary's one sentence about them
    academy: str | None = None  # the academy that delivered it, in a region of several


@dataclass(frozen=True)
class Quarantined:
    """A rejected delivery: where its files and its report go (`moves`, `report`) and the
    ledger rows of its files (`files`); nothing is moved or written until
    `quarantine_delivery` carries it out."""

    school_year: str
    delivery: str
    sentence: str
    keys: tuple[str, ...]  # where the files lie in quarantine/ (once carried out)
    report: WrittenReport
    moves: tuple[tuple[str, str], ...] = ()
    report_rows: pl.DataFrame = field(default_factory=pl.DataFrame)
    files: pl.DataFrame = field(default_factory=pl.DataFrame)
    why: str = ""  # the assessment's sentence
    academy: str | None = None


@dataclass(frozen=True)
class AlreadyApplied:
    """Every file of the delivery has been applied before (same content hash)."""

    school_year: str
    delivery: str
    keys: tuple[str, ...]


StageOutcome = StagedDelivery | Quarantined | AlreadyApplied


class StageError(ValueError):
    """A delivery that cannot be staged at all; the message is one sentence."""


def stage_delivery(
    conn: Connection,
    store: ObjectStore,
    school_year: str,
    delivery: str,
    settings: Settings,
    *,
    run_id: str | None = None,
    map_files: FileMapper = map,
    types: Collection[str] | None = None,
    landed: Delivery | None = None,
    academy: str | None = None,
) -> StageOutcome:
    """Check one delivery of `landing/<school-year>/` and hand it over or quarantine it.

    `types` limits the work to the files of those feed types (a phase reads only what it
    applies: staff-import parses no pupil file); the others stay in landing/ untouched.

    `map_files(check_stored_file, files, names, contexts)` runs the file checks; a flow
    passes its task runner's map to check the chunks in parallel. Workers get storage keys
    (`StoredFile`), never a local path: a cluster on other hosts needs only the storage.
    The `feed_files` rows of a quarantine are written by `quarantine_delivery`: staging
    reads only. `landed` is the delivery as the caller listed it (an import lists landing/
    once), else listed here. `academy`: in a region of several, the academy whose
    `landing/<school-year>/<academy>/` holds the delivery (`landed.academy` when given); its
    ids are scoped by it, its ledger keys and quarantine are its own.
    """
    found = landed or find_delivery(store, school_year, delivery, academy)
    academy = found.academy
    if not found.files and not found.strays:
        raise StageError(
            f"{landing_prefix(school_year, academy)} holds no file of the delivery {delivery}; "
            "check the extraction date and the school year."
        )
    files = found.of_types(types)
    strays = found.strays
    not_used = found.not_used
    if not files and not strays:
        raise StageError(
            f"{landing_prefix(school_year, academy)} holds no "
            f"{', '.join(sorted(types or ()))} file "
            f"of the delivery {delivery}; nothing to stage."
        )
    # hashed as they stream from the store: files applied before are never read further
    hashes = [ledger_hash(academy, f.feed.file_type, sha256_of(store, f.key)) for f in files]
    applied = applied_hashes(conn, hashes)
    pending = [i for i, h in enumerate(hashes) if h not in applied]
    keys = tuple(f.key for f in files)
    if not pending and not strays:
        return AlreadyApplied(school_year, delivery, keys)
    context = CheckContext(school_year=school_year, academy=academy)
    address = address_of(store)
    names = [files[i].feed.name for i in pending] + [_base(k) for k in strays]
    checks = list(
        map_files(
            check_stored_file,
            [StoredFile(address, files[i].key) for i in pending]
            + [StoredFile(address, k) for k in strays],
            names,
            [context] * len(names),
        )
    )
    checks += _set_aside_checks(store, not_used)
    known = known_in_directory(conn, lookups(checks))
    assessment = assess_delivery(
        checks, known, settings.invalid_record_ratio, [_base(k) for k in not_used]
    )
    if not assessment.accepted:
        prefix = quarantine_prefix(school_year, delivery, academy)
        moves = [(f.key, quarantine_key(school_year, f.feed, academy)) for f in files]
        moves += [(k, f"{prefix}{_base(k)}") for k in (*strays, *not_used)]
        report = WrittenReport(
            name=REPORT_NAME,
            csv_key=f"{prefix}{REPORT_NAME}.csv",
            parquet_key=f"{prefix}{REPORT_NAME}.parquet",
            rows=assessment.report.height,
        )
        sentence = (
            f"Delivery {delivery} of {school_year} is quarantined with its report "
            f"({store.link(report.csv_key)}): {assessment.sentence}"
        )
        return Quarantined(
            school_year,
            delivery,
            sentence,
            tuple(t for _, t in moves),
            report,
            moves=tuple(moves),
            report_rows=assessment.report,
            files=files_frame(((files[i].feed, hashes[i]) for i in pending), academy),
            why=assessment.sentence,
            academy=academy,
        )
    by_name = {c.file_name: c for c in checks}
    staged = tuple(
        StagedFile(
            key=files[i].key,
            feed=files[i].feed,
            content_hash=hashes[i],
            records=by_name[files[i].feed.name].records,
        )
        for i in pending
    )
    return StagedDelivery(
        school_year=school_year,
        delivery=delivery,
        files=staged,
        frames={str(t): f for t, f in assessment.frames.items()},
        complete={str(t): c for t, c in assessment.complete.items()},
        problems=assessment.problems,
        not_used=not_used,
        note=not_used_note([_base(k) for k in not_used]),
        academy=academy,
    )


def _set_aside_checks(store: ObjectStore, keys: Iterable[str]) -> list[FileCheck]:
    """A file error for each file set aside whose content is not an AAF file at all."""
    checks = []
    with tempfile.TemporaryDirectory(prefix="rentree-stage-") as tmp:
        for key in keys:
            path = Path(tmp) / f"not-used-{_base(key)}"
            store.download(key, path)
            problem = check_not_used(path, _base(key))
            if problem is not None:
                checks.append(FileCheck(_base(key), None, 0, None, empty_failures(), problem))
    return checks


def _base(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def quarantine_delivery(
    conn: Connection,
    store: ObjectStore,
    quarantined: Quarantined,
    *,
    run_id: str | None,
    now: datetime,
) -> Quarantined:
    """Carry a quarantine out, in storage.md's order for a rejection: the report first, then
    the moves, then the ledger rows (on `conn`, the caller commits): a file never lies in
    quarantine/ without its report, and `complete_quarantines` finishes what a stopped run
    left undone. Returns it with where its files lie now."""
    prefix = quarantine_prefix(quarantined.school_year, quarantined.delivery, quarantined.academy)
    write_validation_report(store, prefix, quarantined.report_rows, REPORT_NAME)
    targets = [move_once(store, source, target) for source, target in quarantined.moves]
    record_feed_files(
        conn,
        quarantined.files,
        "quarantined",
        school_year=quarantined.school_year,
        run_id=run_id,
        now=now,
    )
    return dataclasses.replace(quarantined, keys=tuple(targets))


def known_in_directory(conn: Connection, asked: KnownIds) -> KnownIds:
    """Which of the ids a delivery names but lacks the directory holds (one join each)."""
    return KnownIds(
        structures=_present(conn, asked.structures, structures, true()),
        relatives=_present(conn, asked.relatives, users, users.c.profile == "Relative"),
    )


def _present(
    conn: Connection, ids: pl.Series, table: Table, condition: ColumnElement[bool]
) -> pl.Series:
    if ids.is_empty():
        return ids
    staged = pl.DataFrame({"external_id": ids})
    asked = staging_table(conn, f"asked_{table.name}", staged, ["external_id"])
    query = select(asked.c.external_id).join_from(
        asked, table, and_(table.c.external_id == asked.c.external_id, condition)
    )
    return pl.Series("external_id", list(conn.scalars(query)), dtype=pl.String)


# -- what a stopped run or a careless copy leaves in the store --------------------------------


def set_aside_not_regular(store: ObjectStore, school_year: str) -> list[str]:
    """Move every landing entry that is not a regular file (a symbolic link into the store or
    out of it, a device...) to `quarantine/<year>/not-a-regular-file/`, never reading through
    it; returns one sentence per entry. The rest of the landing goes on as usual."""
    sentences = []
    for key in store.not_regular(landing_prefix(school_year)):
        target = not_regular_key(school_year, _base(key))
        store.set_aside(key, target)
        sentences.append(
            f"{key} is not a regular file (a link?) and was set aside in {target}; "
            "copy the file itself into landing/ to have it imported."
        )
    return sentences


def complete_quarantines(
    conn: Connection, store: ObjectStore, school_year: str, *, run_id: str, now: datetime
) -> list[str]:
    """Finish the quarantines a stopped run left half done: feed files in
    `quarantine/<year>/` (or `quarantine/<year>/<academy>/` in a region of several) without a
    ledger row of their academy are recorded as quarantined, and the files of their delivery
    still in landing/ join them (the report, written first, lies beside them). Rows are
    written on `conn` (the caller commits); returns one sentence per delivery. Only the files
    without a row of that name are read (hashed)."""
    found: list[tuple[str, str | None, FeedName, str | None]] = []
    for key in store.list(f"quarantine/{school_year}/"):
        academy = _quarantine_academy(school_year, key)
        name, hash_start = split_beside(_base(key))
        try:
            found.append((key, academy, parse_feed_name(name), hash_start))
        except FeedNameError:
            continue  # reports, strays, set-aside links
    if not found:
        return []
    known: dict[tuple[str | None, str], list[str]] = {}
    for name, academy, content_hash in conn.execute(
        select(feed_files.c.file_name, feed_files.c.academy, feed_files.c.content_hash).where(
            feed_files.c.file_name.in_(sorted({feed.name for _, _, feed, _ in found}))
        )
    ):
        known.setdefault((academy, name), []).append(content_hash)
    orphans: dict[tuple[str | None, str], list[tuple[str, FeedName]]] = {}
    for key, academy, feed, hash_start in found:
        hashes = known.get((academy, feed.name), [])
        if hash_start is None:
            recorded = bool(hashes)
        else:  # the ledger holds a digest of academy, type and bytes, not the bytes' hash
            recorded = ledger_hash(academy, feed.file_type, sha256_of(store, key)) in hashes
        if not recorded:
            orphans.setdefault((academy, feed.delivery), []).append((key, feed))
    sentences = []
    for (academy, day), entries in sorted(orphans.items(), key=lambda o: (o[0][0] or "", o[0][1])):
        for left in (d for d in list_deliveries(store, school_year, academy) if d.delivery == day):
            entries += [
                (move_once(store, f.key, quarantine_key(school_year, f.feed, academy)), f.feed)
                for f in left.files
            ]
        record_feed_files(
            conn,
            files_frame(
                (
                    (feed, ledger_hash(academy, feed.file_type, sha256_of(store, key)))
                    for key, feed in entries
                ),
                academy,
            ),
            "quarantined",
            school_year=school_year,
            run_id=run_id,
            now=now,
            reason="recorded by a later run: the run that quarantined it stopped first",
        )
        sentences.append(
            f"Delivery {day} of {school_year} was quarantined by a run that stopped before "
            "recording it; it is recorded now, its report lies beside the files in "
            f"{store.link(quarantine_prefix(school_year, day, academy))}."
        )
    return sentences


def _quarantine_academy(school_year: str, key: str) -> str | None:
    """The academy folder of a quarantined file: `quarantine/<year>/<academy>/<day>/<name>`
    in a region of several, none in `quarantine/<year>/<day>/<name>`."""
    parts = key.removeprefix(f"quarantine/{school_year}/").split("/")
    return parts[0] if len(parts) == 3 else None
