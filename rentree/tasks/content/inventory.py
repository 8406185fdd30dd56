"""Content import: the inventory of productions, shares, manual groups and share bookmarks.

The inventory ("inventaire des contenus") is what the ENT applications hold, plus what
administrators create by hand (Guest accounts, manual school links). It comes as one file
per table (storage.md), Parquet or CSV with `,` or `;`. A bad row is rejected with one
sentence and the rest is imported; importing the same inventory again changes nothing.

Decisions where storage.md is silent:
- a key repeated with identical rows keeps its first row, the copies are rejected; a key
  repeated with different values is rejected on every row (rentree cannot tell which one
  is right);
- a row whose key is already in the directory updates the columns the file gives, except
  `user_structures`, whose existing links stay as they are (a feed link stays a feed link);
  rows missing from the inventory are never deleted (R4: only the owner deletes);
- a share that a share purge removed (R5) is not brought back by an inventory exported
  before the purge: its row is reported in `purged_shares` (with the purge run) and skipped,
  until that purge is undone (`rentree run share-purge --undo RUN_ID`); a share made again
  by its owner since (present in the directory) is compared as any other row;
- CSV cells neutralised by rentree's formula-safe writer (`'=...`) are read back as written
  before neutralisation, so a CSV export imports back unchanged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from sqlalchemy import Connection, and_, bindparam, column, select, update
from sqlalchemy import table as sql_table

from rentree.contracts.content import (
    INVENTORY_TABLES,
    MEMBER_KINDS,
    PROBLEMS_SCHEMA,
    RECIPIENT_KINDS,
    REQUIRED_COLUMNS,
    UTC_DATETIME,
    check_contract,
    empty_problems,
    polars_schema,
    primary_key,
    table,
    table_columns,
)
from rentree.infra.db import insert_frame, read_frame, staging_table
from rentree.infra.naming import reports_prefix, school_year_of
from rentree.infra.reports import WrittenReport, write_report
from rentree.infra.runs import record_run
from rentree.infra.storage import ObjectStore
from rentree.tasks.sync.accounts import complete_local_accounts

FLOW_NAME = "content-import"
PURGED_SCHEMA = {"row": pl.Int64, "id": pl.String, "run_id": pl.String, "reason": pl.String}
REPORT_PHASE = "content-import"
_FORMULA_QUOTED = r"^'[=+\-@\t\r]"
_COMPOUND_KEY_SEPARATOR = " / "


class InventoryError(Exception):
    """The inventory cannot be used at all; the message is one sentence for the operator."""


# -- reading the files -------------------------------------------------------------------------


@dataclass(frozen=True)
class InventoryFile:
    """One table of the inventory as read: raw values, a 1-based `row`, the schema's columns."""

    table: str
    path: Path
    frame: pl.DataFrame
    provided: tuple[str, ...]
    ignored: tuple[str, ...]


def find_inventory_files(folder: Path) -> dict[str, Path]:
    """The inventory files of a folder, by table, in import order."""
    if not folder.is_dir():
        raise InventoryError(
            f"{folder} is not a folder; give the folder that holds the inventory files "
            "(users.parquet, shares.csv...)."
        )
    found: dict[str, Path] = {}
    for name in INVENTORY_TABLES:
        candidates = [
            p for p in (folder / f"{name}.parquet", folder / f"{name}.csv") if p.is_file()
        ]
        if len(candidates) > 1:
            raise InventoryError(
                f"{folder} holds both {name}.parquet and {name}.csv; keep only one of them."
            )
        if candidates:
            found[name] = candidates[0]
    if not found:
        raise InventoryError(
            f"{folder} holds no inventory file; expected some of "
            f"{', '.join(INVENTORY_TABLES)} as .parquet or .csv files."
        )
    return found


def _read_csv(path: Path) -> pl.DataFrame:
    with path.open("rb") as stream:
        first_line = stream.readline()
    try:
        header = first_line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InventoryError(f"{path} is not UTF-8 text; save it as UTF-8 CSV.") from None
    separator = ";" if header.count(";") > header.count(",") else ","
    try:
        frame = pl.read_csv(path, separator=separator, infer_schema=False)
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InventoryError(
            f"{path} cannot be read as CSV ({reason}); save it as UTF-8 CSV, one header line."
        ) from None
    frame = frame.rename({c: c.lstrip("\ufeff").strip() for c in frame.columns})
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_QUOTED))
        .then(pl.col(c).str.slice(1))
        .otherwise(pl.col(c))
        .alias(c)
        for c in frame.columns
    )


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InventoryError(
            f"{path} cannot be read as Parquet ({type(exc).__name__}); export it again."
        ) from None


