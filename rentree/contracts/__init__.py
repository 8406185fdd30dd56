"""The feed contracts: a Pandera model per AAF type (feeds.md) and the delivery checks."""

from __future__ import annotations

import polars as pl

from rentree.contracts import relatives, staff, structures, students
from rentree.contracts.base import ContractResult, FeedContract, run_contract
from rentree.infra.naming import FeedType

CONTRACTS: dict[FeedType, FeedContract] = {
    "EtabEducNat": structures.CONTRACT,
    "PersEducNat": staff.CONTRACT,
    "Eleve": students.CONTRACT,
    "PersRelEleve": relatives.CONTRACT,
}


def validate_records(
    file_type: FeedType, records: pl.DataFrame, school_year: str
) -> ContractResult:
    """Check one parsed frame: the valid records typed, and a failure row per problem."""
    return run_contract(CONTRACTS[file_type], records, school_year)


__all__ = ["CONTRACTS", "ContractResult", "FeedContract", "validate_records"]
