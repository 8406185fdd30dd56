"""R10, by itself: when students arrive (a family import), the year's pending requests are
decided again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from rentree.tasks.rules.attachments.apply import request_attachments
from rentree.tasks.rules.attachments.decide import AttachmentResult
from rentree.tasks.rules.attachments.pending import pending_requests


def apply_pending_attachments(
    conn: Connection, year: str, run_id: str, now: datetime
) -> AttachmentResult:
    """R10, by itself: the year's pending requests are decided again; those whose class now
    has a student are attached and leave the list."""
    return request_attachments(conn, pending_requests(conn, year), run_id, now)
