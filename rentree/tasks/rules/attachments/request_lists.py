"""Teacher attachment requests (R10) as operators give them, and the reports of their outcome:
the one reading of a request list and the one writing of its reports, for the
`attach-teachers` flow and `rentree attach-teachers` alike."""

from __future__ import annotations

import hashlib
import io

import polars as pl

from rentree.infra.naming import request_list_key
from rentree.infra.reports import write_report
from rentree.infra.settings import ATTACH_REQUESTS_MAX_ROWS
from rentree.infra.storage import ObjectStore
from rentree.tasks.rules.attachments.decide import AttachmentResult

REQUEST_COLUMNS = ("teacher_external_id", "class_external_id")
# Two ids and a separator: a line longer than this on average is not a request list.
_MAX_LINE_BYTES = 256


class RequestFileError(ValueError):
    """A request list that cannot be read; the message is one sentence."""


def read_requests(
    data: bytes, where: str, max_rows: int = ATTACH_REQUESTS_MAX_ROWS
) -> pl.DataFrame:
    """The request list: header `teacher_external_id,class_external_id`, `,` or `;`; at most
    `max_rows` requests (RENTREE_ATTACH_REQUESTS_MAX_ROWS), counted before anything is parsed."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - 1
    if lines > max_rows or len(data) > max_rows * _MAX_LINE_BYTES:
        raise RequestFileError(
            f"{where} holds {max(lines, 0):,} requests ({len(data):,} bytes), more than the "
            f"{max_rows:,} that RENTREE_ATTACH_REQUESTS_MAX_ROWS allows; split the list, or "
            "raise the limit if that many classes really exist."
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestFileError(
            f"{where} is not UTF-8 text; save it as UTF-8 CSV and try again."
        ) from None
    header = data.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    separator = ";" if header.count(b";") > header.count(b",") else ","
    try:
        frame = pl.read_csv(io.BytesIO(data), separator=separator, infer_schema=False)
    except pl.exceptions.PolarsError:
        # the library's own text (hints, internal names) means nothing to an operator
        raise RequestFileError(
            f"{where} cannot be read as CSV: each line must hold a teacher id and a class id "
            "separated by `,` or `;`, under the header teacher_external_id,class_external_id; "
            "fix the file."
        ) from None
    missing = [c for c in REQUEST_COLUMNS if c not in frame.columns]
    if missing:
        raise RequestFileError(
            f"{where} has no column {', '.join(missing)}; the header must be "
            "teacher_external_id,class_external_id."
        )
    return frame.select(REQUEST_COLUMNS)


def store_requests(
    store: ObjectStore,
    data: bytes,
    where: str,
    year: str | None,
    flow: str,
    max_rows: int = ATTACH_REQUESTS_MAX_ROWS,
) -> str:
    """Check a request list and put it in the store; the flow gets its key (`requests_key`),
    whatever its size."""
    read_requests(data, where, max_rows)
    key = request_list_key(year, flow, hashlib.sha256(data).hexdigest())
    store.write_bytes(key, data)
    return key


def no_requests() -> pl.DataFrame:
    return pl.DataFrame(schema=dict.fromkeys(REQUEST_COLUMNS, pl.String))


def write_attachment_reports(
    store: ObjectStore, prefix: str, result: AttachmentResult
) -> list[str]:
    """`attached` and `not_attached` (kept pending or refused, with why), CSV and Parquet."""
    written = [
        write_report(store, prefix, "attached", result.attached),
        write_report(store, prefix, "not_attached", result.not_attached()),
    ]
    return [k for w in written for k in (w.csv_key, w.parquet_key)]
