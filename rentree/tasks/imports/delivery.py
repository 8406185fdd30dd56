"""Importing a delivery into the directory of a school year, and deciding held deliveries.

`import_delivery`: route (R7, R9, freeze, order) -> stage (read and validate) -> plan (the
change set) -> schools filter -> hold thresholds -> dry run or apply. Applying is ONE
transaction under the directory lock (change set, pending teacher attachments R10,
late-entry watch R12); the files move to `archive/` only after it is committed, so a failure
anywhere leaves the directory and the files as they were.

A run for some schools only (manual re-runs after late ONDE entries) applies only the rows
of those schools, marks nobody missing outside them, and leaves the files in `landing/`
unrecorded: the next full run applies the rest (and changes nothing in those schools).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import polars as pl
from sqlalchemy import Connection, Engine, delete

from rentree.infra.db import directory_lock
from rentree.infra.naming import (
    FEED_TYPES,
    FeedName,
    FeedNameError,
    archive_key,
    check_school_year,
    landing_prefix,
    not_used_archive_key,
    parse_feed_name,
    quarantine_key,
    quarantine_prefix,
    reports_prefix,
)
from rentree.infra.reports import write_report, write_text
from rentree.infra.schema import feed_files
from rentree.infra.settings import Settings
from rentree.infra.storage import ObjectStore, sha256_of
from rentree.tasks.intake.ledger import files_frame, record_feed_files
from rentree.tasks.intake.routing import (
    delivery_files,
    hold_files,
    move_files,
    release_held,
    route_delivery,
)
from rentree.tasks.intake.stage import (
    AlreadyApplied,
    FileMapper,
    Quarantined,
    StagedDelivery,
    StageError,
    complete_quarantines,
    set_aside_not_regular,
    stage_delivery,
)
from rentree.tasks.rules.attachments import apply_pending_attachments
from rentree.tasks.rules.holds import (
    Hold,
    HoldError,
    create_hold,
    decide_hold,
    evaluate_holds,
    get_hold,
    pending_holds,
)
from rentree.tasks.rules.late_entries import late_entry_watch
from rentree.tasks.rules.years import FAMILY_TYPES, advance_phase, ensure_year, rolls_over
from rentree.tasks.sync.apply import apply_change_set, directory_fingerprint
from rentree.tasks.sync.changeset import ChangeSet
from rentree.tasks.sync.plan import plan_delivery, rejected_from
from rentree.tasks.sync.records import record_feed_states

Status = Literal["applied", "held", "quarantined", "skipped", "already_applied", "dry_run"]
STAFF_TYPES: tuple[str, ...] = ("PersEducNat",)
FAMILY_IMPORT_TYPES: tuple[str, ...] = ("EtabEducNat", "Eleve", "PersRelEleve")


def with_structures(phase_types: Collection[str]) -> tuple[str, ...]:
    """The types to apply from the deliveries a phase picks: a staff delivery's own
    EtabEducNat files go with it, so that staff are attached to a school that is new to the
    directory (the first year, a school opening) instead of losing that link."""
    return tuple(dict.fromkeys(["EtabEducNat", *phase_types]))


@dataclass
class ImportOutcome:
    """What became of one delivery, for flows, the CLI and reports."""

    school_year: str
    delivery: str
    status: Status
    reason: str
    counts: dict[str, int] = field(default_factory=dict)
    counts_per_school: pl.DataFrame = field(default_factory=pl.DataFrame)
    report_keys: list[str] = field(default_factory=list)
    hold_id: str | None = None
    held_files: pl.DataFrame = field(default_factory=pl.DataFrame)
    attachments: dict[str, int] = field(default_factory=dict)
    late_entries: int = 0

    def summary(self) -> dict[str, Any]:
        """JSON-able, for the `runs` row and the flow's artifacts."""
        return {
            "school_year": self.school_year,
            "delivery": self.delivery,
            "status": self.status,
            "reason": self.reason,
            "counts": dict(self.counts),
            "schools": self.counts_per_school.height,
            "hold_id": self.hold_id,
            "held_files": self.held_files.height,
            "attachments": dict(self.attachments),
            "late_entries": self.late_entries,
            "reports": list(self.report_keys),
        }


