"""Deciding a held delivery: approving applies it (through the import step when the
directory moved since it was held), rejecting quarantines it. A share-purge hold only gets
its decision recorded (the share-purge flow applies it)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
from sqlalchemy import Connection, Engine

from rentree.infra.db import directory_lock
from rentree.infra.naming import (
    FEED_TYPES,
    archive_key,
    ledger_hash,
    parse_feed_name,
    quarantine_key,
    quarantine_prefix,
    reports_prefix,
)
from rentree.infra.reports import write_report, write_text
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore, sha256_of
from rentree.tasks.imports.apply import apply_planned, carry_out, finish_import
from rentree.tasks.imports.completion import committed_delivery, reports_done
from rentree.tasks.imports.outcome import (
    HoldDecision,
    ImportOutcome,
    count_sentence,
    phase_of,
    write_outcome_reports,
)
from rentree.tasks.imports.plan import plan_import
from rentree.tasks.imports.steps import Step, StepListener, no_steps
from rentree.tasks.intake.landing import find_delivery
from rentree.tasks.intake.ledger import files_frame, record_feed_files
from rentree.tasks.intake.routing import move_files
from rentree.tasks.intake.stage import FileMapper
from rentree.tasks.rules.holds import Hold, HoldError, decide_hold, get_hold
from rentree.tasks.sync.apply import directory_fingerprint
from rentree.tasks.sync.changeset import ChangeSet


def approve_hold(
    engine: Engine,
    store: ObjectStore,
    settings: Settings,
    hold_id: str,
    decided_by: str,
    run_id: str,
    now: datetime | None = None,
    today: date | None = None,
    map_files: FileMapper = map,
    steps: StepListener = no_steps,
) -> HoldDecision:
    """Approve a pending hold. A delivery hold applies exactly its stored change set when the
    directory has not moved since; otherwise the delivery goes through the import step again
    (routed, staged, planned), and is held again if still above a threshold. One transaction
    under the directory lock. A share-purge hold only records the approval (the share-purge
    flow applies it). `steps` hears the delivery's steps as they start (`tasks.imports.steps`).
    """
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        hold = get_hold(conn, hold_id)
    if hold.status != "pending":
        raise HoldError(f"The hold {hold_id} was already {hold.status}; nothing to approve.")
    if hold.kind != "delivery":
        with engine.begin() as conn:
            directory_lock(conn)
            return HoldDecision(decide_hold(conn, hold_id, "approved", decided_by, now), None)
    assert hold.delivery is not None and hold.change_set_key is not None
    year, summary = hold.school_year, hold.summary or {}
    academy = summary.get("academy")
    keys = [str(k) for k in summary.get("files", [])]
    missing = [k for k in keys if not store.exists(k)]
    if missing:
        raise HoldError(
            f"The hold {hold_id} cannot be approved: {missing[0]} is no longer in the store; "
            "reject the hold and ask for the delivery again."
        )
    prefix = reports_prefix(
        year, phase_of(summary.get("complete", {}) or FEED_TYPES), run_id, academy
    )
    with engine.begin() as conn:
        directory_lock(conn)
        if directory_fingerprint(conn, year) == hold.fingerprint:
            steps(hold.delivery, Step.APPLY)
            as_held = _apply_as_held(conn, store, hold, keys, decided_by, run_id, now)
            committed_delivery(conn, as_held[1], as_held[0], run_id=run_id, prefix=prefix)
            decided = decide_hold(conn, hold_id, "approved", decided_by, now)
        else:
            # the directory moved: the import step again, then applied (approved) or held
            # again under a new id (superseded)
            as_held = None
            landed = find_delivery(store, year, hold.delivery, academy)
            types = summary.get("types") or sorted(summary.get("complete", {})) or FEED_TYPES
            plan = plan_import(
                conn,
                store,
                settings,
                landed,
                types,
                phase=None,
                run_id=run_id,
                today=today or now.date(),
                schools=summary.get("schools"),
                map_files=map_files,
                waits=False,
                steps=steps,
            )
            steps(hold.delivery, Step.HOLD if plan.hold_reasons else Step.APPLY)
            moves = carry_out(conn, store, plan, run_id=run_id, now=now)
            status = "approved" if plan.outcome.status == "applied" else "superseded"
            decided = decide_hold(conn, hold_id, status, decided_by, now)
    steps(hold.delivery, Step.FINISH)
    if as_held is None:
        outcome = finish_import(engine, store, plan, moves, run_id=run_id)
        steps(hold.delivery, Step.DONE)
        return HoldDecision(decided, outcome)
    outcome, change_set = as_held
    # committed: now the files may move (storage.md); a failure from here on leaves the run
    # applied, and the next run finishes the moves and the reports
    if change_set.file_hashes:
        move_files(store, [(k, archive_key(year, parse_feed_name(k), academy)) for k in keys])
    outcome.report_keys += write_outcome_reports(
        store, prefix, outcome, change_set, change_set.refused
    )
    reports_done(engine, run_id, outcome)
    steps(hold.delivery, Step.DONE)
    return HoldDecision(decided, outcome)


def _apply_as_held(
    conn: Connection,
    store: ObjectStore,
    hold: Hold,
    keys: list[str],
    decided_by: str,
    run_id: str,
    now: datetime,
) -> tuple[ImportOutcome, ChangeSet]:
    """The stored change set applied as it was held (the directory has not moved)."""
    assert hold.delivery is not None and hold.change_set_key is not None
    change_set = ChangeSet.read(store, hold.change_set_key)
    academy = (hold.summary or {}).get("academy")
    given = {ledger_hash(academy, parse_feed_name(k).file_type, sha256_of(store, k)) for k in keys}
    if not set(change_set.file_hashes) <= given:
        raise HoldError(
            f"The files of the hold {hold.hold_id} changed since it was computed; "
            "reject it and let the next run import the new files."
        )
    year = hold.school_year
    outcome = ImportOutcome(
        school_year=year, delivery=hold.delivery, status="applied", reason="", academy=academy
    )
    apply_planned(conn, change_set, outcome, run_id=run_id, now=now)
    outcome.counts_per_school = change_set.counts_per_school()
    outcome.reason = (
        f"The delivery {hold.delivery} of {year} is applied as held "
        f"({hold.hold_id}, approved by {decided_by}): {count_sentence(outcome.counts)}."
    )
    return outcome, change_set


def reject_hold(
    engine: Engine,
    store: ObjectStore,
    hold_id: str,
    decided_by: str,
    run_id: str,
    now: datetime | None = None,
) -> HoldDecision:
    """Reject a pending hold. A delivery's files move to quarantine/ with a report saying who
    rejected it and why it was held (the report written first); nothing of it is applied."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        hold = get_hold(conn, hold_id)
    if hold.kind != "delivery":
        with engine.begin() as conn:
            directory_lock(conn)
            return HoldDecision(decide_hold(conn, hold_id, "rejected", decided_by, now), None)
    assert hold.delivery is not None
    year = hold.school_year
    academy = (hold.summary or {}).get("academy")
    keys = [str(k) for k in (hold.summary or {}).get("files", []) if store.exists(str(k))]
    feeds = [parse_feed_name(k) for k in keys]
    reason = (
        f"Rejected by {decided_by} on {now:%Y-%m-%d %H:%M} UTC (hold {hold_id}); it was held "
        f"because: {hold.reason}"
    )
    files = files_frame(
        (
            (feed, ledger_hash(academy, feed.file_type, sha256_of(store, key)))
            for key, feed in zip(keys, feeds, strict=True)
        ),
        academy,
    )
    target = quarantine_prefix(year, hold.delivery, academy)
    report = write_report(
        store,
        target,
        "rejection",
        files.select(
            pl.col("file_name").alias("file"),
            "file_type",
            pl.lit(hold_id).alias("hold_id"),
            pl.lit(decided_by).alias("rejected_by"),
            pl.lit(now.isoformat()).alias("rejected_at"),
            pl.lit(reason).alias("reason"),
        ),
    )
    write_text(store, target, "rejection.txt", reason + "\n")
    # storage.md's order for a rejection: the report above first, then the moves, then the
    # commit; a run stopped in between leaves files that the next import records
    # (`complete_quarantines`), never a quarantined file without its report
    move_files(
        store, [(k, quarantine_key(year, f, academy)) for k, f in zip(keys, feeds, strict=True)]
    )
    with engine.begin() as conn:
        directory_lock(conn)
        decided = decide_hold(conn, hold_id, "rejected", decided_by, now)
        record_feed_files(
            conn,
            files,
            "quarantined",
            school_year=year,
            run_id=run_id,
            now=now,
            held_rule="rejected",
            reason=reason,
        )
    outcome = ImportOutcome(
        school_year=year,
        delivery=hold.delivery,
        status="quarantined",
        reason=f"The delivery {hold.delivery} of {year} is in {target}: {reason}",
        report_keys=[report.csv_key, report.parquet_key],
        hold_id=hold_id,
        academy=academy,
    )
    return HoldDecision(decided, outcome)
