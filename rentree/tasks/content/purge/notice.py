"""The pre-purge notice (R6): who loses which share of the closing year, by school."""

from __future__ import annotations

import polars as pl
from sqlalchemy import Connection, select

from rentree.infra.frames import select_frame
from rentree.infra.schema import structures

# Who helps a teacher with the pedagogical use of the ENT (domain.md, support routing).
PEDAGOGY_SUPPORT = (
    "conseiller pédagogique numérique de circonscription (ERUN) / "
    "district digital-education adviser (ERUN)"
)


# What the owner of a share to a closing-year group is told, in French and in English.
PURGE_MESSAGE = {
    "fr": "{} : votre partage de « {} » ({}) au groupe « {} » ({} membres) sera retiré par la "
    "purge des partages de l'année {}. Pour le garder, partagez-le à chaque personne par son "
    "nom (« maintenir un partage »), ou partagez-le à l'enseignant de l'année prochaine en lui "
    "confiant les droits de gestion.",
    "en": "{}: your share of '{}' ({}) with the group '{}' ({} members) will be removed by the "
    "share purge of the {} school year. To keep it, share it with each person by name "
    '("maintenir un partage"), or share it with next year\'s teacher with management rights.',
}

NOTICE_COLUMNS = (
    "structure_uai",
    "school_name",
    "school_source",
    "owner_external_id",
    "owner_last_name",
    "owner_first_name",
    "resource_id",
    "app",
    "group_id",
    "group_name",
    "group_members",
    "rights",
    "message_fr",
    "message_en",
    "support",
)


def school_names(conn: Connection) -> pl.DataFrame:
    """Every school's UAI and name: structure_uai, school_name."""
    return select_frame(
        conn,
        select(structures.c.uai.label("structure_uai"), structures.c.name.label("school_name")),
        {"structure_uai": pl.String, "school_name": pl.String},
    )


def notice_rows(
    closing_year: str, purgeable: pl.DataFrame, school_names: pl.DataFrame
) -> pl.DataFrame:
    """One row per share and school of its owner (R6), with the two ways to keep the share.

    An owner linked to several schools sees the share under each of them, so that each
    school's director can relay the notice; an owner with no school link (or a share whose
    resource is unknown) is listed under the recipient group's school (`school_source`).
    """
    rows = purgeable.with_columns(
        pl.coalesce("owner_structure_uai", "group_structure_uai").alias("structure_uai"),
        pl.when(pl.col("owner_structure_uai").is_null())
        .then(pl.lit("group"))
        .otherwise(pl.lit("owner"))
        .alias("school_source"),
    )
    owner = pl.coalesce(
        pl.concat_str(
            [pl.col("owner_first_name"), pl.col("owner_last_name")], separator=" "
        ).str.strip_chars(),
        pl.col("owner_external_id"),
        pl.lit("?"),
    )
    return (
        rows.join(school_names, on="structure_uai", how="left")
        .rename({"recipient_id": "group_id"})
        .with_columns(
            *(
                pl.format(
                    PURGE_MESSAGE[language],
                    owner,
                    pl.col("resource_id"),
                    pl.col("app").fill_null("?"),
                    pl.col("group_name"),
                    pl.col("group_members"),
                    pl.lit(closing_year),
                ).alias(f"message_{language}")
                for language in ("fr", "en")
            ),
            pl.lit(PEDAGOGY_SUPPORT).alias("support"),
        )
        .select(NOTICE_COLUMNS)
        .sort(["structure_uai", "owner_external_id", "resource_id", "group_id"], nulls_last=True)
    )


def notice_owners(notice: pl.DataFrame) -> pl.DataFrame:
    return (
        notice.group_by(
            "structure_uai",
            "school_name",
            "owner_external_id",
            "owner_last_name",
            "owner_first_name",
        )
        .agg(
            pl.len().alias("shares"),
            pl.col("resource_id").n_unique().alias("resources"),
            pl.col("group_id").n_unique().alias("groups"),
        )
        .sort(["structure_uai", "owner_external_id"], nulls_last=True)
    )


def notice_schools(notice: pl.DataFrame) -> pl.DataFrame:
    return (
        notice.group_by("structure_uai", "school_name")
        .agg(
            pl.col("owner_external_id").n_unique().alias("owners"),
            pl.len().alias("shares"),
            pl.col("resource_id").n_unique().alias("resources"),
        )
        .sort("structure_uai", nulls_last=True)
    )