@dataclass(frozen=True)
class HoldDecision:
    hold: Hold
    outcome: ImportOutcome | None  # the delivery's import, for delivery holds


def phase_of(types: Collection[str]) -> str:
    people = set(types) - {"EtabEducNat"}
    return "staff-import" if people and people <= set(STAFF_TYPES) else "family-import"


def landing_deliveries(store: ObjectStore, year: str, types: Collection[str]) -> list[str]:
    """The landing deliveries (YYYYMMDD) with a file of one of `types`, oldest first."""
    found: set[str] = set()
    for key in store.list(landing_prefix(year)):
        try:
            feed = parse_feed_name(key)
        except FeedNameError:
            continue
        if feed.file_type in types:
            found.add(feed.delivery)
    return sorted(found)


# -- import ---------------------------------------------------------------------------------


def import_delivery(
    engine: Engine,
    store: ObjectStore,
    settings: Settings,
    year: str,
    delivery: str,
    *,
    run_id: str,
    dry_run: bool = False,
    schools: Collection[str] | None = None,
    today: date | None = None,
    types: Collection[str] | None = None,
    phase: str | None = None,
    now: datetime | None = None,
    map_files: FileMapper = map,
    approving: Hold | None = None,
) -> ImportOutcome:
    """Import one landing delivery of a school year (all its types, or only `types`).

    `map_files` runs the file checks of the stage step (a flow passes its task runner's map).
    `approving` is the hold `approve_hold` re-plans under: it does not block the delivery, and
    it is decided (approved, or superseded by a new hold) in the same transaction.
    """
    check_school_year(year)
    now = now or datetime.now(UTC)
    today = today or now.date()
    wanted = set(types) if types is not None else set(FEED_TYPES)
    files = delivery_files(store, landing_prefix(year), delivery)
    present = sorted({feed.file_type for _, feed in files} & wanted)
    phase = phase or phase_of(present or wanted)
    prefix = reports_prefix(year, phase, run_id)
    outcome = ImportOutcome(school_year=year, delivery=delivery, status="skipped", reason="")
    if not present:
        outcome.reason = (
            f"No landing file of {', '.join(sorted(wanted))} for the delivery {delivery} of "
            f"{year}: nothing to import."
        )
        return outcome

    # 1. routing: held types are recorded (committed) then moved to held/
    with engine.begin() as conn:
        directory_lock(conn)
        route = route_delivery(conn, store, year, delivery, present)
        moves: list[tuple[str, str]] = []
        if route.held and not dry_run:
            outcome.held_files, moves = hold_files(conn, store, route, run_id, now)
        elif route.held:
            outcome.held_files = pl.DataFrame(
                [{"file_type": h.file_type, "rule": h.rule, "reason": h.reason} for h in route.held]
            )
    move_files(store, moves)
    if outcome.held_files.height:
        written = write_report(store, prefix, f"held_files_{delivery}", outcome.held_files)
        outcome.report_keys += [written.csv_key, written.parquet_key]
    if not route.apply_types:
        outcome.status = "held"
        outcome.reason = route.reason or "Held."
        return outcome

    # 2. a delivery waiting for an operator's decision blocks itself and later ones
    with engine.connect() as conn:
        blocking = [
            h
            for h in pending_holds(conn, year, kind="delivery")
            if (approving is None or h.hold_id != approving.hold_id)
            and (h.delivery or "") <= delivery
            and set((h.summary or {}).get("complete", {}) or route.apply_types)
            & set(route.apply_types)
        ]
    if blocking:
        first = blocking[0]
        same = first.delivery == delivery
        outcome.status = "held" if same else "skipped"
        outcome.hold_id = first.hold_id
        outcome.reason = (
            f"The delivery {delivery} of {year} waits for an operator's decision on the hold "
            f"{first.hold_id}."
            if same
            else f"The delivery {delivery} of {year} waits: the earlier delivery "
            f"{first.delivery} is held ({first.hold_id}) and deliveries apply in "
            "extraction-date order."
        )
        return outcome

    # the delivery's files of the applied types: staged, or applied before (same bytes)
    delivery_keys = [
        (key, feed)
        for key, feed in delivery_files(store, landing_prefix(year), delivery)
        if feed.file_type in route.apply_types
    ]
    # 3. stage, plan, hold or apply: one transaction under the directory lock
    applied_keys: list[tuple[str, FeedName]] = []
    not_used: tuple[str, ...] = ()
    note = ""
    change_set: ChangeSet | None = None
    problems = pl.DataFrame()
    with engine.connect() as conn, conn.begin() as transaction:
        directory_lock(conn)
        staged = _stage(conn, store, year, delivery, settings, route.apply_types, run_id, map_files)
        if not isinstance(staged, StagedDelivery):
            status, reason, keys = staged
            outcome.status = status
            outcome.reason = reason
            outcome.report_keys += keys
            # a quarantine is committed even in a dry run: its files have moved already
            if status == "already_applied" and not dry_run and schools is None:
                applied_keys = delivery_keys
        else:
            not_used, note = staged.not_used, staged.note
            school_list = sorted(set(schools)) if schools is not None else None
            change_set = plan_delivery(conn, staged, today=today, schools=school_list)
            problems = pl.concat([staged.problems, change_set.refused], how="diagonal_relaxed")
            if school_list is not None:
                change_set = restrict_to_schools(change_set, school_list)
            outcome.counts = change_set.counts()
            outcome.counts_per_school = change_set.counts_per_school()
            reasons = evaluate_holds(conn, change_set, settings)
            if reasons and not dry_run:
                outcome.hold_id = create_hold(
                    conn,
                    store,
                    kind="delivery",
                    school_year=year,
                    reason=" ".join(reasons),
                    summary={
                        **change_set.summary(),
                        "reasons": reasons,
                        "files": [key for key, _ in delivery_keys],
                        "types": list(route.apply_types),
                        "schools": school_list,
                    },
                    run_id=run_id,
                    now=now,
                    delivery=delivery,
                    change_set=change_set,
                )
                if approving is not None:
                    decide_hold(conn, approving.hold_id, "superseded", approving_by(approving), now)
                outcome.status = "held"
                outcome.reason = (
                    f"The delivery {delivery} of {year} is held ({outcome.hold_id}): "
                    + " ".join(reasons)
                    + " Approve or reject it."
                )
            elif reasons:
                transaction.rollback()
                outcome.status = "dry_run"
                outcome.reason = (
                    f"Dry run: the delivery {delivery} of {year} would be held: "
                    + " ".join(reasons)
                )
            else:
                _apply(conn, change_set, outcome, run_id=run_id, now=now)
                if school_list is None:
                    # records refused by the plan (R1) count as rejected: not a full state
                    rejected = rejected_from(staged.problems)
                    if change_set.refused.height:
                        rejected += rejected_from(change_set.refused)
                    record_feed_states(conn, year, staged.frames, rejected, run_id, now)
                if approving is not None:
                    decide_hold(conn, approving.hold_id, "approved", approving_by(approving), now)
                if dry_run:
                    transaction.rollback()
                    outcome.status = "dry_run"
                    outcome.reason = (
                        f"Dry run: the delivery {delivery} of {year} would apply "
                        f"{_count_sentence(outcome.counts)}; nothing was committed."
                    )
                else:
                    outcome.status = "applied"
                    outcome.reason = (
                        f"The delivery {delivery} of {year} is applied: "
                        f"{_count_sentence(outcome.counts)}." + _refusal_sentence(change_set)
                    )
                    if school_list is None:
                        applied_keys = delivery_keys
    # committed: now the files may move (storage.md)
    move_files(store, [(key, archive_key(year, feed)) for key, feed in applied_keys])
    if applied_keys and not_used:
        # files of other AAF types and the DTD copy go to the archive with the delivery
        move_files(store, [(key, not_used_archive_key(year, delivery, key)) for key in not_used])
        outcome.reason = f"{outcome.reason} {note}"
    if route.held:
        outcome.reason = f"{outcome.reason} Also: {route.reason}"
    if change_set is not None:
        outcome.report_keys += _write_reports(store, prefix, outcome, change_set, problems)
    return outcome


