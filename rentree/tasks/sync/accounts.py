"""Local accounts (R2, R3): logins and activation codes, and the refusal for federated ones.

Only Student and Guest accounts are local ("comptes locaux"): rentree makes their login
(`firstname.lastname`) and activation code. Teacher, Personnel and Relative accounts belong to
an identity provider; any action on their credentials is refused, naming the provider.
"""

from __future__ import annotations

import secrets

import numpy as np
import polars as pl

LOCAL_PROFILES = frozenset({"Student", "Guest"})
# profile -> identity provider that owns the credentials (R2)
FEDERATED_PROVIDERS: dict[str, str] = {
    "Teacher": "the academic SSO (identifiants académiques)",
    "Personnel": "the academic SSO (identifiants académiques)",
    "Relative": "EduConnect",
}
IDENTITY_OF_PROFILE: dict[str, str] = {
    "Teacher": "academic_sso",
    "Personnel": "academic_sso",
    "Relative": "educonnect",
    "Student": "local",
    "Guest": "local",
}

LOGIN_PART_MAX = 30
# 32 characters, none of the look-alikes 0 O 1 I l: a byte masked to 5 bits picks one unbiased.
ACTIVATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ACTIVATION_LENGTH = 8
# letters NFKD does not decompose into ASCII
_TRANSLITERATION = {"ß": "ss", "œ": "oe", "æ": "ae", "ø": "o", "đ": "d", "ł": "l", "þ": "th"}
_EMPTY_PART = "x"


class CredentialsRefused(ValueError):
    """An action on the credentials of a federated account (R2)."""


def refuse_credentials_action(profile: str, action: str = "change the credentials") -> None:
    """Raise CredentialsRefused for a federated profile; return quietly for a local one."""
    provider = FEDERATED_PROVIDERS.get(profile)
    if provider is None:
        if profile in LOCAL_PROFILES:
            return
        raise CredentialsRefused(f"{profile!r} is not a profile rentree knows; nothing was done.")
    raise CredentialsRefused(
        f"Cannot {action} of a {profile} account: its credentials belong to {provider}; "
        "the person must go through that provider."
    )


def login_part(name: pl.Expr) -> pl.Expr:
    """One part of a login: lower-case ASCII letters only, at most 30 characters."""
    cleaned = (
        name.fill_null("")
        .str.to_lowercase()
        .str.replace_many(list(_TRANSLITERATION), list(_TRANSLITERATION.values()))
        .str.normalize("NFKD")
        .str.replace_all(r"[^a-z]", "")
        .str.slice(0, LOGIN_PART_MAX)
    )
    return pl.when(cleaned == "").then(pl.lit(_EMPTY_PART)).otherwise(cleaned)


def base_login(first_name: pl.Expr, last_name: pl.Expr) -> pl.Expr:
    return login_part(first_name) + pl.lit(".") + login_part(last_name)