def read_inventory_file(name: str, path: Path) -> InventoryFile:
    """Read one table's file and check that it has the columns a row needs."""
    raw = _read_csv(path) if path.suffix == ".csv" else _read_parquet(path)
    schema_columns = table_columns(name)
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in raw.columns]
    if missing:
        raise InventoryError(
            f"{path} lacks the column(s) {', '.join(missing)}; "
            f"{name} needs at least {', '.join(REQUIRED_COLUMNS[name])}."
        )
    provided = tuple(c for c in schema_columns if c in raw.columns)
    nested = [c for c in provided if raw.schema[c].is_nested() or raw.schema[c] == pl.Object]
    if nested:
        raise InventoryError(
            f"{path}: column(s) {', '.join(nested)} hold lists or structures; "
            "write one plain value per cell."
        )
    frame = (
        raw.select(provided)
        .with_row_index("row", offset=1)
        .with_columns(pl.col("row").cast(pl.Int64))
    )
    ignored = tuple(c for c in raw.columns if c not in schema_columns)
    return InventoryFile(table=name, path=path, frame=frame, provided=provided, ignored=ignored)


def read_inventory(folder: Path) -> list[InventoryFile]:
    """Every inventory file of the folder, read and checked before anything is imported."""
    return [read_inventory_file(name, path) for name, path in find_inventory_files(folder).items()]


# -- what the directory already knows ----------------------------------------------------------


@dataclass
class KnownIds:
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
        self.rejected[kind] = pl.concat([self.rejected.get(kind, _ids(None)), gone]).unique()


def _ids(series: pl.Series | None) -> pl.DataFrame:
    if series is None:
        return pl.DataFrame(schema={"id": pl.String})
    return series.cast(pl.String).alias("id").to_frame()


