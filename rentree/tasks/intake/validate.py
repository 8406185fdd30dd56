"""Checking AAF files and deliveries, and the validation report ("rapport de validation").

`check_file` reads and checks one file on its own: a plain function, so that a flow can
map it over the chunks of a delivery in parallel. `assess_delivery` then runs the checks
across the files of one delivery and decides, with the severities of feeds.md, whether
the delivery is usable. Every problem becomes one report row with a French and an
English sentence and the support channel that can fix it (domain.md, "Who to contact").
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from rentree.contracts import validate_records
from rentree.contracts.base import FAILURE_SCHEMA, empty_failures
from rentree.contracts.delivery import KnownIds, check_delivery, referenced_ids
from rentree.contracts.rules import CONSEQUENCE, rule_texts
from rentree.infra.aaf import SECOND_DEGREE_EN, AafFileError, feed_name_of, read_aaf, root_tag
from rentree.infra.naming import (
    DTD_COPY,
    FEED_TYPES,
    FeedName,
    FeedType,
    academy_id_prefix,
    not_used_delivery,
    not_used_type,
    school_year_of,
)
from rentree.infra.reports import WrittenReport, write_report
from rentree.infra.storage import ObjectStore, StoreAddress

REPORT_SCHEMA: dict[str, Any] = {
    "file": pl.String,
    "file_type": pl.String,
    "record_id": pl.String,
    "position": pl.Int64,
    "line": pl.Int64,
    "name": pl.String,
    "attribute": pl.String,
    "rule": pl.String,
    "value": pl.String,
    "severity": pl.String,
    "message_fr": pl.String,
    "message_en": pl.String,
    "support_channel": pl.String,
}

# domain.md, "Who to contact": who can fix a problem about each kind of record. Files and
# structures come from the academy's feed: its incident tool is the way in.
ACADEMY_CHANNEL = "users' service centre, through the academic incident tool"
SUPPORT_CHANNELS: dict[str, str] = {
    "PersEducNat": ACADEMY_CHANNEL,
    "PersRelEleve": (
        "the school director, who escalates to the users' service centre; "
        "EduConnect's national platform for the EduConnect account"
    ),
    "Eleve": "the ENT administrator",
    "EtabEducNat": ACADEMY_CHANNEL,
}


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


def not_used_note(names: Sequence[str]) -> str:
    """The one sentence of a summary about the files a delivery carries that are not read."""
    if not names:
        return ""
    kinds = ", ".join(dict.fromkeys(not_used_type(n) for n in sorted(names)))
    return (
        f"Not used: {len(names)} file(s) of types rentree does not read ({kinds}), archived "
        "with the delivery."
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


@dataclass(frozen=True)
class Assessment:
    """A delivery checked as a whole: usable or not, its frames and its report rows."""

    accepted: bool
    sentence: str
    frames: dict[FeedType, pl.DataFrame]
    complete: dict[FeedType, bool]
    report: pl.DataFrame
    records: dict[str, int] = field(default_factory=dict)
    not_used: tuple[str, ...] = ()

    @property
    def problems(self) -> pl.DataFrame:
        """Record errors and warnings only (what a usable delivery hands over)."""
        return self.report.filter(pl.col("severity") != "file")


def assess_delivery(
    checks: Sequence[FileCheck],
    known: KnownIds,
    invalid_record_ratio: float,
    not_used: Sequence[str] = (),
) -> Assessment:
    """Decide on a delivery from its file checks (feeds.md, Severity).

    A file error, or a file with more than `invalid_record_ratio` of its records invalid,
    rejects the whole delivery. Cross-file checks only run when every file could be read.
    A delivery of second-degree files is refused with one sentence. `not_used` names the
    files set aside (other AAF types, the DTD copy): noted once in the sentence.
    """
    ordered = sorted(checks, key=_check_order)
    records = {c.file_name: c.records for c in ordered}
    file_rows = [_file_row(c.file_name, c.file_type, c.problem) for c in ordered if c.problem]
    failures = pl.concat([c.failures for c in ordered] or [empty_failures()])
    frames = _frames_by_type(ordered)
    if not file_rows:
        cross = check_delivery(frames, known)
        frames = cross.frames
        failures = pl.concat([failures, cross.failures])
        file_rows = _too_many_invalid(ordered, failures, invalid_record_ratio)
    report = pl.concat([pl.DataFrame(file_rows, schema=REPORT_SCHEMA), report_rows(failures)])
    complete = {
        c.feed.file_type: c.feed.complete
        for c in ordered
        if c.feed is not None and c.valid is not None
    }
    unused = tuple(not_used)
    if file_rows:
        sentence = _rejection(file_rows)
        return Assessment(False, sentence, {}, complete, report, records, unused)
    sentence = " ".join(filter(None, [_acceptance(report, records), not_used_note(unused)]))
    return Assessment(True, sentence, frames, complete, report, records, unused)


def known_from_files(checks: Iterable[FileCheck]) -> KnownIds:
    """The structure and relative ids that a set of files holds: what `rentree validate`
    treats as known when it checks deliveries without a directory."""
    frames = _frames_by_type(list(checks))
    empty = pl.Series("external_id", [], dtype=pl.String)

    def ids(file_type: FeedType) -> pl.Series:
        frame = frames.get(file_type)
        return frame["external_id"].drop_nulls() if frame is not None else empty

    return KnownIds(structures=ids("EtabEducNat"), relatives=ids("PersRelEleve"))


def lookups(checks: Sequence[FileCheck]) -> KnownIds:
    """The ids a delivery names but does not hold: what to ask the directory about."""
    return referenced_ids(_frames_by_type(sorted(checks, key=_check_order)))


def _check_order(check: FileCheck) -> tuple[int, int, str]:
    if check.feed is None:
        return (len(FEED_TYPES), 0, check.file_name)
    return (FEED_TYPES.index(check.feed.file_type), check.feed.chunk, check.file_name)


def _frames_by_type(checks: Sequence[FileCheck]) -> dict[FeedType, pl.DataFrame]:
    frames: dict[FeedType, list[pl.DataFrame]] = {}
    for check in checks:
        if check.feed is not None and check.valid is not None:
            frames.setdefault(check.feed.file_type, []).append(check.valid)
    return {t: pl.concat(parts, how="vertical") for t, parts in frames.items()}


def _file_row(file_name: str, file_type: str | None, problem: FileProblem) -> dict[str, Any]:
    return {
        "file": file_name,
        "file_type": file_type,
        "record_id": None,
        "position": None,
        "line": problem.line,
        "name": None,
        "attribute": None,
        "rule": problem.rule,
        "value": None,
        "severity": "file",
        "message_fr": problem.message_fr,
        "message_en": problem.message_en,
        "support_channel": ACADEMY_CHANNEL,
    }


def _too_many_invalid(
    checks: Sequence[FileCheck], failures: pl.DataFrame, ratio: float
) -> list[dict[str, Any]]:
    invalid = (
        failures.filter(pl.col("severity") == "record")
        .group_by("file")
        .agg(pl.col("position").n_unique().alias("invalid"))
    )
    counts = dict(zip(invalid["file"].to_list(), invalid["invalid"].to_list(), strict=True))
    rows = []
    for check in checks:
        bad = counts.get(check.file_name, 0)
        if check.records and bad / check.records > ratio:
            share = f"{bad} of {check.records} records ({bad / check.records:.0%})"
            share_fr = f"{bad} enregistrements sur {check.records} ({bad / check.records:.0%})"
            problem = FileProblem(
                "too_many_invalid_records",
                f"{check.file_name}: {share} are invalid, more than the {ratio:.0%} allowed "
                "(RENTREE_INVALID_RECORD_RATIO); fix the records listed in the report and "
                "deliver the file again.",
                f"{check.file_name} : {share_fr} sont invalides, plus que les {ratio:.0%} "
                "permis ; corrigez les enregistrements listés dans le rapport et livrez à "
                "nouveau le fichier.",
            )
            rows.append(_file_row(check.file_name, check.file_type, problem))
    return rows


def report_rows(failures: pl.DataFrame) -> pl.DataFrame:
    """Failure rows of the contracts as report rows: sentences and support channel added."""
    if failures.is_empty():
        return pl.DataFrame(schema=REPORT_SCHEMA)
    consequence = pl.DataFrame(
        {
            "severity": list(CONSEQUENCE),
            "then_en": [en for en, _ in CONSEQUENCE.values()],
            "then_fr": [fr for _, fr in CONSEQUENCE.values()],
        }
    )
    channels = pl.DataFrame(
        {"file_type": list(SUPPORT_CHANNELS), "support_channel": list(SUPPORT_CHANNELS.values())}
    )
    rows = (
        failures.cast(FAILURE_SCHEMA)  # type: ignore[arg-type]
        .join(rule_texts(), on="rule", how="left")
        .join(consequence, on="severity", how="left")
        .join(channels, on="file_type", how="left")
    )
    attribute = pl.col("attribute").fill_null("")
    return rows.select(
        "file",
        "file_type",
        "record_id",
        "position",
        "line",
        "name",
        "attribute",
        "rule",
        "value",
        "severity",
        (
            pl.col("text_fr").str.replace_all("{attribute}", attribute, literal=True)
            + " "
            + pl.col("then_fr")
        ).alias("message_fr"),
        (
            pl.col("text_en").str.replace_all("{attribute}", attribute, literal=True)
            + " "
            + pl.col("then_en")
        ).alias("message_en"),
        "support_channel",
    ).cast(REPORT_SCHEMA)  # type: ignore[arg-type]


def _rejection(file_rows: list[dict[str, Any]]) -> str:
    if any(row["rule"] == "second_degree" for row in file_rows):
        return (
            f'{SECOND_DEGREE_EN[0].upper()}{SECOND_DEGREE_EN[1:]} (degre="2D"): the whole '
            "delivery is refused; ask the academy for the 1D export."
        )
    first = str(file_rows[0]["message_en"])
    more = len(file_rows) - 1
    if not more:
        return first
    return f"{first.removesuffix('.')}; {more} more file error(s) are listed in the report."


def _acceptance(report: pl.DataFrame, records: dict[str, int]) -> str:
    rejected = report.filter(pl.col("severity") == "record").select("file", "position").unique()
    warnings = report.filter(pl.col("severity") == "warning").height
    total = sum(records.values())
    return (
        f"{len(records)} file(s), {total} record(s): {rejected.height} rejected, "
        f"{warnings} warning(s)."
    )


def write_validation_report(
    store: ObjectStore, prefix: str, report: pl.DataFrame, name: str = "validation-report"
) -> WrittenReport:
    """The report as CSV (`;`, formula-safe) and Parquet, through the one report writer."""
    return write_report(store, prefix, name, report)


# -- `rentree validate`: files and folders, one delivery per extraction date ---------------


@dataclass(frozen=True)
class FileGroup:
    """The files given for one delivery (school year and extraction date); files whose
    name does not parse form groups of their own, with `delivery` None."""

    school_year: str | None
    delivery: str | None
    paths: tuple[Path, ...]
    not_used: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Verdict:
    group: FileGroup
    assessment: Assessment

    @property
    def valid(self) -> bool:
        return (
            self.assessment.accepted and not (self.assessment.report["severity"] == "record").any()
        )


def collect_files(paths: Sequence[Path]) -> list[Path]:
    """The files named, and the `.xml` files under the folders named, in a stable order.

    Raises FileNotFoundError with one sentence for a path that does not exist.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and (p.suffix == ".xml" or p.name == DTD_COPY)
                )
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(
                f"{path} does not exist; give AAF files or folders holding them."
            )
    return list(dict.fromkeys(files))