def approving_by(hold: Hold) -> str:
    return hold.decided_by or "operator"


def _stage(
    conn: Connection,
    store: ObjectStore,
    year: str,
    delivery: str,
    settings: Settings,
    types: Sequence[str],
    run_id: str,
    map_files: FileMapper,
) -> StagedDelivery | tuple[Status, str, list[str]]:
    """Stage the delivery and keep its files of `types`; anything else is (status, reason,
    report keys)."""
    try:
        staged = stage_delivery(
            conn, store, year, delivery, settings, run_id=run_id, map_files=map_files, types=types
        )
    except StageError as exc:
        return "skipped", str(exc), []
    if isinstance(staged, Quarantined):
        return "quarantined", staged.sentence, [staged.report.csv_key, staged.report.parquet_key]
    if isinstance(staged, AlreadyApplied):
        return (
            "already_applied",
            f"Every file of the delivery {delivery} of {year} was applied before: nothing to do.",
            [],
        )
    wanted = set(types)
    files = tuple(f for f in staged.files if f.feed.file_type in wanted)
    if not files:
        return (
            "already_applied",
            f"Every {', '.join(sorted(wanted))} file of the delivery {delivery} of {year} was "
            "applied before: nothing to do.",
            [],
        )
    return dataclasses.replace(
        staged,
        files=files,
        frames={t: f for t, f in staged.frames.items() if t in wanted},
        complete={t: c for t, c in staged.complete.items() if t in wanted},
    )


