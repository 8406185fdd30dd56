"""Configuration from the environment (or a `.env` file), read once per command."""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ATTACH_REQUESTS_MAX_ROWS = 250_000


class ConfigurationError(Exception):
    """A configuration value cannot be used; the message is one sentence for the operator."""


class Academy(BaseModel):
    """One academy of the region: its code (as its AAF export's `codeAcademieExport` says
    it, and the folder its deliveries land in) and its name."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^[A-Za-z0-9]{1,8}$")
    name: str = Field(min_length=1)


class Settings(BaseSettings):
    """Every knob an operator can turn, with the embedded defaults of a demo machine."""

    model_config = SettingsConfigDict(
        env_prefix="RENTREE_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = "sqlite:///./var/rentree.db"
    storage_url: str = "./var/storage"
    s3_endpoint_url: str | None = None
    # An unreachable endpoint is reported after this, not after botocore's minute of retries.
    s3_connect_timeout_seconds: float = Field(3.0, gt=0)
    s3_max_attempts: int = Field(3, ge=1)
    # How long a presigned report link stays valid (S3 stores only; S3 allows 7 days at most).
    report_link_expiry_seconds: int = Field(7 * 24 * 3600, gt=0, le=7 * 24 * 3600)
    # Where the report server answers (set by `rentree serve` for a local storage folder):
    # the runs' report links point there instead of file:// paths a browser refuses.
    report_server_url: str | None = None
    report_server_port: int = Field(4300, ge=0, le=65535)

    # Hold thresholds (operations.md): share of unexpected newly-missing people.
    hold_school_missing_ratio: float = Field(0.05, ge=0, le=1)
    hold_region_missing_ratio: float = Field(0.02, ge=0, le=1)
    hold_purge_max_shares: int = Field(50_000, ge=0)
    # A file with more invalid records than this share rejects the whole delivery (feeds.md).
    invalid_record_ratio: float = Field(0.05, ge=0, le=1)
    # A school must have at least this many people before its own ratio can hold a delivery,
    # so that one pupil leaving a three-pupil school does not stop the region.
    hold_school_min_people: int = Field(20, ge=0)

    # retire-missing (R11): grace periods in days from the missing mark, and how long the
    # notice to those who share with a person is up before the person is deactivated.
    retire_deactivate_after_days: int = Field(90, ge=0)
    retire_remove_after_days: int = Field(90, ge=0)
    retire_notice_days: int = Field(14, ge=0)

    # Storage quotas, per profile family, in bytes.
    quota_staff_bytes: int = Field(2 * 1024**3, gt=0)
    quota_family_bytes: int = Field(500 * 1024**2, gt=0)

    # ONDE switch detection window (month-day, inclusive), for the hourly schedule.
    switch_window_start: str = Field("08-25", pattern=r"^\d{2}-\d{2}$")
    switch_window_end: str = Field("10-15", pattern=r"^\d{2}-\d{2}$")

    # How the parallel parts of a flow run: threads, processes, or a Dask cluster.
    task_runner: Literal["threads", "processes", "dask"] = "threads"
    dask_address: str | None = None
    max_workers: int = Field(2, ge=1)
    # With `dask`, a delivery whose files to check weigh less than this (MB) is checked on
    # threads: a cluster's start (tens of seconds) outweighs what it saves on a staff file or
    # a Delta of a few MB; a region's full family delivery (about 1 GB) goes to Dask. 0: always.
    dask_min_delivery_mb: int = Field(256, ge=0)

    # attach-teachers: the most requests one list may hold (a region has about 25,000 classes).
    attach_requests_max_rows: int = Field(ATTACH_REQUESTS_MAX_ROWS, ge=1)

    # On SQLite, how long a writer waits for another one (saying so) before it gives up.
    sqlite_lock_patience_seconds: int = Field(3600, ge=0)

    # The directory's concurrency slot: the lease a run renews while it lives (Prefect frees
    # the slot of a run that stopped once its lease ends; 60 s is Prefect's least), and how
    # often a run waiting for the slot says who holds it.
    directory_lease_seconds: int = Field(60, ge=60)
    directory_wait_notice_seconds: int = Field(15, ge=1)

    # How long an approval form waits in the UI before the hold stays pending.
    approval_timeout_seconds: int = Field(3600, ge=0)

    # The region's academies (`09=Lille,20=Amiens`, or JSON). With one or none, deliveries
    # land in landing/<year>/ and ids are kept as delivered; with several, each academy's in
    # landing/<year>/<code>/ and every feed id is scoped by its code.
    academies: Annotated[tuple[Academy, ...], NoDecode] = ()

    @field_validator("academies", mode="before")
    @classmethod
    def _academy_list(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("not a JSON list of {code, name}") from None
        if isinstance(value, str):
            pairs = [p.strip() for p in value.split(",") if p.strip()]
            parsed = []
            for pair in pairs:
                code, sep, name = pair.partition("=")
                if not sep:
                    raise ValueError("write each academy as code=name, e.g. 09=Lille,20=Amiens")
                parsed.append({"code": code.strip(), "name": name.strip()})
            return parsed
        return value

    @field_validator("academies")
    @classmethod
    def _distinct_codes(cls, value: tuple[Academy, ...]) -> tuple[Academy, ...]:
        codes = [a.code for a in value]
        if len(set(codes)) != len(codes):
            raise ValueError("two academies have the same code")
        return value

    def academy_codes(self) -> tuple[str | None, ...]:
        """The academies deliveries are taken from: (None,) for a one-academy region (the
        landing/<year>/ layout, ids as delivered), else every configured code."""
        if len(self.academies) < 2:
            return (None,)
        return tuple(a.code for a in self.academies)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        if not url.startswith(("sqlite:", "postgresql+psycopg:", "postgresql:")):
            raise ValueError(
                "rentree runs on SQLite (sqlite:///path) or PostgreSQL "
                "(postgresql+psycopg://user@host/db)"
            )
        if url.startswith("postgresql:"):
            # psycopg 3 is the driver installed with rentree
            url = "postgresql+psycopg:" + url.removeprefix("postgresql:")
        url = _encode_password(url)
        try:
            make_url(url)
        except (ArgumentError, ValueError):
            # the parser's own message may quote a piece of the password: not shown
            raise ValueError(
                "not a database URL; write postgresql+psycopg://user:password@host:port/db"
            ) from None
        return url

    @cached_property
    def is_s3(self) -> bool:
        return self.storage_url.startswith("s3://")

    def local_storage_root(self) -> Path:
        url = self.storage_url
        return Path(url.removeprefix("file://")) if url.startswith("file://") else Path(url)


# The user-info of a URL: from `://` to the LAST `@` of the URL's first part, so that a
# password holding a raw `@` (or `:`, `/`) is taken whole.
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][\w+.-]*://)(?P<user>[^:@/\s]*):(?P<password>[^\s?#]*)@"
)


def _encode_password(url: str) -> str:
    """The URL with its password percent-encoded, so that a raw `@` in it is not read as
    the end of the user-info (SQLAlchemy would take the rest of the password for the host,
    and print it in every connection error)."""
    match = _USERINFO.match(url)
    if match is None:
        return url
    password = quote(unquote(match["password"]), safe="")
    return f"{match['scheme']}{match['user']}:{password}@{url[match.end() :]}"


def redact_url(text: str) -> str:
    """Any URL password in a text replaced by `***`, whatever the URL's shape (a raw `@` in
    the password, an empty user name)."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a wrong value raises one sentence that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        # a URL's password never reaches a message (operations.md: no secrets in logs)
        value = redact_url(str(first.get("input")))
        raise ConfigurationError(
            f"RENTREE_{field.upper()}={value!r} is not usable ({redact_url(first['msg'])}); "
            "fix it in the environment or in .env."
        ) from None