def group_files(files: Sequence[Path]) -> list[FileGroup]:
    """One group per delivery, in applying order (school year, extraction date)."""
    groups: dict[tuple[str, str], list[Path]] = {}
    set_aside: dict[tuple[str, str], list[Path]] = {}
    dtd_copies: list[Path] = []
    strays: list[FileGroup] = []
    for path in files:
        other = not_used_delivery(path.name)
        if other == "":
            dtd_copies.append(path)
            continue
        if other is not None:
            extraction = date(int(other[:4]), int(other[4:6]), int(other[6:]))
            year = school_year_for(None, path.parent.name, extraction)
            set_aside.setdefault((year, other), []).append(path)
            continue
        try:
            feed = feed_name_of(path.name)
        except AafFileError:
            strays.append(FileGroup(None, None, (path,)))
            continue
        year = school_year_for(feed, path.parent.name)
        groups.setdefault((year, feed.delivery), []).append(path)
    for key in set_aside:
        groups.setdefault(key, [])
    ordered = [
        FileGroup(y, d, tuple(p), tuple(set_aside.get((y, d), ())))
        for (y, d), p in sorted(groups.items())
    ]
    if dtd_copies:
        # the DTD copy belongs to no date: it goes with the first delivery
        if ordered:
            first = ordered[0]
            ordered[0] = FileGroup(
                first.school_year, first.delivery, first.paths, first.not_used + tuple(dtd_copies)
            )
        else:
            ordered.append(FileGroup(None, "", (), tuple(dtd_copies)))
    return ordered + strays


