"""Contract of PersRelEleve records: relatives ("responsables légaux")."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from rentree.contracts.base import (
    FeedContract,
    PersonContract,
    at_most,
    matches,
)
from rentree.contracts.staff import EMAIL_PATTERN
from rentree.contracts.structures import without_parts
from rentree.infra.naming import FeedType

T: FeedType = "PersRelEleve"
# digits, with an optional leading + (or a +NN (0) prefix) and spaces, dots or dashes
PHONE_PATTERN = r"^\+?[0-9 .\-()]*[0-9][0-9 .\-()]*$"


class RelativeContract(PersonContract):
    """A relative: names are required; contact values are optional."""

    class Config:
        name = T

    email: str = pa.Field(nullable=True)
    mobile: str = pa.Field(nullable=True)
    address: str = pa.Field(nullable=True)
    postcode: str = pa.Field(nullable=True)
    city: str = pa.Field(nullable=True)
    student_ids: list[str]

    email_format = matches(T, "email", "email", EMAIL_PATTERN)
    email_too_long = at_most(T, "email", 254)
    mobile_format = matches(T, "mobile", "phone", PHONE_PATTERN)
    mobile_too_long = at_most(T, "mobile", 40)
    address_too_long = at_most(T, "address", 400)
    postcode_too_long = at_most(T, "postcode", 10)
    city_too_long = at_most(T, "city", 200)
    students_too_long = at_most(T, "student_ids", 64, is_list=True)


def typed_relatives(frame: pl.DataFrame) -> pl.DataFrame:
    """Addresses in `$` parts (SIECLE's lines) shown as one line."""
    return frame.with_columns(without_parts(pl.col("address")).alias("address"))


CONTRACT = FeedContract(
    file_type=T,
    model=RelativeContract,
    required_columns=frozenset({"external_id", "category", "last_name", "first_name"}),
    typed=typed_relatives,
)
