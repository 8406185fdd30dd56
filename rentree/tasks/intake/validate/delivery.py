"""Deciding on a delivery from its file checks, with the severities of feeds.md: the cross-file
checks, the share of invalid records, and the one sentence that sums it up."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from rentree.contracts.base import empty_failures
from rentree.contracts.delivery import KnownIds, check_delivery, referenced_ids
from rentree.infra.aaf import SECOND_DEGREE_EN
from rentree.infra.naming import FEED_TYPES, FeedType, not_used_type
from rentree.tasks.intake.validate.files import FileCheck, FileProblem
from rentree.tasks.intake.validate.report import REPORT_SCHEMA, file_row, report_rows


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
    ordered = sorted(checks, key=check_order)
    records = {c.file_name: c.records for c in ordered}
    file_rows = [file_row(c.file_name, c.file_type, c.problem) for c in ordered if c.problem]
    failures = pl.concat([c.failures for c in ordered] or [empty_failures()])
    frames = frames_by_type(ordered)
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
    frames = frames_by_type(list(checks))
    empty = pl.Series("external_id", [], dtype=pl.String)

    def ids(file_type: FeedType) -> pl.Series:
        frame = frames.get(file_type)
        return frame["external_id"].drop_nulls() if frame is not None else empty

    return KnownIds(structures=ids("EtabEducNat"), relatives=ids("PersRelEleve"))


def lookups(checks: Sequence[FileCheck]) -> KnownIds:
    """The ids a delivery names but does not hold: what to ask the directory about."""
    return referenced_ids(frames_by_type(sorted(checks, key=check_order)))


def check_order(check: FileCheck) -> tuple[int, int, str]:
    if check.feed is None:
        return (len(FEED_TYPES), 0, check.file_name)
    return (FEED_TYPES.index(check.feed.file_type), check.feed.chunk, check.file_name)


def frames_by_type(checks: Sequence[FileCheck]) -> dict[FeedType, pl.DataFrame]:
    frames: dict[FeedType, list[pl.DataFrame]] = {}
    for check in checks:
        if check.feed is not None and check.valid is not None:
            frames.setdefault(check.feed.file_type, []).append(check.valid)
    return {t: pl.concat(parts, how="vertical") for t, parts in frames.items()}


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
            rows.append(file_row(check.file_name, check.file_type, problem))
    return rows


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
