"""The run record: the one writer of the `runs` table.

Every run that changes or reports on the directory (the phase flows, the CLI's own commands,
the content import) records itself here: `start_run` when it begins (status `running`),
`finish_run` with its outcome, or `record_run` for a run recorded once it is over.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

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
    """The run's row, status `running` (a retried flow run replaces its earlier row)."""
    conn.execute(delete(runs).where(runs.c.run_id == run_id))
    conn.execute(
        insert(runs).values(
            run_id=run_id,
            flow=flow,
            school_year=school_year,
            started_at=started_at,
            status="running",
            dry_run=dry_run,
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
