"""What the directory already knows: the ids an inventory row may refer to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import Column, Connection, func, select

from rentree.infra.frames import read_frame
from rentree.infra.schema import bookmarks, groups, purge_journal, resources, structures, users


@dataclass
class DirectoryIds:
    """Ids a row may name, per kind: the directory's, then the inventory rows accepted so far.

    `rejected` keeps the ids of rows rejected in this import, so that a row naming one is
    told why rather than "unknown".
    """

    ids: dict[str, pl.DataFrame]
    rejected: dict[str, pl.DataFrame] = field(default_factory=dict)
    users: pl.DataFrame = field(default_factory=pl.DataFrame)
    groups: pl.DataFrame = field(default_factory=pl.DataFrame)
    # shares removed by a share purge not undone: resource_id, recipient_kind, recipient_id,
    # run_id
    purged_shares: pl.DataFrame = field(default_factory=pl.DataFrame)

    def add(self, kind: str, accepted: pl.Series, rejected: pl.Series) -> None:
        ids = pl.concat([self.ids[kind], accepted.alias("id").to_frame()]).unique()
        self.ids[kind] = ids
        gone = rejected.alias("id").to_frame().join(ids, on="id", how="anti")
        self.rejected[kind] = pl.concat([self.rejected.get(kind, id_frame(None)), gone]).unique()


def id_frame(series: pl.Series | None) -> pl.DataFrame:
    if series is None:
        return pl.DataFrame(schema={"id": pl.String})
    return series.cast(pl.String).alias("id").to_frame()


def read_known_ids(conn: Connection) -> DirectoryIds:
    """The id columns the checks need, one query per table."""
    text = pl.String
    u, g, j = users.c, groups.c, purge_journal.c
    known_users = read_frame(
        conn,
        select(u.external_id, u.profile, u.source, u.login),
        schema_overrides={"external_id": text, "profile": text, "source": text, "login": text},
    )
    known_groups = read_frame(
        conn, select(g.group_id, g.kind), schema_overrides={"group_id": text, "kind": text}
    )

    def one(column: Column[Any]) -> pl.DataFrame:
        frame = read_frame(conn, select(column), schema_overrides={column.name: text})
        return id_frame(frame[column.name])

    share = (j.resource_id, j.recipient_kind, j.recipient_id)
    return DirectoryIds(
        ids={
            "user": id_frame(known_users["external_id"]),
            "structure": one(structures.c.uai),
            "group": id_frame(known_groups["group_id"]),
            "bookmark": one(bookmarks.c.bookmark_id),
            "resource": one(resources.c.resource_id),
        },
        users=known_users,
        groups=known_groups,
        purged_shares=read_frame(
            conn,
            select(*share, func.min(j.run_id).label("run_id"))
            .where(~j.derived, j.undone_at.is_(None))
            .group_by(*share),
            schema_overrides={
                c: text for c in ("resource_id", "recipient_kind", "recipient_id", "run_id")
            },
        ),
    )
