"""The one translator of errors into sentences that hold no record value.

A database driver's error quotes the statement, its parameters and the offending row (names,
INEs, activation codes); an error of a data library may quote the values it choked on. None
of that may reach a console, a log, a `runs` row, a report or Prefect (its state messages,
events and persisted results). So:

- every database error is replaced where SQLAlchemy raises it (`infra.engine.make_engine` hooks
  `translate_database_error`) by a `DatabaseError`: what failed (the kind, the table and
  constraint) in one sentence, never a value;
- `safe_sentence(exc)` is what any boundary (a delivery's apply, a run, the CLI) may say of an
  exception: rentree's own sentences as they are, a database error's sentence, and for any
  other error only its type;
- a `SafeError` never shows the exception it replaced (no cause, no context in tracebacks).
"""

from __future__ import annotations

import re
from typing import Any

# SQLite messages that name only the constraint, table and column (never a value).
_SQLITE_SAFE = re.compile(
    r"^((UNIQUE|NOT NULL|CHECK|FOREIGN KEY) constraint failed(: [\w.,\s]+)?"
    r"|database or disk is full|database is locked|disk I/O error|no such table: \w+"
    r"|table \w+ has no column named \w+|attempt to write a readonly database)$"
)

# PostgreSQL SQLSTATE classes and codes, in words (the driver's text may quote values).
_SQLSTATE = {
    "23505": "a unique constraint",
    "23502": "a not-null constraint",
    "23503": "a foreign key",
    "23514": "a check constraint",
    "53100": "the database's disk is full",
    "53200": "the database server is out of memory",
    "40P01": "a deadlock with another transaction",
    "40001": "a serialisation failure (another transaction changed the same rows)",
    "57014": "the statement was cancelled (timeout or operator)",
    "57P01": "the database server shut down",
    "22": "a value the column's type does not accept",
    "08": "the connection to the database was lost",
    "42": "a statement the schema does not accept (is the schema upgraded? run rentree init)",
}

# The DB-API's exception classes (PEP 249), which both drivers' classes derive from.
_DBAPI_KINDS = (
    "IntegrityError",
    "OperationalError",
    "DataError",
    "ProgrammingError",
    "InternalError",
    "NotSupportedError",
    "InterfaceError",
    "DatabaseError",
)

ADVICE = "nothing of it was committed; fix the cause and run it again"


class _Hidden:
    """An exception's link to another that always reads None and ignores what is set."""

    def __get__(self, instance: object, owner: type | None = None) -> None:
        return None

    def __set__(self, instance: object, value: Any) -> None:
        pass


class SafeError(Exception):
    """An error whose message is one sentence without any record value.

    It replaces another exception, whose text may hold values: tracebacks never show that
    one (the `raise ... from` chain of SQLAlchemy and Prefect is hidden, not only suppressed).
    """

    __cause__ = _Hidden()
    __context__ = _Hidden()


class DatabaseError(SafeError):
    """A database error, in one sentence. `kind` is the driver's class name
    (IntegrityError, OperationalError...), `locked` says SQLite's writer lock timed out."""

    def __init__(self, sentence: str, *, kind: str, locked: bool = False) -> None:
        super().__init__(sentence)
        self.kind = kind
        self.locked = locked


class RunFailed(SafeError):
    """A run or a delivery stopped by an error of another kind, said without its text."""


def describe_database_error(
    orig: BaseException, table: str | None = None, database: str = "sqlite"
) -> DatabaseError:
    """The sentence for a driver's error (sqlite3 or psycopg): what, never a value.
    `database` is the dialect's name: an error raised before the driver (SQLAlchemy's own)
    is said of that database, by its type only."""
    kind = next((c.__name__ for c in type(orig).__mro__ if c.__name__ in _DBAPI_KINDS), "Error")
    where = f" on the table {table}" if table else ""
    diag = getattr(orig, "diag", None)
    if diag is None and database == "postgresql":
        return DatabaseError(
            f"PostgreSQL refused the change{where}: {type(orig).__name__}", kind=kind
        )
    if diag is not None:  # psycopg
        code = str(getattr(diag, "sqlstate", "") or "")
        if not code and kind in ("OperationalError", "InterfaceError"):
            # a connection that failed: psycopg names the host and port, never the password
            reason = str(orig).strip().splitlines()[0] if str(orig).strip() else kind
            return DatabaseError(f"the database cannot be reached ({reason})", kind=kind)
        what = _SQLSTATE.get(code) or _SQLSTATE.get(code[:2]) or f"SQLSTATE {code or '?'}"
        constraint = getattr(diag, "constraint_name", None)
        target = getattr(diag, "table_name", None) or table
        named = f" ({constraint})" if constraint else ""
        on = f" on the table {target}" if target else ""
        return DatabaseError(f"PostgreSQL refused the change{on}: {what}{named}", kind=kind)
    first = str(orig).splitlines()[0].strip() if str(orig) else ""
    locked = first == "database is locked"
    said = first if _SQLITE_SAFE.match(first) else type(orig).__name__
    return DatabaseError(f"SQLite refused the change{where}: {said}", kind=kind, locked=locked)


def _table_of(statement: str | None) -> str | None:
    if not statement:
        return None
    match = re.search(r'\b(?:INTO|UPDATE|FROM|COPY)\s+"?(\w+)"?', statement, re.IGNORECASE)
    return match.group(1) if match else None


def translate_database_error(context: Any) -> DatabaseError | None:
    """SQLAlchemy's `handle_error` hook: the error SQLAlchemy raises instead of its own."""
    if context.is_pre_ping:
        return None  # the pool's liveness check handles its own errors
    orig = context.original_exception
    if isinstance(orig, SafeError):
        return None
    return describe_database_error(orig, _table_of(context.statement), context.dialect.name)


def is_own_sentence(exc: BaseException) -> bool:
    """Whether an exception's message is one of rentree's own sentences (which never quote
    a record's values), rather than a library's text."""
    return isinstance(exc, SafeError) or type(exc).__module__.startswith("rentree.")


def safe_sentence(exc: BaseException) -> str:
    """What may be said of an exception anywhere: its sentence, or only its type."""
    if is_own_sentence(exc) and str(exc):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return (
        f"an unexpected {type(exc).__name__} (its text is left out: it may quote the data; "
        "the code's place is in the run's log)"
    )
