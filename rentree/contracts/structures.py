"""Contract of EtabEducNat records: the structures (schools) of a delivery."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from rentree.contracts.base import (
    FeedContract,
    RecordContract,
    at_most,
    matches,
    one_of,
    required,
)
from rentree.infra.naming import FeedType

T: FeedType = "EtabEducNat"
UAI_PATTERN = r"^[0-9]{7}[A-Z]$"
POSTCODE_PATTERN = r"^[0-9]{5}$"
# ENTStructureTypeStruct -> the directory's structure type
STRUCTURE_TYPES = {
    "ECOLE MATERNELLE": "maternelle",
    "ECOLE ELEMENTAIRE": "elementaire",
    "ECOLE PRIMAIRE": "primaire",
}


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
    type_known = one_of(T, "structure_type", "structure_type", tuple(STRUCTURE_TYPES))
    district_too_long = at_most(T, "district", 200)
    town_too_long = at_most(T, "town", 200)
    postcode_format = matches(T, "postcode", "postcode", POSTCODE_PATTERN)
    rpi_too_long = at_most(T, "rpi", 64)


def typed_structures(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.col("structure_type").replace_strict(STRUCTURE_TYPES, default=None)
    )


CONTRACT = FeedContract(
    file_type=T,
    model=StructureContract,
    required_columns=frozenset({"external_id", "category", "uai", "name", "structure_type"}),
    typed=typed_structures,
)
