"""Validation report rows: both languages, the support channel of domain.md, and the
formula-safe CSV through the one report writer."""

from __future__ import annotations

import io

import polars as pl
from aaf_samples import document, name, relative, staff, student

from rentree.contracts import validate_records
from rentree.infra.aaf import read_aaf
from rentree.infra.storage import ObjectStore
from rentree.tasks.intake.validate import REPORT_SCHEMA, report_rows, write_validation_report


def rows(file_type: str, *records: str) -> pl.DataFrame:
    parsed = read_aaf(io.BytesIO(document(records)), name(file_type))
    failures = validate_records(parsed.feed.file_type, parsed.records, "2024-2025").failures
    return report_rows(failures)


def test_report_rows_have_both_sentences_and_the_documented_columns() -> None:
    report = rows("Eleve", student(ine="bad"))
    assert dict(report.schema) == REPORT_SCHEMA
    row = report.row(0, named=True)
    assert row["message_en"] == (
        "ENTEleveINE is not an INE (10 digits or capital letters, then a capital letter). "
        "The record is rejected."
    )
    assert row["message_fr"].startswith("ENTEleveINE n'est pas un INE")
    assert row["message_fr"].endswith("L'enregistrement est rejeté.")
    assert (row["record_id"], row["position"], row["line"], row["name"]) == (
        "E1",
        0,
        4,
        "Dupont Léa",
    )


def test_support_channel_follows_who_to_contact() -> None:
    assert rows("Eleve", student(ine="bad"))["support_channel"].to_list() == [
        "the ENT administrator"
    ]
    staff_channel = rows("PersEducNat", staff(ENTPersonMail="x"))["support_channel"][0]
    assert "academic incident tool" in staff_channel
    relative_channel = rows("PersRelEleve", relative(ENTPersonMail="x"))["support_channel"][0]
    assert relative_channel.startswith("the school director") and "EduConnect" in relative_channel


def test_warning_sentence_says_the_value_is_dropped() -> None:
    report = rows("PersRelEleve", relative(ENTPersonMail="x"))
    assert report["severity"].to_list() == ["warning"]
    assert report["message_en"][0].endswith("The value is dropped.")


def test_name_starting_with_equals_is_neutralised_in_the_csv(store: ObjectStore) -> None:
    report = rows("Eleve", student(last="=1+1", first="@SUM(A1)", ine="bad"))
    written = write_validation_report(store, "reports/test/", report)
    csv = store.read_bytes(written.csv_key).decode("utf-8")
    assert "'=1+1 @SUM(A1)" in csv
    parquet = pl.read_parquet(io.BytesIO(store.read_bytes(written.parquet_key)))
    assert parquet["name"].to_list() == ["=1+1 @SUM(A1)"]
