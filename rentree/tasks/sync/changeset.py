"""A change set: everything one delivery would do to the directory of a school year.

It is computed by `tasks.plan` without writing anything, can be held, written to the store
as files (one Parquet per kind plus `summary.json`), read back, and applied as it is by
`tasks.apply`. Every frame keeps a fixed schema even when empty, so that files written by
one run are read identically by another.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import polars as pl

from rentree.infra.naming import change_set_part_key, change_set_summary_key, uai_of_ids
from rentree.infra.storage import ObjectStore
from rentree.tasks.intake.validate import REPORT_SCHEMA
from rentree.tasks.sync.accounts import activation_codes

# The attributes of a structure that the feed owns.
STRUCTURE_ATTRIBUTES: dict[str, Any] = {
    "uai": pl.String,
    "name": pl.String,
    "type": pl.String,
    "district": pl.String,
    "town": pl.String,
    "postcode": pl.String,
    "rpi": pl.String,
}

# The attributes of a person that the feeds own (identity columns are set at creation only).
USER_ATTRIBUTES: dict[str, Any] = {
    "profile": pl.String,
    "ine": pl.String,
    "first_name": pl.String,
    "last_name": pl.String,
    "birth_date": pl.Date,
    "email": pl.String,
    "mobile": pl.String,
    "address": pl.String,
    "postcode": pl.String,
    "city": pl.String,
    "level": pl.String,
}

_USER_ROW: dict[str, Any] = {
    "external_id": pl.String,
    "source": pl.String,
    "identity": pl.String,
    "login": pl.String,
    **USER_ATTRIBUTES,
    "activation_code": pl.String,
    "activation_state": pl.String,
    "missing_since": pl.Date,
    # not a users column: the school the person is attached to, for counts per school
    "structure_uai": pl.String,
}

# kind -> schema of its frame
SCHEMAS: dict[str, dict[str, Any]] = {
    "structures_created": {"external_id": pl.String, **STRUCTURE_ATTRIBUTES},
    "structures_updated": {
        "external_id": pl.String,
        "changed": pl.List(pl.String),
        **STRUCTURE_ATTRIBUTES,
        "before": pl.String,  # JSON object: old values of the changed attributes
    },
    "users_created": _USER_ROW,
    "users_updated": {
        "external_id": pl.String,
        "changed": pl.List(pl.String),
        **USER_ATTRIBUTES,
        "before": pl.String,
        "structure_uai": pl.String,
    },
    "users_missing": {
        "external_id": pl.String,
        "profile": pl.String,
        "structure_uai": pl.String,
        "expected_leaver": pl.Boolean,
        "missing_since": pl.Date,
    },
    "users_back": {"external_id": pl.String, "profile": pl.String, "structure_uai": pl.String},
    "structure_links_made": {
        "user_external_id": pl.String,
        "structure_uai": pl.String,
        "source": pl.String,
        "director": pl.Boolean,
    },
    "structure_links_cut": {"user_external_id": pl.String, "structure_uai": pl.String},
    "class_links_made": {
        "user_external_id": pl.String,
        "class_external_id": pl.String,
        "school_year": pl.String,
        "source": pl.String,
    },
    "class_links_cut": {"user_external_id": pl.String, "class_external_id": pl.String},
    "relations_made": {"student_external_id": pl.String, "relative_external_id": pl.String},
    "relations_cut": {"student_external_id": pl.String, "relative_external_id": pl.String},
    "classes_created": {
        "external_id": pl.String,
        "structure_uai": pl.String,
        "school_year": pl.String,
        "code": pl.String,
        "label": pl.String,
        "levels": pl.String,
    },
    "classes_updated": {
        "external_id": pl.String,
        "label": pl.String,
        "levels": pl.String,
        "before": pl.String,
    },
    "groups_created": {
        "group_id": pl.String,
        "kind": pl.String,
        "school_year": pl.String,
        "structure_uai": pl.String,
        "class_external_id": pl.String,
        "audience": pl.String,
        "name": pl.String,
    },
    "group_members_added": {"group_id": pl.String, "user_external_id": pl.String},
    "group_members_removed": {"group_id": pl.String, "user_external_id": pl.String},
    # R1: a student found by INE under a new feed id; the account keeps its external id
    "identities_linked": {"feed_external_id": pl.String, "user_external_id": pl.String},
}

KINDS: tuple[str, ...] = tuple(SCHEMAS)

# the delivery's files, recorded in feed_files when the change set is applied (not a change)
FILES_SCHEMA: dict[str, Any] = {
    "content_hash": pl.String,
    "file_name": pl.String,
    "file_type": pl.String,
    "mode": pl.String,
    "extraction_date": pl.Date,
    "chunk": pl.Int64,
    "academy": pl.String,  # the academy of a region of several (None: a one-academy region)
}
_FILES_PART = "files"
# records the plan refused (R1 conflicts), as validation report rows: reported, not a change
_REFUSED_PART = "refused"


def empty_frame(kind: str) -> pl.DataFrame:
    return pl.DataFrame(schema=SCHEMAS[kind])


def conform(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with exactly the columns and types of its kind (missing columns are null)."""
    schema = SCHEMAS[kind]
    return frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
        for c, t in schema.items()
    )


