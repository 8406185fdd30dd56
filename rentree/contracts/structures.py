"""Contract of EtabEducNat records: the structures (schools) of a delivery."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from rentree.contracts.base import (
    FeedContract,
    RecordContract,
    at_most,
    matches,
    required,
)
from rentree.infra.naming import UAI_PATTERN, FeedType

T: FeedType = "EtabEducNat"
POSTCODE_PATTERN = r"^[0-9]{5}$"
# The directory's structure types. ENTStructureTypeStruct holds the official label of the
# structure's nature ("ECOLE MATERNELLE", "ECOLE DE NIVEAU ELEMENTAIRE", "ECOLE ELEMENTAIRE
# D'APPLICATION", "ECOLE PRIMAIRE"...): the type is read from its words. Structures that are
# not schools (SANS OBJET, inspections, replacement zones) are `other`: kept, never an error.
STRUCTURE_TYPES = ("maternelle", "elementaire", "primaire", "other")
OTHER_STRUCTURE = "other"


def school_type(label: pl.Expr) -> pl.Expr:
    """The school type a nature label says: a label starting ECOLE is a school (maternelle,
    élémentaire, or else primaire: both levels or unsaid); any other label is `other`."""
    words = label.str.to_uppercase().str.replace_all("É", "E").str.strip_chars()
    school = words.str.starts_with("ECOLE")
    return (
        pl.when(label.is_null())
        .then(None)
        .when(school & words.str.contains("MATERNELLE"))
        .then(pl.lit("maternelle"))
        .when(school & words.str.contains("ELEMENTAIRE"))
        .then(pl.lit("elementaire"))
        .when(school)
        .then(pl.lit("primaire"))
        .otherwise(pl.lit(OTHER_STRUCTURE))
    )


def without_parts(value: pl.Expr) -> pl.Expr:
    """A value written in `$` parts (TYPE$NAME$TOWN, an address's lines) as readable text."""
    return (
        value.str.replace_all(r"\$+", " ")
        .str.replace_all(r"\s{2,}", " ")
        .str.strip_chars()
        .replace("", None)
    )


class StructureContract(RecordContract):
    """A structure ("établissement"): UAI, name and type are required."""

    uai: str = pa.Field(nullable=True)
    name: str = pa.Field(nullable=True)
    structure_type: str = pa.Field(nullable=True)
    district: str = pa.Field(nullable=True)
    town: str = pa.Field(nullable=True)
    postcode: str = pa.Field(nullable=True)
    rpi: str = pa.Field(nullable=True)

    uai_required = required(T, "uai")
    uai_format = matches(T, "uai", "uai_format", UAI_PATTERN)
    name_required = required(T, "name")
    name_too_long = at_most(T, "name", 200)
    type_required = required(T, "structure_type")
    district_too_long = at_most(T, "district", 200)
    town_too_long = at_most(T, "town", 200)
    postcode_format = matches(T, "postcode", "postcode", POSTCODE_PATTERN)
    rpi_too_long = at_most(T, "rpi", 64)


def typed_structures(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        school_type(pl.col("structure_type")).alias("structure_type"),
        without_parts(pl.col("name")).alias("name"),
    )


CONTRACT = FeedContract(
    file_type=T,
    model=StructureContract,
    required_columns=frozenset({"external_id", "category", "uai", "name", "structure_type"}),
    typed=typed_structures,
)
