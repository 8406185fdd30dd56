"""How AAF attributes become the columns of a parsed frame (feeds.md): the one attribute map.

The reader collects each record's values into plain lists; `to_frame` turns them into a
typed polars frame in a few vectorised steps (multi-valued attributes split, `$`-separated
parts derived).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from rentree.infra.naming import FeedType

RECORD_TAGS = {"addRequest": "add", "modifyRequest": "modify", "deleteRequest": "delete"}
CATEGORY_ATTRIBUTE = "categoriePersonne"
# Structure records name their category `categorieStructure` (the DTD's own comment names both).
CATEGORY_ATTRIBUTES = (CATEGORY_ATTRIBUTE, "categorieStructure")


@dataclass(frozen=True)
class Attribute:
    """An AAF attribute read into a column; `multi` attributes become lists."""

    aaf: str
    column: str
    multi: bool = False
    # the LDAP spelling older and second-degree exports use, read when `aaf` is absent
    fallback: str | None = None


ATTRIBUTES: dict[FeedType, tuple[Attribute, ...]] = {
    "EtabEducNat": (
        Attribute("ENTStructureUAI", "uai"),
        Attribute("ENTStructureNomCourant", "name"),
        Attribute("ENTStructureTypeStruct", "structure_type"),
        Attribute("ENTEcoleCirconscription", "district"),
        Attribute("ENTEcoleCommune", "town"),
        Attribute("ENTStructureCodePostal", "postcode"),
        Attribute("ENTEcoleRPI", "rpi"),
    ),
    "PersEducNat": (
        Attribute("ENTPersonNom", "last_name", fallback="sn"),
        Attribute("ENTPersonPrenom", "first_name", fallback="givenName"),
        Attribute("ENTPersonDateNaissance", "birth_date"),
        Attribute("ENTPersonMail", "email", fallback="mail"),
        Attribute("ENTPersonStructRattach", "struct_ids", multi=True),
        Attribute("ENTPersonFonctions", "functions", multi=True),
        Attribute("ENTEnsFonctionDir", "director_of", multi=True),
        Attribute("ENTPersonCategorieEnseignant", "teacher_category"),
    ),
    "Eleve": (
        Attribute("ENTEleveINE", "ine"),
        Attribute("ENTPersonNom", "last_name", fallback="sn"),
        Attribute("ENTPersonPrenom", "first_name", fallback="givenName"),
        Attribute("ENTPersonDateNaissance", "birth_date"),
        Attribute("ENTPersonStructRattach", "struct_ids", multi=True),
        Attribute("ENTPersonClasses", "classes", multi=True),
        Attribute("ENTEleveNiveau", "level"),
        Attribute("ENTEleveAutoriteParentale", "relative_ids", multi=True),
    ),
    "PersRelEleve": (
        Attribute("ENTPersonNom", "last_name", fallback="sn"),
        Attribute("ENTPersonPrenom", "first_name", fallback="givenName"),
        Attribute("ENTPersonMail", "email", fallback="mail"),
        Attribute("ENTPersRelEleveTelMobile", "mobile"),
        Attribute("ENTPersonAdresse", "address"),
        Attribute("ENTPersonCodePostal", "postcode"),
        Attribute("ENTPersonVille", "city"),
        # the pupils a relative is responsible for (the relation seen from the relative's side)
        Attribute("ENTPersRelEleveEleve", "student_ids", multi=True),
    ),
}

COMMON_SCHEMA: dict[str, Any] = {
    "file": pl.String,
    "position": pl.Int64,
    "line": pl.Int64,
    "operation": pl.String,
    "category": pl.String,
    "external_id": pl.String,
    "modified": pl.List(pl.String),
    "extra": pl.String,
}

# Columns derived from `$`-separated values: (source column, part index, derived column).
DERIVED: dict[FeedType, tuple[tuple[str, int, str], ...]] = {
    "EtabEducNat": (),
    "PersEducNat": (
        ("functions", 0, "function_struct_ids"),
        ("functions", 1, "function_codes"),
    ),
    "Eleve": (
        ("classes", 0, "class_struct_ids"),
        ("classes", 3, "class_codes"),
        ("classes", 4, "class_labels"),
    ),
    "PersRelEleve": (),
}


def parsed_schema(file_type: FeedType) -> dict[str, Any]:
    """Every column of a parsed frame of this type, in order, with its type."""
    schema = dict(COMMON_SCHEMA)
    for attribute in ATTRIBUTES[file_type]:
        schema[attribute.column] = pl.List(pl.String) if attribute.multi else pl.String
    for _, _, derived in DERIVED[file_type]:
        schema[derived] = pl.List(pl.String)
    return schema


# Joins the values of a multi-valued attribute while reading: a control character that XML
# 1.0 text can never hold, split again by polars in one vectorised step.
JOIN = "\x1f"


def raw_schema(file_type: FeedType) -> dict[str, Any]:
    """The columns as the readers build them: list columns as text joined by JOIN."""
    return {
        c: pl.String if t == pl.List(pl.String) else t
        for c, t in parsed_schema(file_type).items()
        if c in COMMON_SCHEMA or c in {a.column for a in ATTRIBUTES[file_type]}
    }


def to_frame(raw: dict[str, list[Any]] | pl.DataFrame, file_type: FeedType) -> pl.DataFrame:
    """The parsed frame from the raw columns (lists of values or a frame of `raw_schema`)."""
    schema = parsed_schema(file_type)
    columns = raw_schema(file_type)
    # list columns travel as joined text (fast to build), split here in one step each
    frame = (
        raw.select(pl.col(c).cast(t) for c, t in columns.items())
        if isinstance(raw, pl.DataFrame)
        else pl.DataFrame(raw, schema=columns)
    ).with_columns(
        pl.when(pl.col(c).is_null())
        .then(pl.lit([], pl.List(pl.String)))
        .otherwise(pl.col(c).str.split(JOIN))
        .alias(c)
        for c, t in schema.items()
        if c in columns and t == pl.List(pl.String)
    )
    derived = [
        pl.col(source)
        .list.eval(pl.element().str.split("$").list.get(index, null_on_oob=True))
        .alias(target)
        for source, index, target in DERIVED[file_type]
    ]
    if file_type == "Eleve":
        # relatives are named by the first `$` part of ENTEleveAutoriteParentale
        derived.append(pl.col("relative_ids").list.eval(pl.element().str.split("$").list.first()))
    if derived:
        frame = frame.with_columns(derived)
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())