@dataclass
class ChangeSet:
    """What a delivery would change ("jeu de modifications"), kind by kind."""

    school_year: str
    delivery: str  # YYYYMMDD
    file_hashes: tuple[str, ...]
    # digest of the directory state it was computed on; "" for a Delta, whose hold takes it
    fingerprint: str
    structures_created: pl.DataFrame = field(
        default_factory=partial(empty_frame, "structures_created")
    )
    structures_updated: pl.DataFrame = field(
        default_factory=partial(empty_frame, "structures_updated")
    )
    users_created: pl.DataFrame = field(default_factory=partial(empty_frame, "users_created"))
    users_updated: pl.DataFrame = field(default_factory=partial(empty_frame, "users_updated"))
    users_missing: pl.DataFrame = field(default_factory=partial(empty_frame, "users_missing"))
    users_back: pl.DataFrame = field(default_factory=partial(empty_frame, "users_back"))
    structure_links_made: pl.DataFrame = field(
        default_factory=partial(empty_frame, "structure_links_made")
    )
    structure_links_cut: pl.DataFrame = field(
        default_factory=partial(empty_frame, "structure_links_cut")
    )
    class_links_made: pl.DataFrame = field(default_factory=partial(empty_frame, "class_links_made"))
    class_links_cut: pl.DataFrame = field(default_factory=partial(empty_frame, "class_links_cut"))
    relations_made: pl.DataFrame = field(default_factory=partial(empty_frame, "relations_made"))
    relations_cut: pl.DataFrame = field(default_factory=partial(empty_frame, "relations_cut"))
    classes_created: pl.DataFrame = field(default_factory=partial(empty_frame, "classes_created"))
    classes_updated: pl.DataFrame = field(default_factory=partial(empty_frame, "classes_updated"))
    groups_created: pl.DataFrame = field(default_factory=partial(empty_frame, "groups_created"))
    group_members_added: pl.DataFrame = field(
        default_factory=partial(empty_frame, "group_members_added")
    )
    group_members_removed: pl.DataFrame = field(
        default_factory=partial(empty_frame, "group_members_removed")
    )
    identities_linked: pl.DataFrame = field(
        default_factory=partial(empty_frame, "identities_linked")
    )
    # feed types of the delivery and whether each was a Complet file (for holds and reports)
    complete: dict[str, bool] = field(default_factory=dict)
    files: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FILES_SCHEMA))
    refused: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=REPORT_SCHEMA))

    def __post_init__(self) -> None:
        for kind in KINDS:
            setattr(self, kind, conform(kind, getattr(self, kind)))
        self.files = self.files.select(
            pl.col(c).cast(t) if c in self.files.columns else pl.lit(None, dtype=t).alias(c)
            for c, t in FILES_SCHEMA.items()
        )

    def frames(self) -> dict[str, pl.DataFrame]:
        return {kind: getattr(self, kind) for kind in KINDS}

    def is_empty(self) -> bool:
        return all(frame.is_empty() for frame in self.frames().values())

    def counts(self) -> dict[str, int]:
        return {kind: frame.height for kind, frame in self.frames().items()}

    def counts_per_school(self) -> pl.DataFrame:
        """One row per school touched: `structure_uai` and one count column per kind."""
        parts = [
            _school_of(kind, frame).group_by("structure_uai").agg(pl.len().alias(kind))
            for kind, frame in self.frames().items()
        ]
        schools = pl.concat([p.select("structure_uai") for p in parts]).unique()
        result = schools.filter(pl.col("structure_uai").is_not_null())
        for kind, part in zip(KINDS, parts, strict=True):
            result = result.join(part, on="structure_uai", how="left")
            result = result.with_columns(pl.col(kind).fill_null(0).cast(pl.Int64))
        return result.sort("structure_uai")

    def summary(self) -> dict[str, Any]:
        """Plain JSON-able data: for holds, artifacts and reports."""
        missing = self.users_missing
        unexpected = missing.filter(~pl.col("expected_leaver").fill_null(False))
        per_profile = {
            str(row["profile"]): int(row["len"])
            for row in unexpected.group_by("profile").len().iter_rows(named=True)
        }
        return {
            "school_year": self.school_year,
            "delivery": self.delivery,
            "file_hashes": list(self.file_hashes),
            "fingerprint": self.fingerprint,
            "complete": dict(self.complete),
            "empty": self.is_empty(),
            "counts": self.counts(),
            "missing_unexpected": unexpected.height,
            "missing_expected_leavers": missing.height - unexpected.height,
            "missing_unexpected_per_profile": per_profile,
            "schools_touched": self.counts_per_school().height,
            "records_refused": self.refused.height,
        }

    def write(self, store: ObjectStore, prefix: str) -> list[str]:
        """One Parquet per kind plus `summary.json` under `prefix`; returns the keys."""
        keys: list[str] = []
        for kind, frame in self.frames().items():
            buffer = io.BytesIO()
            # activation codes are secrets, never written to files: `read` draws fresh ones
            frame.drop("activation_code", strict=False).write_parquet(buffer)
            key = change_set_part_key(prefix, kind)
            store.write_bytes(key, buffer.getvalue())
            keys.append(key)
        buffer = io.BytesIO()
        self.files.write_parquet(buffer)
        key = change_set_part_key(prefix, _FILES_PART)
        store.write_bytes(key, buffer.getvalue())
        keys.append(key)
        buffer = io.BytesIO()
        self.refused.write_parquet(buffer)
        key = change_set_part_key(prefix, _REFUSED_PART)
        store.write_bytes(key, buffer.getvalue())
        keys.append(key)
        key = change_set_summary_key(prefix)
        store.write_bytes(key, json.dumps(self.summary(), indent=2, sort_keys=True).encode())
        keys.append(key)
        return keys

    @classmethod
    def read(cls, store: ObjectStore, prefix: str) -> ChangeSet:
        summary = json.loads(store.read_bytes(change_set_summary_key(prefix)))
        frames = {
            kind: pl.read_parquet(io.BytesIO(store.read_bytes(change_set_part_key(prefix, kind))))
            for kind in KINDS
        }
        created = frames["users_created"]
        frames["users_created"] = created.with_columns(
            pl.when(pl.col("activation_state") == "pending")
            .then(activation_codes(created.height))
            .otherwise(None)
            .alias("activation_code")
        ).select(list(_USER_ROW))
        return cls(
            school_year=summary["school_year"],
            delivery=summary["delivery"],
            file_hashes=tuple(summary["file_hashes"]),
            fingerprint=summary["fingerprint"],
            complete=dict(summary.get("complete", {})),
            files=pl.read_parquet(
                io.BytesIO(store.read_bytes(change_set_part_key(prefix, _FILES_PART)))
            ),
            refused=_read_refused(store, change_set_part_key(prefix, _REFUSED_PART)),
            **frames,
        )


def _read_refused(store: ObjectStore, key: str) -> pl.DataFrame:
    """The refused records of a change set written before they were kept: none."""
    if not store.exists(key):
        return pl.DataFrame(schema=REPORT_SCHEMA)
    return pl.read_parquet(io.BytesIO(store.read_bytes(key))).cast(REPORT_SCHEMA)  # type: ignore[arg-type]


def school_expr(kind: str, frame: pl.DataFrame) -> pl.Expr:
    """The school each row of a kind is about (ids made by naming start with `<year>:<UAI>:`)."""
    if "structure_uai" in frame.columns:
        return pl.col("structure_uai")
    if kind.startswith("structures_"):
        return pl.col("uai")
    if "class_external_id" in frame.columns:
        return uai_of_ids(pl.col("class_external_id"))
    if "group_id" in frame.columns:
        return uai_of_ids(pl.col("group_id"))
    return pl.lit(None, dtype=pl.String)


def _school_of(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(school_expr(kind, frame).alias("structure_uai"))
