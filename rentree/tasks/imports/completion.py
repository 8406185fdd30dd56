"""After the commit: what a run that applied a delivery still owes, and who finishes it.

A delivery's apply records its run `applied` in the same transaction
(`committed_delivery` -> `infra.runs.record_committed`). Once committed, the run moves the
files (landing/ -> archive/) and writes the reports, then says so (`reports_done`). A run
killed or failing in between stays `applied`; the next import finishes for it: its files
left in landing/ are found by their ledger rows (the delivery is `already_applied`) and
moved to archive/ by the write-once rules, and its missing reports are written here from
what the database holds (`complete_reports`: the outcome and change-set summary recorded
with the run, the run's change log).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, String, cast, select

from rentree.infra.frames import select_frame
from rentree.infra.naming import change_set_summary_key
from rentree.infra.reports import write_report, write_text
from rentree.infra.runs import mark_reported, record_committed, unreported
from rentree.infra.schema import change_log, feed_files
from rentree.infra.storage import ObjectStore
from rentree.tasks.imports.outcome import ImportOutcome
from rentree.tasks.intake.ledger import of_academy
from rentree.tasks.sync.change_log import last_change_id
from rentree.tasks.sync.changeset import ChangeSet

CHANGE_LOG_REPORT = "change_log"


def committed_delivery(
    conn: Connection,
    change_set: ChangeSet,
    outcome: ImportOutcome,
    *,
    run_id: str,
    prefix: str,
) -> None:
    """Record, in the apply's transaction, that the run applied this delivery."""
    record_committed(
        conn,
        run_id,
        {
            "school_year": outcome.school_year,
            "academy": outcome.academy,
            "delivery": outcome.delivery,
            "counts": outcome.counts,
            "change_set": change_set.summary(),
            "reports": prefix,
            "reason": outcome.reason,
            # the run's change log rows of this delivery lie in this span of change ids
            "change_log_span": [outcome.logged_after, last_change_id(conn)]
            if outcome.logged_after is not None
            else None,
        },
    )


def reports_done(engine: Engine, run_id: str, outcome: ImportOutcome) -> None:
    """The run wrote the reports of the delivery it committed."""
    with engine.begin() as conn:
        mark_reported(conn, run_id, outcome.school_year, outcome.academy, outcome.delivery)


def complete_reports(
    engine: Engine, store: ObjectStore, school_year: str, academy: str | None, *, now: datetime
) -> list[str]:
    """Write the reports that the runs which applied the year's deliveries did not write;
    one sentence per delivery (a store still failing is said, and tried again next run)."""
    with engine.connect() as conn:
        run_ids = list(
            conn.scalars(
                select(feed_files.c.run_id)
                .distinct()
                .where(
                    feed_files.c.school_year == school_year,
                    feed_files.c.status == "applied",
                    feed_files.c.run_id.is_not(None),
                    of_academy(academy),
                )
            )
        )
        owed = unreported(conn, run_ids, school_year, academy)
        logs = {
            run_id: _change_log(conn, run_id, [e for r, e in owed if r == run_id])
            for run_id in {r for r, _ in owed}
        }
    notes: list[str] = []
    for run_id, entry in owed:
        delivery, prefix = str(entry["delivery"]), str(entry["reports"])
        try:
            _write(store, prefix, entry, logs[run_id], now)
        except Exception:
            notes.append(
                f"The reports of the delivery {delivery} of {school_year}, applied by the run "
                f"{run_id}, could still not be written to {prefix}; the next run tries again."
            )
            continue
        with engine.begin() as conn:
            mark_reported(conn, run_id, school_year, academy, delivery)
        notes.append(
            f"The delivery {delivery} of {school_year} was applied by the run {run_id}, which "
            f"stopped before writing its reports: they are written now in {prefix} from the "
            "directory's change log."
        )
    return notes


def _change_log(conn: Connection, run_id: str, entries: list[dict[str, Any]]) -> pl.DataFrame:
    """The run's change log rows (no activation code is ever logged), JSON as the text it was
    written as. Read within the spans of change ids its commits recorded (the log has no
    index on the run id); a commit recorded without one (before revision 0007) reads the
    whole log."""
    log = change_log.c
    spans: list[list[int]] = [e["change_log_span"] for e in entries if e.get("change_log_span")]
    where = [log.run_id == run_id]
    if entries and len(spans) == len(entries):
        where += [
            log.change_id > min(int(s[0]) for s in spans),
            log.change_id <= max(int(s[1]) for s in spans),
        ]
    query = (
        select(
            log.at,
            log.entity,
            log.entity_id,
            log.operation,
            cast(log.before, String).label("before"),
            cast(log.after, String).label("after"),
        )
        .where(*where)
        .order_by(log.change_id)
    )
    text = {c: pl.String for c in ("entity", "entity_id", "operation", "before", "after")}
    rows = select_frame(conn, query, {"at": pl.Datetime("us", "UTC"), **text})
    return rows.with_columns(pl.col("at").dt.strftime("%Y-%m-%dT%H:%M:%S%.f%:z"))


def _write(
    store: ObjectStore, prefix: str, entry: dict[str, Any], log: pl.DataFrame, now: datetime
) -> None:
    """The run's change log, the delivery's change-set summary, then its outcome (last: its
    presence says the others are there)."""
    delivery = str(entry["delivery"])
    write_report(store, prefix, CHANGE_LOG_REPORT, log)
    summary = json.dumps(entry.get("change_set") or {}, indent=2, default=str)
    store.write_bytes(change_set_summary_key(f"{prefix}change_set_{delivery}/"), summary.encode())
    reason = str(entry.get("reason") or f"The delivery {delivery} was applied.")
    write_text(
        store,
        prefix,
        f"outcome_{delivery}.txt",
        f"{reason}\nThese reports were written on {now:%Y-%m-%d %H:%M} UTC by a later run, "
        "from the directory's change log: the run that applied the delivery stopped first.\n",
    )