def validate_groups(
    groups: Sequence[FileGroup],
    invalid_record_ratio: float,
    directory: Callable[[KnownIds], KnownIds] | None = None,
) -> Iterator[Verdict]:
    """Check each delivery in applying order. A structure or relative counts as known when
    an earlier or the same delivery holds it, or (with `directory`) when the directory does."""
    known = KnownIds()
    for group in groups:
        if group.school_year is None:
            # a file whose name does not parse: check_file reports it before using the year
            today = CheckContext(school_year=school_year_of(date.today()))
            checks = [check_file(p, p.name, today) for p in group.paths]
        else:
            context = CheckContext(school_year=group.school_year)
            checks = [check_file(p, p.name, context) for p in group.paths]
        checks += [
            FileCheck(p.name, None, 0, None, empty_failures(), problem)
            for p in group.not_used
            if (problem := check_not_used(p, p.name)) is not None
        ]
        known = _merge(known, known_from_files(checks))
        if directory is not None:
            known = _merge(known, directory(lookups(checks)))
        not_used = [p.name for p in group.not_used]
        yield Verdict(group, assess_delivery(checks, known, invalid_record_ratio, not_used))


def _merge(a: KnownIds, b: KnownIds) -> KnownIds:
    return KnownIds(
        structures=pl.concat([a.structures, b.structures]).unique(),
        relatives=pl.concat([a.relatives, b.relatives]).unique(),
    )