def _apply(
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
    outcome.counts = apply_change_set(conn, change_set, run_id, now)
    types = set(change_set.complete)
    if rolls_over(conn, year):
        if "PersEducNat" in types:
            advance_phase(conn, year, "staff-import")
        if types & set(FAMILY_TYPES):
            advance_phase(conn, year, "family-import")
    attachments = apply_pending_attachments(conn, year, run_id, now)
    outcome.attachments = attachments.counts()
    outcome.late_entries = late_entry_watch(conn, year, now).height


def restrict_to_schools(change_set: ChangeSet, schools: Sequence[str]) -> ChangeSet:
    """Only the rows of the given schools; the files are not recorded as applied.

    People are kept when the row names one of the schools (`structure_uai`, or the school
    in the class or group id); relations and identity links follow their student/account.
    """
    wanted = list(schools)
    frames = change_set.frames()
    people: set[str] = set()
    kept: dict[str, pl.DataFrame] = {}
    for kind, frame in frames.items():
        if kind in ("relations_made", "relations_cut", "identities_linked"):
            continue
        school = _school_expr(kind, frame)
        kept[kind] = frame.filter(school.is_in(wanted))
        for column in ("external_id", "user_external_id"):
            if column in kept[kind].columns and kind.startswith(("users_", "structure_", "class_")):
                people.update(kept[kind][column].drop_nulls().to_list())
    person = sorted(people)
    kept["relations_made"] = frames["relations_made"].filter(
        pl.col("student_external_id").is_in(person)
    )
    kept["relations_cut"] = frames["relations_cut"].filter(
        pl.col("student_external_id").is_in(person)
    )
    # relatives have no school of their own: they follow the pupils kept
    relatives = sorted(
        set(kept["relations_made"]["relative_external_id"].to_list())
        | set(kept["relations_cut"]["relative_external_id"].to_list())
    )
    for kind in ("users_created", "users_updated", "users_back"):
        followers = frames[kind].filter(
            pl.col("structure_uai").is_null() & pl.col("external_id").is_in(relatives)
        )
        kept[kind] = pl.concat([kept[kind], followers])
    kept["identities_linked"] = frames["identities_linked"].filter(
        pl.col("user_external_id").is_in(person)
    )
    restricted = dataclasses.replace(change_set, file_hashes=(), files=change_set.files.clear())
    for kind, frame in kept.items():
        setattr(restricted, kind, frame)
    return restricted


def _school_expr(kind: str, frame: pl.DataFrame) -> pl.Expr:
    if kind.startswith("structures_"):
        return pl.col("uai")
    if "structure_uai" in frame.columns:
        return pl.col("structure_uai")
    if "class_external_id" in frame.columns:
        return pl.col("class_external_id").str.split(":").list.get(1, null_on_oob=True)
    if "group_id" in frame.columns:
        return pl.col("group_id").str.split(":").list.get(1, null_on_oob=True)
    return pl.lit(None, dtype=pl.String)


def _refusal_sentence(change_set: ChangeSet) -> str:
    refused = change_set.refused.height
    if not refused:
        return ""
    return (
        f" {refused} record(s) refused because they would merge or duplicate accounts (R1); "
        "the validation report lists them with the reason."
    )


def _count_sentence(counts: dict[str, int]) -> str:
    done = [f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n]
    return ", ".join(done) if done else "no change"


def _write_reports(
    store: ObjectStore,
    prefix: str,
    outcome: ImportOutcome,
    change_set: ChangeSet,
    problems: pl.DataFrame,
) -> list[str]:
    """The change set (as files), its counts per school and, when a record was rejected or
    warned about (by the checks, or refused by the plan: R1), the validation report."""
    name = f"change_set_{outcome.delivery}"
    keys = change_set.write(store, f"{prefix}{name}/")
    if problems.height:
        report = write_report(store, prefix, f"validation-report_{outcome.delivery}", problems)
        keys += [report.csv_key, report.parquet_key]
    per_school = write_report(
        store, prefix, f"counts_per_school_{outcome.delivery}", outcome.counts_per_school
    )
    keys += [per_school.csv_key, per_school.parquet_key]
    keys.append(write_text(store, prefix, f"outcome_{outcome.delivery}.txt", outcome.reason + "\n"))
    return keys


def import_pending(
    engine: Engine,
    store: ObjectStore,
    settings: Settings,
    year: str,
    phase_types: Collection[str],
    *,
    run_id: str,
    dry_run: bool = False,
    schools: Collection[str] | None = None,
    today: date | None = None,
    phase: str | None = None,
    now: datetime | None = None,
    map_files: FileMapper = map,
) -> list[ImportOutcome]:
    """Every landing delivery of the year with those types, oldest first (staff-import:
    PersEducNat; family-import: EtabEducNat, Eleve, PersRelEleve). Held files whose reason
    has ended (the switch, the freeze) are first moved back to landing/ to be imported in
    extraction-date order. A delivery held for approval stops the later ones."""
    now = now or datetime.now(UTC)
    outcomes: list[ImportOutcome] = []
    if not dry_run:
        # what is not a regular file, and the quarantines a stopped run left half done,
        # are dealt with first; each is said in one sentence and the rest goes on
        notes = set_aside_not_regular(store, year)
        with engine.begin() as conn:
            directory_lock(conn)
            notes += complete_quarantines(conn, store, year, run_id=run_id, now=now)
            _, moves = release_held(conn, store, year, now)
        move_files(store, moves)
        outcomes += [
            ImportOutcome(school_year=year, delivery="-", status="quarantined", reason=note)
            for note in notes
        ]
    for delivery in landing_deliveries(store, year, phase_types):
        outcome = import_delivery(
            engine,
            store,
            settings,
            year,
            delivery,
            run_id=run_id,
            dry_run=dry_run,
            schools=schools,
            today=today,
            types=with_structures(phase_types),
            phase=phase,
            now=now,
            map_files=map_files,
        )
        outcomes.append(outcome)
    return outcomes


# -- decisions on held deliveries -----------------------------------------------------------


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
) -> HoldDecision:
    """Approve a pending hold. A delivery hold applies exactly its stored change set when the
    directory has not moved since; otherwise the delivery is staged and planned again, and
    held again if still above a threshold. A share-purge hold only records the approval (the
    share-purge flow applies it)."""
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
    year = hold.school_year
    summary = hold.summary or {}
    prefix = reports_prefix(year, phase_of(summary.get("complete", {}) or FEED_TYPES), run_id)
    outcome = ImportOutcome(school_year=year, delivery=hold.delivery, status="applied", reason="")
    keys = [str(k) for k in summary.get("files", [])]
    missing = [k for k in keys if not store.exists(k)]
    if missing:
        raise HoldError(
            f"The hold {hold_id} cannot be approved: {missing[0]} is no longer in the store; "
            "reject the hold and ask for the delivery again."
        )
    with engine.connect() as conn, conn.begin() as transaction:
        directory_lock(conn)
        moved = directory_fingerprint(conn, year) != hold.fingerprint
        if not moved:
            change_set = ChangeSet.read(store, hold.change_set_key)
            if not set(change_set.file_hashes) <= {sha256_of(store, k) for k in keys}:
                transaction.rollback()
                raise HoldError(
                    f"The files of the hold {hold_id} changed since it was computed; "
                    "reject it and let the next run import the new files."
                )
            _apply(conn, change_set, outcome, run_id=run_id, now=now)
            decided = decide_hold(conn, hold_id, "approved", decided_by, now)
            outcome.counts_per_school = change_set.counts_per_school()
            outcome.reason = (
                f"The delivery {hold.delivery} of {year} is applied as held "
                f"({hold_id}, approved by {decided_by}): {_count_sentence(outcome.counts)}."
            )
    if not moved:
        if change_set.file_hashes:
            move_files(store, [(k, archive_key(year, parse_feed_name(k))) for k in keys])
        outcome.report_keys += _write_reports(
            store, prefix, outcome, change_set, change_set.refused
        )
        return HoldDecision(decided, outcome)
    approving = dataclasses.replace(hold, decided_by=decided_by)
    result = import_delivery(
        engine,
        store,
        settings,
        year,
        hold.delivery,
        run_id=run_id,
        dry_run=False,
        schools=summary.get("schools"),
        today=today,
        types=summary.get("types") or sorted(summary.get("complete", {})) or None,
        phase=None,
        now=now,
        approving=approving,
        map_files=map_files,
    )
    with engine.connect() as conn:
        decided = get_hold(conn, hold_id)
    if decided.status == "pending":
        # the delivery could not be planned again (quarantined, already applied...)
        with engine.begin() as conn:
            decided = decide_hold(conn, hold_id, "superseded", decided_by, now)
    return HoldDecision(decided, result)


