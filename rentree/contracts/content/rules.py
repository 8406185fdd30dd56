"""The inventory's own rules: Pandera checks with the sentence a rejected row gets (the
domain's closed lists of apps' areas, rights, recipient and member kinds)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

MESSAGING_AREAS = ("inbox", "sent", "trash")
DOCUMENT_AREAS = ("own", "apps", "trash")
OTHER_APP_AREAS = ("own",)
RIGHTS = ("read", "contrib", "manage")
RECIPIENT_KINDS = ("user", "group", "bookmark")
MEMBER_KINDS = ("user", "group")


@dataclass(frozen=True)
class Rule:
    """A Pandera check and the reason a failing row is given (pl.format template + columns)."""

    check: pa.Check
    template: str
    arguments: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableRules:
    columns: dict[str, list[Rule]] = field(default_factory=dict)
    rows: list[Rule] = field(default_factory=list)


def _area_fits_app(data: pa.PolarsData) -> pl.LazyFrame:
    app, area = pl.col("app"), pl.col("area")
    return data.lazyframe.select(
        pl.when(app.is_null() | area.is_null())
        .then(True)
        .when(app == "messaging")
        .then(area.is_in(MESSAGING_AREAS))
        .when(app == "documents")
        .then(area.is_in(DOCUMENT_AREAS))
        .otherwise(area.is_in(OTHER_APP_AREAS))
    )


def _manual_group_has_no_year(data: pa.PolarsData) -> pl.LazyFrame:
    return data.lazyframe.select(
        (pl.col("kind") != "manual")
        | (pl.col("school_year").is_null() & pl.col("audience").is_null())
    )


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def _only(column: str, value: str, why: str) -> Rule:
    """A column that holds one value in an inventory; the sentence says why."""
    return Rule(pa.Check.isin([value]), f"{column} {{}} {why}", (column,))


def _listed(column: str, values: tuple[str, ...]) -> Rule:
    """A column whose values come from a closed list."""
    return Rule(
        pa.Check.isin(list(values)), f"{column} {{}} is not one of {_one_of(values)}", (column,)
    )


RULES: dict[str, TableRules] = {
    "users": TableRules(
        columns={
            "profile": [
                _only(
                    "profile",
                    "Guest",
                    "accounts come from the academic feeds; the inventory only adds Guest accounts",
                )
            ],
            "source": [
                _only("source", "manual", "is not manual; an inventory account is always manual")
            ],
            "identity": [
                _only(
                    "identity",
                    "local",
                    "is not local; a Guest account logs in with a local login",
                )
            ],
        },
    ),
    "user_structures": TableRules(
        columns={
            "source": [
                _only("source", "manual", "is not manual; links of source feed come from the feeds")
            ],
        },
    ),
    "groups": TableRules(
        columns={
            "kind": [
                _only(
                    "kind",
                    "manual",
                    "cannot be imported: scolarité groups are made by rentree "
                    "from the feeds, the inventory only brings manual groups",
                )
            ],
        },
        rows=[
            Rule(
                pa.Check(_manual_group_has_no_year, name="manual_group_has_no_year"),
                "a manual group belongs to its owner, not to a school year or an audience; "
                "leave school_year and audience empty",
            )
        ],
    ),
    "bookmark_members": TableRules(
        columns={"member_kind": [_listed("member_kind", MEMBER_KINDS)]},
    ),
    "resources": TableRules(
        columns={
            "size_bytes": [
                Rule(pa.Check.ge(0), "size_bytes {} is negative", ("size_bytes",)),
            ],
        },
        rows=[
            Rule(
                pa.Check(_area_fits_app, name="area_fits_app"),
                "area {} does not exist in app {} (messaging: "
                + _one_of(MESSAGING_AREAS)
                + "; documents: "
                + _one_of(DOCUMENT_AREAS)
                + "; other apps: "
                + _one_of(OTHER_APP_AREAS)
                + ")",
                ("area", "app"),
            )
        ],
    ),
    "shares": TableRules(
        columns={
            "recipient_kind": [_listed("recipient_kind", RECIPIENT_KINDS)],
            "rights": [_listed("rights", RIGHTS)],
        },
    ),
}
