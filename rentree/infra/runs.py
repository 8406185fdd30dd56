"""The run record: the one writer of the `runs` table.

Every run that changes or reports on the directory (the phase flows, the CLI's own commands,
the content import) records itself here: `start_run` when it begins (status `running`),
`finish_run` with its outcome, or `record_run` for a run recorded once it is over.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, delete, func, insert, select, update

from rentree.infra.schema import runs


def json_safe(value: Any) -> Any:
    """What can go into the `runs.summary` JSON column (and into artifacts)."""
    return json.loads(json.dumps(value, default=str))


def start_run(
    conn: Connection,
    *,
    run_id: str,
    flow: str,
    school_year: str | None,
    started_at: datetime,
    dry_run: bool,
) -> None:
    """The run's row, status `running` (a retried flow run replaces its earlier row), with
    the process that runs it, so that a later run can tell a run that was killed."""
    conn.execute(delete(runs).where(runs.c.run_id == run_id))
    conn.execute(
        insert(runs).values(
            run_id=run_id,
            flow=flow,
            school_year=school_year,
            started_at=started_at,
            status="running",
            dry_run=dry_run,
            summary={"process": this_process()},
        )
    )


def finish_run(
    conn: Connection,
    run_id: str,
    status: str,
    summary: dict[str, Any],
    *,
    finished_at: datetime | None = None,
) -> None:
    """The run's outcome: its status (completed, held, rejected, failed) and summary."""
    conn.execute(
        update(runs)
        .where(runs.c.run_id == run_id)
        .values(
            status=status,
            finished_at=finished_at or datetime.now(UTC),
            summary=json_safe(summary),
        )
    )


def record_run(
    conn: Connection,
    *,
    run_id: str,
    flow: str,
    school_year: str | None,
    started_at: datetime,
    status: str,
    dry_run: bool,
    summary: dict[str, Any],
) -> None:
    """A run recorded in one go, in the caller's transaction (started and finished)."""
    start_run(
        conn,
        run_id=run_id,
        flow=flow,
        school_year=school_year,
        started_at=started_at,
        dry_run=dry_run,
    )
    finish_run(conn, run_id, status, summary)


def run_exists(conn: Connection, run_id: str, flow: str) -> bool:
    """Whether `flow` recorded a run with this id."""
    found = conn.scalar(select(func.count()).where(runs.c.run_id == run_id, runs.c.flow == flow))
    return bool(found)


# -- runs that stopped without finishing (killed, machine down) -------------------------------

Liveness = Literal["alive", "dead", "unknown"]


def this_process() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def process_liveness(process: Any) -> Liveness:
    """Whether the process a `running` row names still runs: known on this host only."""
    if not isinstance(process, dict) or process.get("host") != socket.gethostname():
        return "unknown"
    try:
        os.kill(int(process["pid"]), 0)
    except ProcessLookupError:
        return "dead"
    except (PermissionError, KeyError, TypeError, ValueError):
        return "unknown"
    return "alive"


def shown_status(status: str, summary: Any) -> str:
    """A run's status as `status` shows it: a `running` row whose process is gone is
    `interrupted`, whether or not a later run recorded it so yet."""
    if status == "running" and process_liveness((summary or {}).get("process")) == "dead":
        return "interrupted"
    return status


def mark_interrupted(conn: Connection, *, now: datetime | None = None) -> list[str]:
    """Record as `interrupted` the running runs whose process is gone; returns their ids."""
    rows = conn.execute(
        select(runs.c.run_id, runs.c.summary).where(runs.c.status == "running")
    ).all()
    stopped = [r for r in rows if shown_status("running", r.summary) == "interrupted"]
    for row in stopped:
        summary = {
            **(row.summary or {}),
            "error": "its process stopped before the run finished (killed, or the machine "
            "went down); what it had not committed was not applied.",
        }
        finish_run(conn, row.run_id, "interrupted", summary, finished_at=now)
    return [r.run_id for r in stopped]


def claim_directory(conn: Connection, run_id: str, claimed: bool) -> None:
    """Say in the run's row that it waits for, or holds, the directory's slot (or no more)."""
    summary = conn.scalar(select(runs.c.summary).where(runs.c.run_id == run_id)) or {}
    conn.execute(
        update(runs)
        .where(runs.c.run_id == run_id)
        .values(summary={**summary, "claims_directory": claimed})
    )


def directory_claimants(conn: Connection, *, besides: str) -> list[dict[str, Any]]:
    """The other running runs that wait for or hold the directory's slot and may be alive
    (their process runs, or runs on another host)."""
    rows = conn.execute(
        select(runs.c.run_id, runs.c.flow, runs.c.started_at, runs.c.summary).where(
            runs.c.status == "running", runs.c.run_id != besides
        )
    ).all()
    return [
        {"run_id": r.run_id, "flow": r.flow, "started_at": r.started_at}
        for r in rows
        if (r.summary or {}).get("claims_directory")
        and process_liveness((r.summary or {}).get("process")) != "dead"
    ]
