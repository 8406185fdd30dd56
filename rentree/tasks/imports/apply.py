"""Carrying out a delivery's plan: the effect step a dry run skips.

`carry_out` writes, in the caller's transaction under the directory lock: the held types'
`feed_files` rows, a quarantine (its report, its files moved, then its rows: storage.md's
order for a rejection), a hold (its change set in the store), or the change set with what
follows it (pending teacher attachments R10, late-entry watch R12). Once the caller has
committed, `finish_import` moves the other files (held/, archive/) and writes the run's
reports, so a failure before the commit leaves the directory and the files as they were, and
one after it leaves the delivery applied, the run recorded `applied` in the apply's own
transaction (`tasks.imports.completion`), for the next run to finish. A dry run
writes the run's reports only: landing/, quarantine/ and the database stay untouched.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlalchemy import Connection, Engine, delete

from rentree.infra.errors import safe_sentence
from rentree.infra.naming import archive_key, not_used_archive_key
from rentree.infra.reports import write_report
from rentree.infra.schema import feed_files
from rentree.infra.storage import ObjectStore
from rentree.tasks.imports.completion import committed_delivery, reports_done
from rentree.tasks.imports.outcome import (
    ImportOutcome,
    count_sentence,
    refusal_sentence,
    write_outcome_reports,
)
from rentree.tasks.imports.plan import DeliveryPlan
from rentree.tasks.intake.routing import hold_files, move_files
from rentree.tasks.intake.stage import quarantine_delivery
from rentree.tasks.intake.validate import write_validation_report
from rentree.tasks.rules.attachments.on_arrival import apply_pending_attachments
from rentree.tasks.rules.holds import create_hold
from rentree.tasks.rules.late_entries import late_entry_watch, open_late_entries
from rentree.tasks.rules.years import FAMILY_TYPES, advance_phase, ensure_year, rolls_over
from rentree.tasks.sync.apply import apply_change_set, directory_fingerprint
from rentree.tasks.sync.change_log import last_change_id
from rentree.tasks.sync.changeset import ChangeSet
from rentree.tasks.sync.plan import rejected_from
from rentree.tasks.sync.records import record_feed_states

# the feed types whose records can change the late-entry watch (R12)
WATCHED_TYPES = frozenset({"Eleve", "EtabEducNat"})


def carry_out(
    conn: Connection, store: ObjectStore, plan: DeliveryPlan, *, run_id: str, now: datetime
) -> list[tuple[str, str]]:
    """Write what the plan decided (the caller commits); returns the file moves to make
    once committed."""
    outcome, year, delivery = plan.outcome, plan.landed.school_year, plan.landed.delivery
    moves: list[tuple[str, str]] = []
    if plan.route.held:
        outcome.held_files, moves = hold_files(
            conn, store, plan.route, run_id, now, landed=plan.landed
        )
    if plan.quarantined is not None:
        plan.quarantined = quarantine_delivery(
            conn, store, plan.quarantined, run_id=run_id, now=now
        )
    elif plan.change_set is not None and plan.hold_reasons:
        outcome.hold_id = create_hold(
            conn,
            store,
            kind="delivery",
            school_year=year,
            reason=" ".join(plan.hold_reasons),
            summary={
                **plan.change_set.summary(),
                "reasons": plan.hold_reasons,
                "files": [f.key for f in plan.applied_files],
                "types": list(plan.route.apply_types),
                "schools": plan.schools,
                "academy": plan.landed.academy,
            },
            run_id=run_id,
            now=now,
            delivery=delivery,
            change_set=plan.change_set,
            # a Delta's plan leaves it to its hold (in this transaction) to take it
            fingerprint=plan.change_set.fingerprint or directory_fingerprint(conn, year),
        )
        outcome.reason = (
            f"The delivery {delivery} of {year} is held ({outcome.hold_id}): "
            + " ".join(plan.hold_reasons)
            + " Approve or reject it."
        )
    elif plan.change_set is not None:
        change_set = plan.change_set
        apply_planned(conn, change_set, outcome, run_id=run_id, now=now)
        if plan.schools is None and plan.staged is not None:
            # records refused by the plan (R1) count as rejected: not a full state
            rejected = rejected_from(plan.staged.problems)
            if change_set.refused.height:
                rejected += rejected_from(change_set.refused)
            record_feed_states(conn, year, plan.staged.frames, rejected, run_id, now)
        outcome.reason = (
            f"The delivery {delivery} of {year} is applied: {count_sentence(outcome.counts)}."
            + refusal_sentence(change_set)
        )
    academy = plan.landed.academy
    moves += [(f.key, archive_key(year, f.feed, academy)) for f in plan.archive]
    if plan.archive and plan.staged is not None and plan.staged.not_used:
        # files of other AAF types and the DTD copy go to the archive with the delivery
        moves += [
            (k, not_used_archive_key(year, delivery, k, academy)) for k in plan.staged.not_used
        ]
        outcome.reason = f"{outcome.reason} {plan.staged.note}"
    if outcome.status == "applied" and plan.change_set is not None:
        # in this transaction: a kill or a failure after the commit leaves the run applied
        committed_delivery(conn, plan.change_set, outcome, run_id=run_id, prefix=plan.prefix)
    elif outcome.status == "already_applied" and plan.archive:
        outcome.reason = (
            f"{outcome.reason} Its files were still in landing/ (the run that applied it "
            "stopped before moving them): they go to archive/ now."
        )
    return moves


def apply_planned(
    conn: Connection, change_set: ChangeSet, outcome: ImportOutcome, *, run_id: str, now: datetime
) -> None:
    """Apply a change set and what follows it, in the caller's transaction."""
    year = change_set.school_year
    ensure_year(conn, year)
    if change_set.file_hashes:
        # a file held or quarantined before (released, or sent again) is recorded anew
        conn.execute(
            delete(feed_files).where(
                feed_files.c.content_hash.in_(list(change_set.file_hashes)),
                feed_files.c.status != "applied",
            )
        )
    outcome.logged_after = last_change_id(conn)
    outcome.counts = apply_change_set(conn, change_set, run_id, now)
    types = set(change_set.complete)
    if rolls_over(conn, year):
        if "PersEducNat" in types:
            advance_phase(conn, year, "staff-import")
        if types & set(FAMILY_TYPES):
            advance_phase(conn, year, "family-import")
    attachments = apply_pending_attachments(conn, year, run_id, now)
    outcome.attachments = attachments.counts()
    # R12 follows the pupils and the schools: a staff or relatives delivery moves neither,
    # and watching would read the year's class links for nothing (a region's 562,000)
    if types & WATCHED_TYPES:
        outcome.late_entries = late_entry_watch(conn, year, now).height
    else:
        outcome.late_entries = open_late_entries(conn, year).height


