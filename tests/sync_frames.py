"""Typed (validated) feed frames built by hand, and a staged delivery around them, for the
plan and apply tests: they depend neither on the reader, the contracts nor the generator."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl

from rentree.infra.naming import feed_file_name, landing_key, parse_feed_name
from rentree.tasks.intake.stage import StagedDelivery, StagedFile

CLOSING = "2023-2024"
NEW = "2024-2025"

_COMMON: dict[str, Any] = {
    "file": pl.String,
    "position": pl.Int64,
    "operation": pl.String,
    "category": pl.String,
    "external_id": pl.String,
    "modified": pl.List(pl.String),
    "extra": pl.String,
}
_LIST = pl.List(pl.String)
TYPED: dict[str, dict[str, Any]] = {
    "EtabEducNat": {
        **_COMMON,
        "uai": pl.String,
        "name": pl.String,
        "structure_type": pl.String,
        "district": pl.String,
        "town": pl.String,
        "postcode": pl.String,
        "rpi": pl.String,
    },
    "PersEducNat": {
        **_COMMON,
        "last_name": pl.String,
        "first_name": pl.String,
        "birth_date": pl.Date,
        "email": pl.String,
        "struct_ids": _LIST,
        "functions": _LIST,
        "function_struct_ids": _LIST,
        "function_codes": _LIST,
        "director_of": _LIST,
        "teacher_category": pl.String,
        "is_teacher": pl.Boolean,
    },
    "Eleve": {
        **_COMMON,
        "ine": pl.String,
        "last_name": pl.String,
        "first_name": pl.String,
        "birth_date": pl.Date,
        "struct_ids": _LIST,
        "classes": _LIST,
        "class_struct_ids": _LIST,
        "class_codes": _LIST,
        "class_labels": _LIST,
        "level": pl.String,
        "relative_ids": _LIST,
        "struct_id": pl.String,
        "class_code": pl.String,
        "class_label": pl.String,
    },
    "PersRelEleve": {
        **_COMMON,
        "last_name": pl.String,
        "first_name": pl.String,
        "email": pl.String,
        "mobile": pl.String,
        "address": pl.String,
        "postcode": pl.String,
        "city": pl.String,
    },
}
CATEGORY = {
    "EtabEducNat": "EtabEducNat",
    "PersEducNat": "PersEducNat",
    "Eleve": "Eleve",
    "PersRelEleve": "PersRelEleve",
}


def _record(external_id: str) -> dict[str, Any]:
    return {"operation": "add", "external_id": external_id, "modified": [], "extra": "{}"}


def _person(pid: str, last: str, first: str) -> dict[str, Any]:
    return {**_record(pid), "last_name": last, "first_name": first}


def school(
    sid: str,
    uai: str,
    *,
    name: str | None = None,
    kind: str = "primaire",
) -> dict[str, Any]:
    return {
        **_record(sid),
        "uai": uai,
        "name": name or f"École {uai}",
        "structure_type": kind,
        "town": "Lille",
        "postcode": "59000",
    }


def staff(
    pid: str,
    last: str,
    first: str,
    structs: Sequence[str],
    *,
    director_of: Sequence[str] = (),
    teacher: bool = True,
    email: str | None = None,
) -> dict[str, Any]:
    return {
        **_person(pid, last, first),
        "birth_date": date(1980, 5, 17),
        "email": email or f"{first.lower()}.{last.lower()}@ac-lille.fr",
        "struct_ids": list(structs),
        "functions": [],
        "function_struct_ids": [],
        "function_codes": ["ENS" if teacher else "ADM"],
        "director_of": list(director_of),
        "teacher_category": "O" if teacher else "N",
        "is_teacher": teacher,
    }


def student(
    pid: str,
    ine: str,
    last: str,
    first: str,
    struct: str | None,
    class_code: str | None,
    level: str | None,
    *,
    relatives: Sequence[str] = (),
    class_label: str | None = None,
    born: date = date(2017, 3, 4),
) -> dict[str, Any]:
    return {
        **_person(pid, last, first),
        "ine": ine,
        "birth_date": born,
        "struct_ids": [struct] if struct else [],
        "classes": [],
        "class_struct_ids": [struct] if struct else [],
        "class_codes": [class_code] if class_code else [],
        "class_labels": [class_label or class_code] if class_code else [],
        "level": level,
        "relative_ids": list(relatives),
        "struct_id": struct,
        "class_code": class_code,
        "class_label": (class_label or class_code) if class_code else None,
    }


def relative(
    pid: str,
    last: str,
    first: str,
    *,
    email: str | None = None,
    mobile: str | None = None,
) -> dict[str, Any]:
    return {
        **_person(pid, last, first),
        "email": email,
        "mobile": mobile,
        "city": "Lille",
    }


def deleted(pid: str) -> dict[str, Any]:
    return {**_record(pid), "operation": "delete"}


def modified(record: dict[str, Any], *attributes: str) -> dict[str, Any]:
    """The Delta `modify` of a record, naming the AAF attributes it replaces."""
    return {**record, "operation": "modify", "modified": list(attributes)}


def frame(file_type: str, rows: Sequence[dict[str, Any]], file: str = "f.xml") -> pl.DataFrame:
    full = [
        {**row, "file": file, "position": i, "category": CATEGORY[file_type]}
        for i, row in enumerate(rows)
    ]
    return pl.DataFrame(full, schema=TYPED[file_type], orient="row")


def delivery(
    year: str,
    day: date,
    rows: dict[str, Sequence[dict[str, Any]]],
    *,
    mode: str = "Complet",
    rejected: Sequence[str] = (),
) -> StagedDelivery:
    """A staged delivery of the given records per feed type (one file per type)."""
    frames: dict[str, pl.DataFrame] = {}
    files: list[StagedFile] = []
    for file_type, records in rows.items():
        name = feed_file_name(file_type, day, 0, mode)  # type: ignore[arg-type]
        frames[file_type] = frame(file_type, records, name)
        digest = hashlib.sha256(repr((name, records)).encode()).hexdigest()
        files.append(
            StagedFile(landing_key(year, name), parse_feed_name(name), digest, len(records))
        )
    problems = pl.DataFrame(
        {
            "record_id": list(rejected),
            "severity": ["record"] * len(rejected),
            "file_type": [None] * len(rejected),
        },
        schema={"record_id": pl.String, "severity": pl.String, "file_type": pl.String},
    )
    return StagedDelivery(
        school_year=year,
        delivery=day.strftime("%Y%m%d"),
        files=tuple(files),
        frames=frames,
        complete={t: mode == "Complet" for t in rows},
        problems=problems,
    )