def assign_logins(people: pl.DataFrame, taken: pl.Series) -> pl.DataFrame:
    """Logins for new local accounts (R3), unique among themselves and against `taken`.

    `people` has `external_id`, `first_name`, `last_name`; returns `external_id`, `login`.
    A base already used gets the smallest free numeric suffix from 2 on; new people sharing
    a base are numbered in external-id order, so the result does not depend on row order.
    """
    if people.is_empty():
        return pl.DataFrame(schema={"external_id": pl.String, "login": pl.String})
    wanted = people.select(
        "external_id", base_login(pl.col("first_name"), pl.col("last_name")).alias("base")
    ).with_columns(pl.col("external_id").rank("ordinal").over("base").alias("nth"))
    # taken logins split into base + number (no suffix counts as number 1); logins are
    # letters and one dot, so trailing digits can only be a suffix. A suffix with a leading
    # zero is no number rentree writes and cannot collide with one (`lea.martin07` is not
    # `lea.martin7`): it holds no number, so that the logins a new one could collide with are
    # exactly `base`, `base1`, `base2`... (`tasks.sync.scope` asks the database for those)
    used = (
        pl.DataFrame({"login": taken.cast(pl.String)})
        .drop_nulls()
        .select(
            pl.col("login").str.extract(r"^(.*?)(\d*)$", 1).alias("base"),
            pl.col("login").str.extract(r"^(.*?)(\d*)$", 2).alias("digits"),
        )
        .join(wanted.select("base").unique(), on="base", how="semi")
        .select(
            "base",
            pl.when(pl.col("digits") == "")
            .then(pl.lit(1, dtype=pl.Int64))
            .when(pl.col("digits").str.starts_with("0"))
            .then(pl.lit(None, dtype=pl.Int64))
            .otherwise(pl.col("digits").cast(pl.Int64, strict=False))
            .alias("number"),
        )
        .drop_nulls()
        .unique()
    )
    needed = wanted.group_by("base").agg(pl.len().cast(pl.Int64).alias("new"))
    needed = needed.join(
        used.group_by("base").agg(pl.len().cast(pl.Int64).alias("used")), on="base", how="left"
    ).with_columns(pl.col("used").fill_null(0))
    # the first `new` free numbers of each base lie within 1..new+used
    free = (
        needed.with_columns(
            pl.int_ranges(1, pl.col("new") + pl.col("used") + 1, dtype=pl.Int64).alias("number")
        )
        .explode("number")
        .join(used, on=["base", "number"], how="anti")
        .sort("base", "number")
        .with_columns(pl.col("number").rank("ordinal").over("base").alias("nth"))
        .select("base", "nth", "number")
    )
    return (
        wanted.join(free, on=["base", "nth"], how="left")
        .select(
            "external_id",
            pl.when(pl.col("number") == 1)
            .then(pl.col("base"))
            .otherwise(pl.col("base") + pl.col("number").cast(pl.String))
            .alias("login"),
        )
        .sort("external_id")
    )


def complete_local_accounts(people: pl.DataFrame, taken: pl.Series) -> pl.DataFrame:
    """Local accounts without a login get one (R3) and an activation code, pending.

    `people` has `external_id`, `first_name`, `last_name`, `login` (null: to make); `taken`
    holds every login in use. Rows with a login are returned as they are (with null code).
    """
    missing = people.filter(pl.col("login").is_null())
    if missing.is_empty():
        return people
    given = people["login"].drop_nulls()
    made = assign_logins(
        missing.select("external_id", "first_name", "last_name"), pl.concat([taken, given])
    ).with_columns(
        activation_codes(missing.height).alias("_code"),
        pl.lit("pending").alias("_state"),
    )
    out = people.join(made.rename({"login": "_login"}), on="external_id", how="left")
    state = pl.col("activation_state") if "activation_state" in out.columns else pl.lit(None)
    code = pl.col("activation_code") if "activation_code" in out.columns else pl.lit(None)
    return out.with_columns(
        pl.coalesce("login", "_login").alias("login"),
        pl.when(pl.col("_login").is_not_null())
        .then(pl.col("_code"))
        .otherwise(code)
        .cast(pl.String)
        .alias("activation_code"),
        pl.when(pl.col("_login").is_not_null())
        .then(pl.col("_state"))
        .otherwise(state)
        .cast(pl.String)
        .alias("activation_state"),
    ).drop("_login", "_code", "_state")


def activation_codes(count: int) -> pl.Series:
    """`count` activation codes of 8 characters without look-alikes, from `secrets`."""
    if count == 0:
        return pl.Series("activation_code", [], dtype=pl.String)
    raw = np.frombuffer(secrets.token_bytes(count * ACTIVATION_LENGTH), dtype=np.uint8) & 31
    alphabet = np.frombuffer(ACTIVATION_ALPHABET.encode("ascii"), dtype=np.uint8)
    chars = alphabet[raw].reshape(count, ACTIVATION_LENGTH)
    codes = chars.view(f"S{ACTIVATION_LENGTH}").ravel().astype(str)
    return pl.Series("activation_code", codes, dtype=pl.String)
