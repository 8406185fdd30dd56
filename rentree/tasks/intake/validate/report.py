"""The validation report ("rapport de validation"): one row per problem, with a French and an
English sentence and the support channel that can fix it (domain.md, "Who to contact")."""

from __future__ import annotations

from typing import Any

import polars as pl

from rentree.contracts.base import FAILURE_SCHEMA
from rentree.contracts.rules import CONSEQUENCE, rule_texts
from rentree.infra.reports import WrittenReport, write_report
from rentree.infra.storage import ObjectStore
from rentree.tasks.intake.validate.files import FileProblem

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


def file_row(file_name: str, file_type: str | None, problem: FileProblem) -> dict[str, Any]:
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


def write_validation_report(
    store: ObjectStore, prefix: str, report: pl.DataFrame, name: str = "validation-report"
) -> WrittenReport:
    """The report as CSV (`;`, formula-safe) and Parquet, through the one report writer."""
    return write_report(store, prefix, name, report)
