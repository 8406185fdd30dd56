"""What a feed type's last full apply left behind, so that a Complet delivered again with
the same records costs its staging and no more.

After a delivery is applied whole (every record accepted, no schools filter), each of its
feed types gets a `feed_states` row: the number of validated records, a digest of them and
the directory fingerprint right after the apply. A later Complet of that type whose records
give the same digest, onto a directory whose fingerprint has not moved since, would plan an
empty change set: `plan_delivery` returns it without reading the directory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, delete, insert, select

from rentree.infra.schema import feed_states
from rentree.tasks.sync.apply import directory_fingerprint

# Where a record lies in its file is not what it says: the same records re-extracted into
# other files, in another order, are the same delivery.
_PLACE_COLUMNS = ("file", "position", "line")


def records_digest(frame: pl.DataFrame) -> str:
    """sha256 over the sorted 64-bit hashes of the records (order-independent); the columns,
    their types and the polars version are part of it, so that a new hashing never matches."""
    content = frame.drop([c for c in _PLACE_COLUMNS if c in frame.columns])
    digest = hashlib.sha256(f"polars {pl.__version__}; {content.schema}".encode())
    digest.update(content.hash_rows(seed=0).sort().to_numpy().tobytes())
    return digest.hexdigest()


def unchanged_delivery(
    conn: Connection,
    school_year: str,
    frames: Mapping[str, pl.DataFrame],
    complete: Mapping[str, bool],
    fingerprint: str,
) -> bool:
    """True when every feed type of the delivery is a Complet holding exactly the records of
    that type's last full apply, and the directory has not moved since (its fingerprint)."""
    if not frames or not all(complete.get(t) for t in frames):
        return False
    states = {
        row.file_type: row
        for row in conn.execute(
            select(feed_states).where(
                feed_states.c.school_year == school_year,
                feed_states.c.file_type.in_(list(frames)),
            )
        )
    }
    for file_type, frame in frames.items():
        state = states.get(file_type)
        if state is None or state.fingerprint != fingerprint or state.records != frame.height:
            return False
        if state.digest != records_digest(frame):
            return False
    return True


def record_feed_states(
    conn: Connection,
    school_year: str,
    frames: Mapping[str, pl.DataFrame],
    rejected: Collection[str],
    run_id: str,
    now: datetime,
) -> None:
    """Keep each applied type's digest with the directory fingerprint after the apply (in the
    caller's transaction, after everything the apply writes). A delivery with rejected
    records is not a full state of its types: their rows are removed instead."""
    types = list(frames)
    conn.execute(
        delete(feed_states).where(
            feed_states.c.school_year == school_year, feed_states.c.file_type.in_(types)
        )
    )
    if rejected or not types:
        return
    fingerprint = directory_fingerprint(conn, school_year)
    conn.execute(
        insert(feed_states),
        [
            {
                "school_year": school_year,
                "file_type": file_type,
                "records": frame.height,
                "digest": records_digest(frame),
                "fingerprint": fingerprint,
                "run_id": run_id,
                "recorded_at": now,
            }
            for file_type, frame in frames.items()
        ],
    )