def read_known_ids(conn: Connection) -> KnownIds:
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
        return _ids(read_frame(conn, sql, schema_overrides={name: text})[name])

    return KnownIds(
        ids={
            "user": _ids(users["external_id"]),
            "structure": one("SELECT uai FROM structures", "uai"),
            "group": _ids(groups["group_id"]),
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


# -- checks beyond the contract ----------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A column naming something that must exist; `kind_column` says which kind when the
    column may name several (`kinds`)."""

    column: str
    kinds: tuple[str, ...]
    label: str
    kind_column: str | None = None


REFERENCES: dict[str, tuple[Reference, ...]] = {
    "user_structures": (
        Reference("user_external_id", ("user",), "user"),
        Reference("structure_uai", ("structure",), "school"),
    ),
    "groups": (Reference("owner_external_id", ("user",), "owner"),),
    "group_members": (
        Reference("group_id", ("group",), "group"),
        Reference("user_external_id", ("user",), "user"),
    ),
    "bookmarks": (Reference("owner_external_id", ("user",), "owner"),),
    "bookmark_members": (
        Reference("bookmark_id", ("bookmark",), "bookmark"),
        Reference("member_id", MEMBER_KINDS, "member", kind_column="member_kind"),
    ),
    "resources": (Reference("owner_external_id", ("user",), "owner"),),
    "shares": (
        Reference("resource_id", ("resource",), "resource"),
        Reference("recipient_id", RECIPIENT_KINDS, "recipient", kind_column="recipient_kind"),
    ),
}

# What an accepted row of a table brings for the next tables to name.
PROVIDES: dict[str, tuple[str, str]] = {
    "users": ("user", "external_id"),
    "groups": ("group", "group_id"),
    "bookmarks": ("bookmark", "bookmark_id"),
    "resources": ("resource", "resource_id"),
}


def _problems(frame: pl.DataFrame, reason: pl.Expr) -> pl.DataFrame:
    return frame.select("row", reason.alias("reason")).cast(PROBLEMS_SCHEMA)  # type: ignore[arg-type]


def duplicate_problems(name: str, frame: pl.DataFrame, provided: tuple[str, ...]) -> pl.DataFrame:
    """Keys given more than once: identical copies after the first, or every differing one."""
    key = primary_key(name)
    values = [c for c in provided if c not in key] or key
    marked = frame.with_columns(
        pl.len().over(key).alias("_copies"),
        pl.col("row").min().over(key).alias("_first"),
        pl.struct(values).hash().n_unique().over(key).alias("_versions"),
        pl.col("row").cast(pl.String).str.join(", ").over(key).alias("_rows"),
    ).filter(pl.col("_copies") > 1)
    label = pl.concat_str([pl.col(k).cast(pl.String) for k in key], separator=" / ")
    conflicting = marked.filter(pl.col("_versions") > 1)
    repeated = marked.filter((pl.col("_versions") == 1) & (pl.col("row") != pl.col("_first")))
    return pl.concat(
        [
            _problems(
                conflicting,
                pl.format(
                    "{} {} appears on rows {} with different values; keep one",
                    pl.lit(" / ".join(key)),
                    label,
                    pl.col("_rows"),
                ),
            ),
            _problems(
                repeated,
                pl.format("{} repeats row {}; the copy is skipped", label, pl.col("_first")),
            ),
        ]
    )


def reference_problems(name: str, frame: pl.DataFrame, known: KnownIds) -> pl.DataFrame:
    """Rows naming a user, school, group, bookmark or resource that does not exist."""
    parts: list[pl.DataFrame] = []
    for ref in REFERENCES.get(name, ()):
        named = frame.filter(pl.col(ref.column).is_not_null())
        if ref.kind_column is None:
            (kind,) = ref.kinds
            existing = known.ids[kind].rename({"id": ref.column})
            missing = named.join(existing, on=ref.column, how="anti")
            rejected = known.rejected.get(kind, _ids(None))
            kind_expr = pl.lit(kind)
            was_rejected = pl.col(ref.column).is_in(rejected["id"].implode())
        else:
            existing = pl.concat(
                [
                    known.ids[k].select(pl.lit(k).alias(ref.kind_column), pl.col("id"))
                    for k in ref.kinds
                ]
            ).rename({"id": ref.column})
            missing = named.join(existing, on=[ref.kind_column, ref.column], how="anti")
            rejected = pl.concat(
                [
                    known.rejected[k].select(pl.lit(k).alias("k"), pl.col("id"))
                    for k in ref.kinds
                    if k in known.rejected
                ]
                or [pl.DataFrame(schema={"k": pl.String, "id": pl.String})]
            )
            kind_expr = pl.col(ref.kind_column)
            was_rejected = pl.concat_str(
                [pl.col(ref.kind_column), pl.col(ref.column)], separator="\x1f"
            ).is_in(
                rejected.select(pl.concat_str(["k", "id"], separator="\x1f")).to_series().implode()
            )
        parts.append(
            _problems(
                missing,
                pl.when(was_rejected)
                .then(
                    pl.format(
                        "{} {} was rejected earlier in this import", kind_expr, pl.col(ref.column)
                    )
                )
                .otherwise(
                    pl.format(
                        "unknown {} {}: no such {} in the directory or the inventory",
                        pl.lit(ref.label),
                        pl.col(ref.column),
                        kind_expr,
                    )
                ),
            )
        )
    return pl.concat(parts) if parts else empty_problems()


def directory_problems(name: str, frame: pl.DataFrame, known: KnownIds) -> pl.DataFrame:
    """Rows that would overwrite what the feeds own, or take what belongs to someone else."""
    if name == "users":
        feed_owned = frame.join(
            known.users.filter(
                (pl.col("profile") != "Guest") | (pl.col("source") != "manual")
            ).select("external_id", pl.col("profile").alias("_profile")),
            on="external_id",
            how="inner",
        )
        taken = frame.join(
            known.users.select(pl.col("login"), pl.col("external_id").alias("_holder")),
            on="login",
            how="inner",
        ).filter(pl.col("_holder") != pl.col("external_id"))
        shared = frame.filter(pl.col("login").is_not_null() & (pl.len().over("login") > 1))
        return pl.concat(
            [
                _problems(
                    feed_owned,
                    pl.format(
                        "external id {} is a {} account from the feeds; "
                        "the inventory cannot change it",
                        pl.col("external_id"),
                        pl.col("_profile"),
                    ),
                ),
                _problems(
                    taken,
                    pl.format(
                        "login {} is already the login of {}; give another login",
                        pl.col("login"),
                        pl.col("_holder"),
                    ),
                ),
                _problems(
                    shared,
                    pl.format(
                        "login {} is given to several accounts of the inventory; give each its own",
                        pl.col("login"),
                    ),
                ),
            ]
        )
    if name == "groups":
        scolarite = frame.join(
            known.groups.filter(pl.col("kind") != "manual").select("group_id"),
            on="group_id",
            how="semi",
        )
        return _problems(
            scolarite,
            pl.format(
                "group id {} is a scolarité group made by rentree; give the manual group "
                "its own id",
                pl.col("group_id"),
            ),
        )
    if name == "group_members":
        scolarite = frame.join(
            known.groups.filter(pl.col("kind") != "manual").select("group_id"),
            on="group_id",
            how="semi",
        )
        return _problems(
            scolarite,
            pl.format(
                "members of scolarité group {} come from the feeds; "
                "only manual groups get members from the inventory",
                pl.col("group_id"),
            ),
        )
    return empty_problems()


def _with_logins(guests: pl.DataFrame, known: KnownIds) -> pl.DataFrame:
    """Guest rows without a login: an account already in the directory keeps its login; a
    new one gets a generated login and an activation code, as new pupils do (R2, R3)."""
    if "login" not in guests.columns or guests["login"].null_count() == 0:
        return guests
    current = known.users.select("external_id", pl.col("login").alias("_current"))
    kept = guests.join(current, on="external_id", how="left").with_columns(
        pl.coalesce("login", "_current").alias("login")
    )
    completed = complete_local_accounts(kept.drop("_current"), known.users["login"].drop_nulls())
    return completed.select(
        [c for c in guests.columns if c not in ("activation_code", "activation_state")]
        + ["activation_code", "activation_state"]
    )


# -- the plan: what the import would do --------------------------------------------------------


@dataclass(frozen=True)
class TablePlan:
    table: str
    file: str
    rows: int
    provided: tuple[str, ...]
    new: pl.DataFrame
    changed: pl.DataFrame
    unchanged: int
    rejects: pl.DataFrame  # table, row, id, reason
    purged: pl.DataFrame  # shares only: rows a share purge removed, skipped (PURGED_SCHEMA)
    ignored: tuple[str, ...]

    @property
    def rejected(self) -> int:
        return self.rejects.height


@dataclass(frozen=True)
class ContentPlan:
    tables: tuple[TablePlan, ...]

    @property
    def rejects(self) -> pl.DataFrame:
        frames = [t.rejects for t in self.tables]
        return pl.concat(frames) if frames else _rejects_frame(empty_problems(), "", [])

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables)


def _rejects_frame(problems: pl.DataFrame, name: str, key_values: list[pl.Series]) -> pl.DataFrame:
    return problems.select(
        pl.lit(name).alias("table"),
        "row",
        (
            pl.concat_str(key_values, separator=_COMPOUND_KEY_SEPARATOR, ignore_nulls=True)
            if key_values
            else pl.lit("")
        ).alias("id"),
        "reason",
    )


def _first_reason_per_row(problems: pl.DataFrame) -> pl.DataFrame:
    return problems.unique("row", keep="first", maintain_order=True)


def _existing_rows(conn: Connection, name: str, keys: pl.DataFrame) -> pl.DataFrame:
    """The directory's rows with the given keys (one join through a staging table)."""
    tbl = table(name)
    dtypes = polars_schema(name)
    # A first import meets an empty table: no need to stage millions of keys to learn it.
    if keys.is_empty() or conn.execute(select(tbl).limit(1)).first() is None:
        return pl.DataFrame(schema=dtypes)
    key = list(keys.columns)
    staged_name = staging_table(conn, f"content_{name}", keys, key)
    staged = sql_table(staged_name, *(column(k) for k in key))
    statement = select(*(tbl.c[c] for c in dtypes)).join(
        staged, and_(*(tbl.c[k] == staged.c[k] for k in key))
    )
    rows = conn.execute(statement).fetchall()
    return pl.DataFrame([tuple(r) for r in rows], schema=dtypes, orient="row")


def _split_new_and_changed(
    conn: Connection, name: str, accepted: pl.DataFrame, provided: tuple[str, ...]
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    key = primary_key(name)
    existing = _existing_rows(conn, name, accepted.select(key))
    new = accepted.join(existing.select(key), on=key, how="anti")
    present = accepted.join(existing.select(key), on=key, how="semi")
    compared = [c for c in provided if c not in key]
    if name == "user_structures" or not compared or present.is_empty():
        return new, present.clear(), present.height
    joined = present.join(existing.select(key + compared), on=key, suffix="_now")
    differs = pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_now")) for c in compared)
    changed = joined.filter(differs).select(present.columns)
    return new, changed, present.height - changed.height


def plan_table(conn: Connection, inventory: InventoryFile, known: KnownIds) -> TablePlan:
    """Check one table against its contract, itself and the directory; split what is left
    into new rows and changed rows. Accepted ids are added to `known` for the next tables."""
    name = inventory.table
    key = primary_key(name)
    typed, contract = check_contract(name, inventory.frame)
    problems = _first_reason_per_row(contract)
    stages = (
        lambda good: duplicate_problems(name, good, inventory.provided),
        lambda good: reference_problems(name, good, known),
        lambda good: directory_problems(name, good, known),
    )
    good = typed.join(problems.select("row"), on="row", how="anti")
    for stage in stages:
        found = _first_reason_per_row(stage(good))
        problems = pl.concat([problems, found])
        good = good.join(found.select("row"), on="row", how="anti")
    problems = problems.sort("row")
    if name == "users":
        good = _with_logins(good, known)
    rejected_rows = typed.join(problems.select("row"), on="row", how="semi").sort("row")
    if name in PROVIDES:
        kind, id_column = PROVIDES[name]
        known.add(kind, good[id_column], rejected_rows[id_column].drop_nulls())
        if name == "users":
            known.users = pl.concat(
                [known.users, good.select(known.users.columns)], how="vertical_relaxed"
            )
        if name == "groups":
            known.groups = pl.concat(
                [known.groups, good.select(known.groups.columns)], how="vertical_relaxed"
            )
    raw_keys = problems.join(
        inventory.frame.select(
            "row", *(pl.col(k).cast(pl.String) for k in key if k in inventory.frame.columns)
        ),
        on="row",
        how="left",
    )
    rejects = _rejects_frame(raw_keys, name, [raw_keys[k] for k in key if k in raw_keys.columns])
    new, changed, unchanged = _split_new_and_changed(
        conn, name, good.drop("row"), inventory.provided
    )
    purged = pl.DataFrame(schema=PURGED_SCHEMA)
    if name == "shares" and not known.purged_shares.is_empty():
        purged = (
            good.join(known.purged_shares, on=key, how="inner")
            .join(new.select(key), on=key, how="semi")
            .select(
                "row",
                pl.concat_str([pl.col(k) for k in key], separator=_COMPOUND_KEY_SEPARATOR).alias(
                    "id"
                ),
                "run_id",
                pl.format(
                    "removed by the share purge run {} (R5); not brought back unless that "
                    "purge is undone",
                    pl.col("run_id"),
                ).alias("reason"),
            )
            .sort("row")
        )
        new = new.join(known.purged_shares.select(key), on=key, how="anti")
    return TablePlan(
        table=name,
        file=str(inventory.path),
        rows=inventory.frame.height,
        provided=inventory.provided,
        new=new,
        changed=changed,
        unchanged=unchanged,
        rejects=rejects,
        purged=purged.cast(PURGED_SCHEMA),  # type: ignore[arg-type]
        ignored=inventory.ignored,
    )


def plan_content_import(conn: Connection, inventory: list[InventoryFile]) -> ContentPlan:
    """What importing the inventory would do; reads the directory, changes nothing in it."""
    known = read_known_ids(conn)
    order = {name: i for i, name in enumerate(INVENTORY_TABLES)}
    files = sorted(inventory, key=lambda f: order[f.table])
    return ContentPlan(tables=tuple(plan_table(conn, f, known) for f in files))


# -- applying it -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableOutcome:
    table: str
    rows: int
    imported: int
    updated: int
    unchanged: int
    rejected: int
    purged: int = 0  # shares a share purge removed: skipped, not an error


@dataclass(frozen=True)
class ContentImport:
    run_id: str
    dry_run: bool
    tables: tuple[TableOutcome, ...]
    rejects: pl.DataFrame
    reports: tuple[WrittenReport, ...]
    ignored_columns: dict[str, tuple[str, ...]]
    purged_shares: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PURGED_SCHEMA))

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables)

    @property
    def purged(self) -> int:
        return self.purged_shares.height

    def counts(self) -> pl.DataFrame:
        return pl.DataFrame(
            [vars(t) for t in self.tables],
            schema={
                "table": pl.String,
                "rows": pl.Int64,
                "imported": pl.Int64,
                "updated": pl.Int64,
                "unchanged": pl.Int64,
                "rejected": pl.Int64,
                "purged": pl.Int64,
            },
        )


