"""`rentree validate`: files and folders checked as deliveries, one per extraction date,
without staging anything."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from rentree.contracts.base import empty_failures
from rentree.contracts.delivery import KnownIds
from rentree.infra.aaf import AafFileError, feed_name_of
from rentree.infra.naming import DTD_COPY, not_used_delivery, school_year_of
from rentree.tasks.intake.validate.delivery import (
    Assessment,
    assess_delivery,
    known_from_files,
    lookups,
)
from rentree.tasks.intake.validate.files import (
    CheckContext,
    FileCheck,
    check_file,
    check_not_used,
    school_year_for,
)


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
