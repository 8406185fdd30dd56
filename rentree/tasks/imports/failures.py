"""Deliveries whose apply failed: set aside with the reason, never blocking the others.

An error after a delivery was checked (a database refusal, a bug) rolls its transaction
back; its files, left in landing/, are recorded `failed` with the reason (`set_aside`). The
next runs say it again and go on (`behind_failed`): a later delivery with files of its types
waits behind it (applied first, it would leave the failed one out of order for good). It is
tried again when an operator asks (`retry_failed`) or when its files change.
"""

from __future__ import annotations

import traceback
from datetime import datetime

from sqlalchemy import Connection, Engine

from rentree.infra.db import directory_lock
from rentree.infra.errors import DatabaseError, safe_sentence
from rentree.infra.naming import ledger_hash
from rentree.infra.storage import ObjectStore, sha256_of
from rentree.tasks.imports.outcome import ImportOutcome, Status
from rentree.tasks.intake.landing import Delivery
from rentree.tasks.intake.ledger import (
    applied_hashes,
    failed_deliveries,
    files_frame,
    forget_failed,
    record_feed_files,
)
from rentree.tasks.intake.stage import StagedDelivery


def transient(exc: Exception) -> bool:
    """A lost connection or a lock that never came: not the delivery's fault, the next run
    retries it as it is."""
    return isinstance(exc, DatabaseError) and exc.kind in ("OperationalError", "InterfaceError")


def behind_failed(
    conn: Connection,
    store: ObjectStore,
    landed: Delivery,
    types: tuple[str, ...],
    *,
    retry_failed: bool,
) -> tuple[Status, str] | None:
    """(status, reason) when the delivery stays set aside or waits behind one that is;
    None when it goes on (a set-aside one tried again forgets its `failed` rows)."""
    year, delivery = landed.school_year, landed.delivery
    failed = failed_deliveries(conn, year, landed.academy)
    files = landed.of_types(types)
    own = failed.get(delivery)
    if own is not None:
        hashes = {
            ledger_hash(landed.academy, f.feed.file_type, sha256_of(store, f.key)) for f in files
        }
        if not retry_failed and hashes - applied_hashes(conn, sorted(hashes)) <= own.hashes:
            return "failed", (
                f"The delivery {delivery} of {year} stays set aside: {own.reason} Run the import "
                "with --retry-failed once the cause is fixed, or deliver its files again."
            )
        forget_failed(
            conn, year, delivery, landed.academy
        )  # tried again: asked, or its files changed
    present = {f.feed.file_type for f in files}
    earlier = [f for day, f in sorted(failed.items()) if day < delivery and f.types & present]
    if not earlier:
        return None
    first = earlier[0]
    return "skipped", (
        f"The delivery {delivery} of {year} waits behind the delivery {first.delivery}, set "
        f"aside after a failed apply ({first.reason}): applied first, its "
        f"{', '.join(sorted(first.types & present))} files would leave that one out of order."
    )


def set_aside(
    engine: Engine,
    outcome: ImportOutcome,
    staged: StagedDelivery,
    exc: Exception,
    *,
    run_id: str,
    now: datetime,
) -> ImportOutcome:
    """Record the staged files `failed` with the reason (their transaction rolled back)."""
    reason = f"its apply failed: {safe_sentence(exc)}; nothing of it was applied."
    with engine.begin() as conn:
        directory_lock(conn)
        record_feed_files(
            conn,
            files_frame(((f.feed, f.content_hash) for f in staged.files), staged.academy),
            "failed",
            school_year=outcome.school_year,
            run_id=run_id,
            now=now,
            reason=reason,
        )
    outcome.status = "failed"
    outcome.reason = (
        f"The delivery {outcome.delivery} of {outcome.school_year} is set aside: {reason} "
        "The deliveries that do not depend on it go on; fix the cause, then run the import "
        "with --retry-failed (or deliver its files again)."
    )
    outcome.counts = {}
    outcome.detail = "".join(traceback.format_tb(exc.__traceback__))
    return outcome
