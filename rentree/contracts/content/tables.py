"""The directory's tables as files (storage.md): which tables, their columns in order, their
polars types, and the problems frame `(row, reason)` every inventory check returns."""

from __future__ import annotations

import polars as pl
from sqlalchemy import BigInteger, Boolean, Date, DateTime, Integer, Table

from rentree.infra import schema

EXPORT_TABLES: tuple[str, ...] = (
    "structures",
    "classes",
    "users",
    "user_structures",
    "user_classes",
    "relations",
    "groups",
    "group_members",
    "bookmarks",
    "bookmark_members",
    "resources",
    "shares",
)

# The tables only the feeds fill; an inventory brings the others.
FEED_ONLY_TABLES = ("structures", "classes", "user_classes", "relations")
# The order matters (the export's): a row may name what an earlier table of the same
# inventory brings.
INVENTORY_TABLES: tuple[str, ...] = tuple(t for t in EXPORT_TABLES if t not in FEED_ONLY_TABLES)

MINIMUM_COLUMNS: dict[str, tuple[str, ...]] = {
    "structures": ("external_id", "uai", "name", "type"),
    "classes": ("external_id", "structure_uai", "school_year", "code", "label", "levels"),
    "users": (
        "external_id",
        "profile",
        "source",
        "identity",
        "login",
        "ine",
        "first_name",
        "last_name",
        "missing_since",
    ),
    "user_structures": ("user_external_id", "structure_uai", "source"),
    "user_classes": ("user_external_id", "class_external_id", "school_year", "source"),
    "relations": ("student_external_id", "relative_external_id"),
    "groups": (
        "group_id",
        "kind",
        "school_year",
        "structure_uai",
        "class_external_id",
        "audience",
        "name",
        "owner_external_id",
    ),
    "group_members": ("group_id", "user_external_id"),
    "bookmarks": ("bookmark_id", "owner_external_id", "name"),
    "bookmark_members": ("bookmark_id", "member_kind", "member_id"),
    "resources": ("resource_id", "owner_external_id", "app", "area", "size_bytes", "created_at"),
    "shares": ("resource_id", "recipient_kind", "recipient_id", "rights"),
}

# Columns an inventory file must have; the other minimum columns may be left out (empty).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("external_id", "profile", "source", "identity", "login"),
    "user_structures": ("user_external_id", "structure_uai", "source"),
    "groups": ("group_id", "kind", "name", "owner_external_id"),
    "group_members": ("group_id", "user_external_id"),
    "bookmarks": ("bookmark_id", "owner_external_id", "name"),
    "bookmark_members": ("bookmark_id", "member_kind", "member_id"),
    "resources": ("resource_id", "owner_external_id", "app", "area", "size_bytes"),
    "shares": ("resource_id", "recipient_kind", "recipient_id", "rights"),
}

# Values a NOT NULL column takes when the inventory leaves it out or empty.
DEFAULTS: dict[str, dict[str, object]] = {
    "users": {"first_name": "", "last_name": "", "activation_state": "none"},
    "user_structures": {"director": False},
}

# Columns the database leaves nullable for the feeds' rows but an inventory row must fill.
NOT_EMPTY: dict[str, dict[str, str]] = {
    "groups": {"owner_external_id": "owner_external_id is empty; a manual group has an owner"},
}

PROBLEMS_SCHEMA: dict[str, pl.DataType] = {"row": pl.Int64(), "reason": pl.String()}
UTC_DATETIME = pl.Datetime("us", "UTC")


def table(name: str) -> Table:
    return schema.metadata.tables[name]


def table_columns(name: str) -> list[str]:
    """storage.md's minimum columns in their order, then the schema's other columns."""
    minimum = list(MINIMUM_COLUMNS[name])
    return minimum + [c.name for c in table(name).columns if c.name not in minimum]


def primary_key(name: str) -> list[str]:
    return [c.name for c in table(name).primary_key.columns]


def polars_dtype(column_type: object) -> pl.DataType:
    """The polars type a schema column is read and written as (datetimes in UTC)."""
    if isinstance(column_type, Boolean):
        return pl.Boolean()
    if isinstance(column_type, BigInteger | Integer):
        return pl.Int64()
    if isinstance(column_type, DateTime):
        return UTC_DATETIME
    if isinstance(column_type, Date):
        return pl.Date()
    return pl.String()


def polars_schema(name: str) -> dict[str, pl.DataType]:
    tbl = table(name)
    return {c: polars_dtype(tbl.c[c].type) for c in table_columns(name)}


def empty_problems() -> pl.DataFrame:
    return pl.DataFrame(schema=PROBLEMS_SCHEMA)


def concat_problems(parts: list[pl.DataFrame]) -> pl.DataFrame:
    parts = [p.cast(PROBLEMS_SCHEMA) for p in parts if p.height]  # type: ignore[arg-type]
    return pl.concat(parts) if parts else empty_problems()
