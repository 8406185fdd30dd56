"""Checking one AAF file on its own: a plain function, so that a flow can map it over the
chunks of a delivery in parallel (on workers that need the store and nothing else)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from rentree.contracts import validate_records
from rentree.contracts.base import empty_failures
from rentree.infra.aaf import AafFileError, feed_name_of, read_aaf, root_tag
from rentree.infra.naming import (
    DTD_COPY,
    FEED_TYPES,
    FeedName,
    FeedType,
    academy_id_prefix,
    not_used_type,
    school_year_of,
)
from rentree.infra.storage import StoreAddress


@dataclass(frozen=True)
class CheckContext:
    """What a file check needs besides the file (kept small: it travels to workers).

    `academy`: in a region of several academies, the one that delivered the file; its feed
    ids are then scoped by it (`naming.scoped_feed_id`), so two academies never collide.
    """

    school_year: str
    academy: str | None = None


# The columns of each type's frames that hold feed ids (the record's own, and those it names).
ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "EtabEducNat": ("external_id",),
    "PersEducNat": ("external_id", "struct_ids", "function_struct_ids", "director_of"),
    "Eleve": ("external_id", "struct_ids", "struct_id", "class_struct_ids", "relative_ids"),
    "PersRelEleve": ("external_id", "student_ids"),
}


def scope_ids(frame: pl.DataFrame, file_type: str, academy: str | None) -> pl.DataFrame:
    """Every feed id of a typed frame scoped by its academy (unchanged without one)."""
    if academy is None:
        return frame
    prefix = academy_id_prefix(academy)
    scoped = []
    for column in ID_COLUMNS[file_type]:
        if column not in frame.columns:
            continue
        if isinstance(frame.schema[column], pl.List):
            scoped.append(pl.col(column).list.eval(pl.lit(prefix) + pl.element()).alias(column))
        else:
            scoped.append((pl.lit(prefix) + pl.col(column)).alias(column))
    return frame.with_columns(scoped)


@dataclass(frozen=True)
class FileProblem:
    """A file error, kept as plain data so that a check result pickles across workers."""

    rule: str
    message_en: str
    message_fr: str
    line: int | None = None


@dataclass(frozen=True)
class FileCheck:
    """One file read and checked on its own."""

    file_name: str
    feed: FeedName | None
    records: int
    valid: pl.DataFrame | None
    failures: pl.DataFrame
    problem: FileProblem | None = None

    @property
    def file_type(self) -> FeedType | None:
        return self.feed.file_type if self.feed else None


def check_file(path: str | Path, file_name: str, context: CheckContext) -> FileCheck:
    """Read and check one AAF file: its valid records typed, and every problem found."""
    feed: FeedName | None = None
    try:
        feed = feed_name_of(file_name)
        parsed = read_aaf(path, file_name)
    except AafFileError as exc:
        problem = FileProblem(exc.rule, str(exc), exc.message_fr, exc.line)
        return FileCheck(file_name, feed, 0, None, empty_failures(), problem)
    result = validate_records(feed.file_type, parsed.records, context.school_year)
    failures = result.failures
    if context.academy is not None:
        prefix = academy_id_prefix(context.academy)
        failures = failures.with_columns((pl.lit(prefix) + pl.col("record_id")).alias("record_id"))
    return FileCheck(
        file_name=feed.name,
        feed=feed,
        records=parsed.records.height,
        valid=scope_ids(result.valid, feed.file_type, context.academy),
        failures=failures,
    )


def check_not_used(path: str | Path, file_name: str) -> FileProblem | None:
    """A file of another AAF type is set aside, not read; one whose content is not an AAF
    file at all (its root is not `ficAlimMENESR`) is a file error. The DTD copy is not XML."""
    base = file_name.rsplit("/", 1)[-1]
    if base == DTD_COPY or root_tag(path) == "ficAlimMENESR":
        return None
    kind = not_used_type(base)
    return FileProblem(
        "file_name",
        f"{base}: unknown file type {kind!r} and the content is not an AAF file; "
        f"expected one of {', '.join(FEED_TYPES)}, or another AAF type, which is set aside.",
        f"{base} : type de fichier inconnu {kind!r} et le contenu n'est pas un fichier AAF ; "
        f"attendu l'un de {', '.join(FEED_TYPES)}, ou un autre type AAF, mis de côté.",
    )


@dataclass(frozen=True)
class StoredFile:
    """A feed file as a worker receives it: the store's address and the key, never a local
    path, so that workers on other hosts need the storage and nothing shared with the flow."""

    store: StoreAddress
    key: str


def check_stored_file(file: StoredFile, file_name: str, context: CheckContext) -> FileCheck:
    """`check_file` on a file of the store, downloaded into the worker's own temporary
    folder (streamed) and removed after."""
    try:
        feed_name_of(file_name)
    except AafFileError:
        # the name alone rejects the file (a stray): nothing to download
        return check_file(file.key, file_name, context)
    with tempfile.TemporaryDirectory(prefix="rentree-check-") as tmp:
        path = Path(tmp) / "feed.xml"
        file.store.open().download(file.key, path)
        return check_file(path, file_name, context)


def school_year_for(
    feed: FeedName | None, folder: str | None = None, extraction: date | None = None
) -> str:
    """A file's school year: its landing folder's name when it is one, else the year its
    extraction date falls in (the feed's, or `extraction`)."""
    if folder:
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        start, _, end = name.partition("-")
        if start.isdigit() and end.isdigit() and int(end) == int(start) + 1:
            return name
    day = feed.extraction_date if feed else extraction
    return school_year_of(day or date.today())
