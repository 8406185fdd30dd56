"""Contracts of the directory's tables as files: exports and the content inventory.

storage.md fixes the minimum columns of each table; the rest of the schema's columns follow
them (`tables`). The content inventory ("inventaire des productions et partages") is read with
these contracts: every value is coerced to the schema's type (`coercion`), then checked by a
Pandera schema built from the table itself (`contract`, with the table's own `rules`), so the
limits of the database (lengths, NOT NULL) and the domain's closed lists are checked in one
place. A broken row becomes a problem `(row, reason)` with one sentence; the rest of the file
goes on.
"""

from rentree.contracts.content.coercion import coerce
from rentree.contracts.content.contract import check_contract, pandera_schema, schema_problems
from rentree.contracts.content.rules import MEMBER_KINDS, RECIPIENT_KINDS, RIGHTS, RULES
from rentree.contracts.content.tables import (
    EXPORT_TABLES,
    INVENTORY_TABLES,
    MINIMUM_COLUMNS,
    PROBLEMS_SCHEMA,
    REQUIRED_COLUMNS,
    UTC_DATETIME,
    empty_problems,
    polars_dtype,
    polars_schema,
    primary_key,
    table,
    table_columns,
)

__all__ = [
    "EXPORT_TABLES",
    "INVENTORY_TABLES",
    "MEMBER_KINDS",
    "MINIMUM_COLUMNS",
    "PROBLEMS_SCHEMA",
    "RECIPIENT_KINDS",
    "REQUIRED_COLUMNS",
    "RIGHTS",
    "RULES",
    "UTC_DATETIME",
    "check_contract",
    "coerce",
    "empty_problems",
    "pandera_schema",
    "polars_dtype",
    "polars_schema",
    "primary_key",
    "schema_problems",
    "table",
    "table_columns",
]
