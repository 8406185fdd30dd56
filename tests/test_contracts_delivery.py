"""Checks across the files of a delivery (feeds.md, "Across files of a delivery")."""

from __future__ import annotations

import io

import polars as pl
from aaf_samples import document, name, relative, school, staff, student, valid_delivery

from rentree.contracts import validate_records
from rentree.contracts.delivery import KnownIds, check_delivery, referenced_ids
from rentree.infra.aaf import read_aaf
from rentree.infra.naming import FeedType


def frames(files: dict[str, bytes]) -> dict[FeedType, pl.DataFrame]:
    out: dict[FeedType, list[pl.DataFrame]] = {}
    for file_name, content in files.items():
        parsed = read_aaf(io.BytesIO(content), file_name)
        result = validate_records(parsed.feed.file_type, parsed.records, "2024-2025")
        assert result.failures.is_empty(), result.failures
        out.setdefault(parsed.feed.file_type, []).append(result.valid)
    return {t: pl.concat(parts) for t, parts in out.items()}


def problems(files: dict[str, bytes], known: KnownIds | None = None) -> list[tuple[str, str, str]]:
    result = check_delivery(frames(files), known or KnownIds())
    return [
        (r["record_id"], r["rule"], r["severity"]) for r in result.failures.iter_rows(named=True)
    ]


def test_consistent_delivery_has_no_problem() -> None:
    assert problems(valid_delivery()) == []


def test_same_id_twice_in_a_type_rejects_every_occurrence_across_chunks() -> None:
    files = valid_delivery()
    files[name("Eleve", chunk=1)] = document([student("E1", ine="1234567890Z")])
    result = check_delivery(frames(files), KnownIds())
    assert [(r["record_id"], r["rule"]) for r in result.failures.iter_rows(named=True)] == [
        ("E1", "duplicate_id"),
        ("E1", "duplicate_id"),
    ]
    assert "E1" not in result.frames["Eleve"]["external_id"].to_list()


def test_same_ine_for_two_pupils_is_rejected() -> None:
    files = valid_delivery()
    files[name("Eleve")] = document([student(), student("E2", ine="1234567890A")])
    assert problems(files) == [("E1", "duplicate_ine", "record"), ("E2", "duplicate_ine", "record")]


def test_same_uai_for_two_structures_is_rejected() -> None:
    files = valid_delivery()
    files[name("EtabEducNat")] = document([school(), school("S2")])
    found = problems(files)
    assert ("S1", "duplicate_uai", "record") in found and ("S2", "duplicate_uai", "record") in found


def test_unknown_structure_rejects_the_pupil() -> None:
    files = valid_delivery()
    files[name("Eleve")] = document([student(struct="S9", relatives=())])
    assert problems(files) == [("E1", "unknown_structure", "record")]


def test_unknown_structure_of_a_staff_member_drops_that_link_only() -> None:
    files = valid_delivery()
    member = staff(
        structs=("S9",), ENTPersonFonctions=["S1$ENS$ENSEIGNEMENT$$", "S8$ENS$ENSEIGNEMENT$$"]
    )
    files[name("PersEducNat")] = document([member])
    result = check_delivery(frames(files), KnownIds())
    found = [
        (r["record_id"], r["rule"], r["severity"], r["value"])
        for r in result.failures.iter_rows(named=True)
    ]
    assert found == [("P1", "unknown_structure_link", "warning", "S9 | S8")]
    assert result.frames["PersEducNat"]["struct_ids"].to_list() == [["S1"]]


def test_a_relation_counts_from_the_relatives_side() -> None:
    files = valid_delivery()
    files[name("PersRelEleve")] = document(
        [relative(ENTPersRelEleveEleve=["E3"]), relative("R2", "N'Diaye", "Awa")]
    )
    result = check_delivery(frames(files), KnownIds())
    relatives = dict(result.frames["Eleve"].select("external_id", "relative_ids").iter_rows())
    assert relatives["E3"] == ["R2", "R1"]
    assert relatives["E1"] == ["R1"]


def test_structure_known_in_the_directory_is_accepted() -> None:
    files = valid_delivery()
    files[name("PersEducNat")] = document([staff(structs=("S1", "S9"))])
    asked = referenced_ids(frames(files))
    assert asked.structures.to_list() == ["S9"]
    assert problems(files, KnownIds(structures=pl.Series(["S9"]))) == []


def test_class_code_has_one_label_per_structure() -> None:
    files = valid_delivery()
    files[name("Eleve")] = document(
        [
            student(),
            student("E2", ine="1234567890B"),
            student("E3", ine="1234567890C", ENTPersonClasses="S1$x$y$CP-A$Autre libellé"),
        ]
    )
    assert problems(files) == [("E3", "class_label_conflict", "record")]


def test_unknown_relative_is_a_warning_and_the_link_is_skipped() -> None:
    files = valid_delivery()
    files[name("PersRelEleve")] = document([relative()])
    result = check_delivery(frames(files), KnownIds())
    rows = result.failures.to_dicts()
    assert [(r["record_id"], r["rule"], r["severity"], r["value"]) for r in rows] == [
        ("E2", "unknown_relative", "warning", "R2"),
        ("E3", "unknown_relative", "warning", "R2"),
    ]
    pupils = result.frames["Eleve"].sort("external_id")
    assert pupils["relative_ids"].to_list() == [["R1"], ["R1"], []]
