"""Writing AAF `ficAlimMENESR` files from frames, fast and byte-for-byte reproducible.

A record is built as one string per row by polars expressions (escaping included), and a
chunk is written as one block: no per-record Python work, so a region's million records
take seconds. Attribute order follows the frame's columns; a null scalar or an empty list
leaves the attribute out of an addRequest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from rentree.infra.naming import FeedType, Mode, feed_file_name

DEFAULT_CHUNK_SIZE = 50_000
HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE ficAlimMENESR SYSTEM "ficAlimMENESR.dtd">\n'
    "<ficAlimMENESR>\n"
)
FOOTER = "</ficAlimMENESR>\n"


@dataclass(frozen=True)
class WrittenFile:
    """One file written: its name, type, mode, extraction date, chunk and record count."""

    name: str
    file_type: FeedType
    mode: Mode
    extraction: date
    chunk: int
    records: int


def escaped(expr: pl.Expr) -> pl.Expr:
    """XML text escaping (what xml.sax.saxutils.escape does), as a polars expression."""
    return (
        expr.str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )


def _values(column: str, dtype: pl.DataType) -> pl.Expr:
    """The `<value>` elements of a column: one for a scalar, one per item for a list."""
    if isinstance(dtype, pl.List):
        return (
            pl.col(column)
            .list.eval(
                pl.concat_str([pl.lit("<value>"), escaped(pl.element()), pl.lit("</value>")])
            )
            .list.join("")
        )
    return pl.concat_str([pl.lit("<value>"), escaped(pl.col(column)), pl.lit("</value>")])


def _present(column: str, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.List):
        return pl.col(column).is_not_null() & (pl.col(column).list.len() > 0)
    return pl.col(column).is_not_null()


def _head(request: str, category: str) -> pl.Expr:
    return pl.concat_str(
        [
            pl.lit(
                f'<{request}>\n<operationalAttributes><attr name="categoriePersonne">'
                f"<value>{category}</value></attr></operationalAttributes>\n<identifier><id>"
            ),
            pl.col("id"),
            pl.lit("</id></identifier>\n"),
        ]
    )


def add_requests(frame: pl.DataFrame, category: str) -> pl.Series:
    """One `addRequest` string per row; `id` is the identifier, other columns attributes."""
    parts: list[pl.Expr] = [_head("addRequest", category), pl.lit("<attributes>\n")]
    for column, dtype in frame.schema.items():
        if column == "id":
            continue
        attr = pl.concat_str(
            [pl.lit(f'<attr name="{column}">'), _values(column, dtype), pl.lit("</attr>\n")]
        )
        parts.append(pl.when(_present(column, dtype)).then(attr).otherwise(pl.lit("")))
    parts.append(pl.lit("</attributes>\n</addRequest>\n"))
    return frame.select(pl.concat_str(parts).alias("record")).to_series()


def modify_requests(frame: pl.DataFrame, category: str) -> pl.Series:
    """One `modifyRequest` per row, replacing every attribute column; an empty list or a
    null replaces with an empty `<value/>` (no value)."""
    parts: list[pl.Expr] = [_head("modifyRequest", category), pl.lit("<modifications>\n")]
    for column, dtype in frame.schema.items():
        if column == "id":
            continue
        values = pl.when(_present(column, dtype)).then(_values(column, dtype))
        parts.append(
            pl.concat_str(
                [
                    pl.lit(f'<modification name="{column}" operation="replace">'),
                    values.otherwise(pl.lit("<value/>")),
                    pl.lit("</modification>\n"),
                ]
            )
        )
    parts.append(pl.lit("</modifications>\n</modifyRequest>\n"))
    return frame.select(pl.concat_str(parts).alias("record")).to_series()


def delete_requests(ids: pl.Series, category: str) -> pl.Series:
    frame = pl.DataFrame({"id": ids})
    return frame.select(
        pl.concat_str([_head("deleteRequest", category), pl.lit("</deleteRequest>\n")])
    ).to_series()


def write_feed(
    folder: Path,
    file_type: FeedType,
    mode: Mode,
    extraction: date,
    records: Sequence[pl.Series],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[WrittenFile]:
    """Write the records (in order) as chunks of at most `chunk_size` records. A feed with
    no record is still written, as one empty chunk: an empty complete file says "nobody"."""
    if chunk_size < 1:
        raise ValueError(f"chunk size {chunk_size} is not usable; give at least 1 record.")
    folder.mkdir(parents=True, exist_ok=True)
    everything = pl.concat(list(records)) if records else pl.Series("record", [], pl.String)
    written: list[WrittenFile] = []
    chunks = max(1, -(-everything.len() // chunk_size))
    for chunk in range(chunks):
        part = everything.slice(chunk * chunk_size, chunk_size)
        name = feed_file_name(file_type, extraction, chunk, mode)
        body = part.str.join("").item() if part.len() else ""
        with open(folder / name, "wb") as out:
            out.write((HEADER + (body or "") + FOOTER).encode("utf-8"))
        written.append(WrittenFile(name, file_type, mode, extraction, chunk, part.len()))
    return written