def reject_hold(
    engine: Engine,
    store: ObjectStore,
    hold_id: str,
    decided_by: str,
    run_id: str,
    now: datetime | None = None,
) -> HoldDecision:
    """Reject a pending hold. A delivery's files move to quarantine/ with a report saying who
    rejected it and why it was held; nothing of it is applied."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        hold = get_hold(conn, hold_id)
    if hold.kind != "delivery":
        with engine.begin() as conn:
            directory_lock(conn)
            return HoldDecision(decide_hold(conn, hold_id, "rejected", decided_by, now), None)
    assert hold.delivery is not None
    year = hold.school_year
    keys = [str(k) for k in (hold.summary or {}).get("files", []) if store.exists(str(k))]
    feeds = [parse_feed_name(k) for k in keys]
    reason = (
        f"Rejected by {decided_by} on {now:%Y-%m-%d %H:%M} UTC (hold {hold_id}); it was held "
        f"because: {hold.reason}"
    )
    files = files_frame(
        (feed, sha256_of(store, key)) for key, feed in zip(keys, feeds, strict=True)
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
    move_files(store, [(k, quarantine_key(year, f)) for k, f in zip(keys, feeds, strict=True)])
    target = quarantine_prefix(year, hold.delivery)
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
    outcome = ImportOutcome(
        school_year=year,
        delivery=hold.delivery,
        status="quarantined",
        reason=f"The delivery {hold.delivery} of {year} is in {target}: {reason}",
        report_keys=[report.csv_key, report.parquet_key],
        hold_id=hold_id,
    )
    return HoldDecision(decided, outcome)