def finish_import(
    engine: Engine,
    store: ObjectStore,
    plan: DeliveryPlan,
    moves: list[tuple[str, str]] | None,
    *,
    run_id: str,
) -> ImportOutcome:
    """After the commit: the files moved (`moves`; None for a dry run, which moves nothing),
    then the run's reports. A failure here leaves the delivery applied: the next run moves
    the files left behind and writes the reports not written (`tasks.imports.completion`)."""
    outcome, delivery = plan.outcome, plan.landed.delivery
    if moves is None:
        _dry_run(store, plan)
    else:
        try:
            move_files(store, moves)
        except Exception as exc:
            # committed: still applied; the files are known by their hash and a later run
            # moves them (archive/) or releases them (held/)
            outcome.reason = (
                f"{outcome.reason} Its files are not all moved yet ({safe_sentence(exc)}); "
                "the next run moves them."
            )
    if plan.route.held and plan.route.apply_types:
        outcome.reason = f"{outcome.reason} Also: {plan.route.reason}"
    try:
        if outcome.held_files.height:
            written = write_report(store, plan.prefix, f"held_files_{delivery}", outcome.held_files)
            outcome.report_keys += [written.csv_key, written.parquet_key]
        if plan.change_set is not None:
            outcome.report_keys += write_outcome_reports(
                store, plan.prefix, outcome, plan.change_set, plan.problems
            )
    except Exception as exc:
        outcome.reason = (
            f"{outcome.reason} Its reports could not all be written ({safe_sentence(exc)}); "
            "the next run writes them."
        )
    else:
        if moves is not None and outcome.status == "applied" and plan.change_set is not None:
            reports_done(engine, run_id, outcome)
    return outcome


def _dry_run(store: ObjectStore, plan: DeliveryPlan) -> None:
    """What a dry run says it would have done; a quarantine's report goes to the run's
    reports, not beside files that did not move."""
    outcome, year, delivery = plan.outcome, plan.landed.school_year, plan.landed.delivery
    if plan.route.held:
        outcome.held_files = pl.DataFrame(
            [
                {"file_type": h.file_type, "rule": h.rule, "reason": h.reason}
                for h in plan.route.held
            ]
        )
    if plan.quarantined is not None:
        report = write_validation_report(
            store, plan.prefix, plan.quarantined.report_rows, f"validation-report_{delivery}"
        )
        outcome.report_keys = [report.csv_key, report.parquet_key]
        outcome.reason = (
            f"Dry run, nothing moved: the delivery {delivery} of {year} would be quarantined "
            f"({store.link(report.csv_key)}): {plan.quarantined.why}"
        )
    elif plan.change_set is not None:
        outcome.status = "dry_run"
        if plan.hold_reasons:
            outcome.reason = f"Dry run: {outcome.reason}"
        else:
            outcome.reason = (
                f"Dry run: the delivery {delivery} of {year} would apply "
                f"{count_sentence(outcome.counts)}; nothing was committed."
            )