def _apply_table(conn: Connection, plan: TablePlan, now: dt.datetime) -> None:
    name = plan.table
    tbl = table(name)
    new = plan.new
    if name == "users":
        new = new.with_columns(pl.col("created_at").fill_null(pl.lit(now, dtype=UTC_DATETIME)))
    insert_frame(conn, tbl, new)
    if plan.changed.is_empty():
        return
    key = primary_key(name)
    values = [c for c in plan.provided if c not in key]
    changed = plan.changed.select(key + values)
    if name == "users" and "updated_at" not in values:
        values.append("updated_at")
        changed = changed.with_columns(pl.lit(now, dtype=UTC_DATETIME).alias("updated_at"))
    statement = (
        update(tbl)
        .where(and_(*(tbl.c[k] == bindparam(f"k_{k}") for k in key)))
        .values({c: bindparam(f"v_{c}") for c in values})
    )
    renamed = changed.rename({**{k: f"k_{k}" for k in key}, **{c: f"v_{c}" for c in values}})
    conn.execute(statement, renamed.to_dicts())


def new_run_id(now: dt.datetime) -> str:
    return f"{FLOW_NAME}-{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def import_content(
    conn: Connection,
    store: ObjectStore,
    inventory: list[InventoryFile],
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> ContentImport:
    """Import the inventory in one transaction (the caller's), write the reports, record the
    run. With `dry_run` the directory is left as it is; the reports say what would happen."""
    now = now or dt.datetime.now(dt.UTC)
    run_id = new_run_id(now)
    plan = plan_content_import(conn, inventory)
    if not dry_run:
        for table_plan in plan.tables:
            _apply_table(conn, table_plan, now)
    outcome = ContentImport(
        run_id=run_id,
        dry_run=dry_run,
        tables=tuple(
            TableOutcome(
                table=t.table,
                rows=t.rows,
                imported=t.new.height,
                updated=t.changed.height,
                unchanged=t.unchanged,
                rejected=t.rejected,
                purged=t.purged.height,
            )
            for t in plan.tables
        ),
        rejects=plan.rejects,
        reports=(),
        ignored_columns={t.table: t.ignored for t in plan.tables if t.ignored},
        purged_shares=pl.concat([t.purged for t in plan.tables]),
    )
    prefix = reports_prefix(school_year_of(now.date()), REPORT_PHASE, run_id)
    reports = (
        write_report(store, prefix, "rejects", outcome.rejects),
        write_report(store, prefix, "counts", outcome.counts()),
        write_report(store, prefix, "purged_shares", outcome.purged_shares),
    )
    record_run(
        conn,
        run_id=run_id,
        flow=FLOW_NAME,
        school_year=None,
        started_at=now,
        status="completed",
        dry_run=dry_run,
        summary={
            "tables": [vars(t) for t in outcome.tables],
            "rejects_report": reports[0].csv_key,
        },
    )
    return ContentImport(
        run_id=outcome.run_id,
        dry_run=outcome.dry_run,
        tables=outcome.tables,
        rejects=outcome.rejects,
        reports=reports,
        ignored_columns=outcome.ignored_columns,
        purged_shares=outcome.purged_shares,
    )
