"""The retirement notice ("avis avant désactivation", R11): before a person missing past the
first grace period is deactivated, each owner of a production shared with them by name, and
each recipient of their own shares (a person, a group, a share bookmark), is told, in French
and in English, with the channel that can keep the person if they should stay.

The same shape as the pre-purge notice (R6): one row per notified party, person and
production; `notice_owners` sums it per notified party.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Connection, Join, String, Table, literal, select, union_all

from rentree.infra.frames import select_frame
from rentree.infra.reports import write_report
from rentree.infra.schema import bookmarks, groups, resources, shares, users
from rentree.infra.staging import staging_table
from rentree.infra.storage import ObjectStore
from rentree.tasks.intake.validate import SUPPORT_CHANNELS
from rentree.tasks.rules.retirement.eligibility import FEED_OF_PROFILE, STAFF_FEED

NOTICE_REPORT = "retirement-notice"
NOTICE_OWNERS_REPORT = "retirement-notice-owners"

# domain.md, "Who to contact", for the person about to be deactivated.
SUPPORT_FR = {
    "PersEducNat": "le centre de services aux utilisateurs, par l'outil d'incidents académique",
    "PersRelEleve": "le directeur ou la directrice d'école",
    "Eleve": "l'administrateur ENT",
}

# What an owner of a production shared with the person is told, then a recipient of the
# person's own shares.
OWNER_MESSAGE = {
    "fr": "{} : {} ({}), à qui vous avez partagé « {} » ({}), n'est plus dans les fichiers de "
    "l'académie depuis le {} ; son compte sera désactivé à partir du {}, puis retiré de "
    "l'annuaire. Si cette personne doit garder l'accès, contactez {}.",
    "en": "{}: {} ({}), with whom you shared '{}' ({}), has been missing from the academy's "
    "files since {}; their account will be deactivated from {}, then retired from the "
    "directory. If this person should keep access, contact {}.",
}
RECIPIENT_MESSAGE = {
    "fr": "{} : « {} » ({}), partagé avec vous par {}, dont le compte sera désactivé à partir "
    "du {} (absent des fichiers de l'académie depuis le {}). La production n'est pas "
    "supprimée ; gardez-en une copie ou demandez à en reprendre la gestion.",
    "en": "{}: '{}' ({}), shared with you by {}, whose account will be deactivated from {} "
    "(missing from the academy's files since {}). The production is not deleted; keep a "
    "copy of it or ask to take over its management.",
}

_SHARED_SCHEMA: dict[str, Any] = {
    "role": pl.String,
    "notified_kind": pl.String,
    "notified_id": pl.String,
    "person_external_id": pl.String,
    "resource_id": pl.String,
    "app": pl.String,
    "rights": pl.String,
}

NOTICE_COLUMNS = (
    "notified_kind",
    "notified_id",
    "notified_name",
    "role",
    "person_external_id",
    "person_name",
    "person_profile",
    "structure_uai",
    "missing_since",
    "deactivation_from",
    "resource_id",
    "app",
    "rights",
    "message_fr",
    "message_en",
    "support",
)


def productions_of(people: Table) -> Join:
    """The resources owned by the staged people (`external_id`)."""
    return resources.join(people, people.c.external_id == resources.c.owner_external_id)


def _shared(conn: Connection, person_ids: pl.DataFrame) -> pl.DataFrame:
    """Owners of productions shared with the people by name, and recipients of theirs."""
    people = staging_table(conn, "retire_notice", person_ids, ["external_id"])
    s, r = shares.c, resources.c
    owners = (
        select(
            literal("owner", String).label("role"),
            literal("user", String).label("notified_kind"),
            r.owner_external_id.label("notified_id"),
            s.recipient_id.label("person_external_id"),
            s.resource_id,
            r.app,
            s.rights,
        )
        .select_from(
            shares.join(people, people.c.external_id == s.recipient_id).join(
                resources, r.resource_id == s.resource_id
            )
        )
        .where(s.recipient_kind == "user", r.owner_external_id != s.recipient_id)
    )
    recipients = (
        select(
            literal("recipient", String),
            s.recipient_kind,
            s.recipient_id,
            r.owner_external_id,
            s.resource_id,
            r.app,
            s.rights,
        )
        .select_from(productions_of(people).join(shares, s.resource_id == r.resource_id))
        .where(~((s.recipient_kind == "user") & (s.recipient_id == r.owner_external_id)))
    )
    return select_frame(conn, union_all(owners, recipients), _SHARED_SCHEMA)


def _names(conn: Connection, notified: pl.DataFrame) -> pl.DataFrame:
    """Display names of the notified people, groups and bookmarks, keyed by (kind, id)."""
    pairs = notified.select("notified_kind", "notified_id").unique()
    schema = {"notified_kind": pl.String, "notified_id": pl.String, "name": pl.String}
    if pairs.is_empty():
        return pl.DataFrame(schema=schema)
    wanted = staging_table(conn, "retire_names", pairs, ["notified_kind", "notified_id"])

    def named(kind: str, key: Any, name: Any) -> Any:
        return select(literal(kind, String), key, name).where(
            key.in_(select(wanted.c.notified_id).where(wanted.c.notified_kind == kind))
        )

    full_name = users.c.first_name + literal(" ") + users.c.last_name
    query = union_all(
        named("user", users.c.external_id, full_name),
        named("group", groups.c.group_id, groups.c.name),
        named("bookmark", bookmarks.c.bookmark_id, bookmarks.c.name),
    )
    return select_frame(conn, query, schema)


def retirement_notice(
    conn: Connection, people: pl.DataFrame, noticed_on: date, notice_days: int
) -> pl.DataFrame:
    """The notice about `people` (the plan's `to_notice` rows), written on `noticed_on`."""
    persons = people.unique("external_id").select(
        pl.col("external_id").alias("person_external_id"),
        pl.concat_str(["first_name", "last_name"], separator=" ")
        .str.strip_chars()
        .alias("person_name"),
        pl.col("profile").alias("person_profile"),
        "missing_since",
    )
    schools = people.select(
        pl.col("external_id").alias("person_external_id"), "structure_uai"
    ).unique()
    if persons.is_empty():
        shared = pl.DataFrame(schema=_SHARED_SCHEMA)
    else:
        shared = _shared(conn, persons.select(pl.col("person_external_id").alias("external_id")))
    feed = pl.col("person_profile").replace_strict(
        FEED_OF_PROFILE, default=STAFF_FEED, return_dtype=pl.String
    )
    deactivation_from = noticed_on + timedelta(days=notice_days)
    notified = pl.coalesce(pl.col("name").str.strip_chars(), pl.col("notified_id"))
    app = pl.col("app").fill_null("?")
    support = {"fr": SUPPORT_FR, "en": SUPPORT_CHANNELS}
    deactivation = pl.lit(str(deactivation_from))
    message = {
        language: pl.when(pl.col("role") == "owner")
        .then(
            pl.format(
                OWNER_MESSAGE[language], notified, "person_name", "person_profile",
                "resource_id", app, "missing_since", deactivation,
                feed.replace_strict(support[language]),
            )
        )
        .otherwise(
            pl.format(
                RECIPIENT_MESSAGE[language], notified, "resource_id", app, "person_name",
                deactivation, "missing_since",
            )
        )
        for language in ("fr", "en")
    }  # fmt: skip
    return (
        shared.join(persons, on="person_external_id")
        .join(schools, on="person_external_id", how="left")
        .join(_names(conn, shared), on=["notified_kind", "notified_id"], how="left")
        .with_columns(
            notified.alias("notified_name"),
            pl.lit(deactivation_from).alias("deactivation_from"),
            message["fr"].alias("message_fr"),
            message["en"].alias("message_en"),
            pl.concat_str(
                feed.replace_strict(support["fr"]),
                pl.lit(" / "),
                feed.replace_strict(support["en"]),
            ).alias("support"),
        )
        .select(NOTICE_COLUMNS)
        .sort(["notified_kind", "notified_id", "person_external_id", "resource_id"])
    )


def notice_owners(notice: pl.DataFrame) -> pl.DataFrame:
    """Per notified party: how many people and productions the notice names."""
    return (
        notice.group_by("notified_kind", "notified_id", "notified_name")
        .agg(
            pl.col("person_external_id").n_unique().alias("people"),
            pl.col("resource_id").n_unique().alias("productions"),
        )
        .sort("notified_kind", "notified_id")
    )


def write_retirement_notice(store: ObjectStore, prefix: str, notice: pl.DataFrame) -> list[str]:
    """Write the notice and its per-party summary (CSV + Parquet); returns the keys."""
    keys: list[str] = []
    for name, frame in ((NOTICE_REPORT, notice), (NOTICE_OWNERS_REPORT, notice_owners(notice))):
        written = write_report(store, prefix, name, frame)
        keys += [written.csv_key, written.parquet_key]
    return keys
