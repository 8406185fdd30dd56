"""What the directory already knows: the ids an inventory row may refer to."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import Connection

from rentree.infra.db import read_frame


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
    users = read_frame(
        conn,
        "SELECT external_id, profile, source, login FROM users",
        schema_overrides={"external_id": text, "profile": text, "source": text, "login": text},
    )
    groups = read_frame(
        conn,
        'SELECT group_id, kind FROM "groups"',
        schema_overrides={"group_id": text, "kind": text},
    )

    def one(sql: str, name: str) -> pl.DataFrame:
        return id_frame(read_frame(conn, sql, schema_overrides={name: text})[name])

    return DirectoryIds(
        ids={
            "user": id_frame(users["external_id"]),
            "structure": one("SELECT uai FROM structures", "uai"),
            "group": id_frame(groups["group_id"]),
            "bookmark": one("SELECT bookmark_id FROM bookmarks", "bookmark_id"),
            "resource": one("SELECT resource_id FROM resources", "resource_id"),
        },
        users=users,
        groups=groups,
        purged_shares=read_frame(
            conn,
            "SELECT resource_id, recipient_kind, recipient_id, min(run_id) AS run_id "
            "FROM purge_journal WHERE NOT derived AND undone_at IS NULL "
            "GROUP BY resource_id, recipient_kind, recipient_id",
            schema_overrides={
                c: text for c in ("resource_id", "recipient_kind", "recipient_id", "run_id")
            },
        ),
    )
