"""The directory database (SQLAlchemy 2 Core): one metadata, the same on SQLite and PostgreSQL.

Ids are strings everywhere (storage.md): external ids from the feeds, and the class and
scolarité-group ids that `infra.naming` makes.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(64)
LONG_ID = String(200)

# Rollover phase of a school year, in timeline order (domain.md).
PHASES = ("open", "frozen", "staff-import", "switched", "family-import", "purged", "closed")

school_years = Table(
    "school_years",
    metadata,
    Column("school_year", String(9), primary_key=True),
    Column("phase", String(20), nullable=False, default="open"),
    Column("frozen_at", DateTime(timezone=True)),
    Column("onde_switched_at", DateTime(timezone=True)),
    Column("onde_switch_source", String(20)),  # detected | operator
)

structures = Table(
    "structures",
    metadata,
    Column("external_id", ID, primary_key=True),
    Column("uai", String(8), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("type", String(20), nullable=False),  # maternelle | elementaire | primaire
    Column("district", String(200)),
    Column("town", String(200)),
    Column("postcode", String(5)),
    Column("rpi", String(64)),
    Column("missing_since", Date),
)

classes = Table(
    "classes",
    metadata,
    Column("external_id", LONG_ID, primary_key=True),  # <year>:<UAI>:<code>
    Column("structure_uai", String(8), nullable=False),
    Column("school_year", String(9), nullable=False),
    Column("code", String(100), nullable=False),
    Column("label", String(200), nullable=False),
    Column("levels", String(100), nullable=False, default=""),  # comma-separated
    Index(None, "school_year", "structure_uai"),
)

users = Table(
    "users",
    metadata,
    Column("external_id", ID, primary_key=True),
    Column("profile", String(12), nullable=False),  # Teacher Personnel Student Relative Guest
    Column("source", String(8), nullable=False),  # feed | manual
    Column("identity", String(14), nullable=False),  # academic_sso | educonnect | local
    Column("login", String(80), unique=True),
    Column("ine", String(11)),
    Column("first_name", String(200), nullable=False, default=""),
    Column("last_name", String(200), nullable=False, default=""),
    Column("birth_date", Date),
    Column("email", String(254)),
    Column("mobile", String(40)),
    Column("address", String(400)),
    Column("postcode", String(10)),
    Column("city", String(200)),
    Column("level", String(3)),  # students: current level
    Column("activation_code", String(8)),
    Column("activation_state", String(10), nullable=False, default="none"),  # none|pending|active
    Column("quota_bytes", BigInteger),
    Column("missing_since", Date),
    # R11's first stage: a deactivated account cannot log in (retire-missing sets it; a
    # return in a feed clears it, R1)
    Column("deactivated_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True)),
    Index(None, "ine"),
    Index(None, "profile", "missing_since"),
)

# R1: feed ids under which an account was found by INE after its feed id changed; the
# account keeps its own external_id (productions, shares and logins are keyed on it).
user_feed_ids = Table(
    "user_feed_ids",
    metadata,
    Column("feed_external_id", ID, primary_key=True),
    Column("user_external_id", ID, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index(None, "user_external_id"),
)

user_structures = Table(
    "user_structures",
    metadata,
    Column("user_external_id", ID, primary_key=True),
    Column("structure_uai", String(8), primary_key=True),
    Column("source", String(8), nullable=False),  # feed | manual
    Column("director", Boolean, nullable=False, default=False),
    Index(None, "structure_uai"),
)

user_classes = Table(
    "user_classes",
    metadata,
    Column("user_external_id", ID, primary_key=True),
    Column("class_external_id", LONG_ID, primary_key=True),
    Column("school_year", String(9), nullable=False),
    Column("source", String(8), nullable=False),  # feed | manual (teacher attachments)
    Index(None, "class_external_id"),
    Index(None, "school_year"),
)

relations = Table(
    "relations",
    metadata,
    Column("student_external_id", ID, primary_key=True),
    Column("relative_external_id", ID, primary_key=True),
    Index(None, "relative_external_id"),
)

groups = Table(
    "groups",
    metadata,
    Column("group_id", LONG_ID, primary_key=True),
    Column("kind", String(10), nullable=False),  # scolarite | manual
    Column("school_year", String(9)),
    Column("structure_uai", String(8)),
    Column("class_external_id", LONG_ID),
    Column("audience", String(10)),  # students relatives teachers staff all
    Column("name", String(300), nullable=False),
    Column("owner_external_id", ID),
    Index(None, "kind", "school_year"),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", LONG_ID, primary_key=True),
    Column("user_external_id", ID, primary_key=True),
    Index(None, "user_external_id"),
)

bookmarks = Table(
    "bookmarks",
    metadata,
    Column("bookmark_id", ID, primary_key=True),
    Column("owner_external_id", ID, nullable=False),
    Column("name", String(300), nullable=False),
    Index(None, "owner_external_id"),
)

bookmark_members = Table(
    "bookmark_members",
    metadata,
    Column("bookmark_id", ID, primary_key=True),
    Column("member_kind", String(5), primary_key=True),  # user | group
    Column("member_id", LONG_ID, primary_key=True),
)

resources = Table(
    "resources",
    metadata,
    Column("resource_id", ID, primary_key=True),
    Column("owner_external_id", ID, nullable=False),
    Column("app", String(40), nullable=False),
    Column("area", String(10), nullable=False),  # inbox sent trash | own apps trash
    Column("size_bytes", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True)),
    # covering: the storage report's GROUP BY is one scan of it (revision 0006)
    Index(None, "owner_external_id", "app", "area", "size_bytes"),
)

shares = Table(
    "shares",
    metadata,
    Column("resource_id", ID, primary_key=True),
    Column("recipient_kind", String(8), primary_key=True),  # user | group | bookmark
    Column("recipient_id", LONG_ID, primary_key=True),
    Column("rights", String(8), nullable=False),  # read | contrib | manage
    Index(None, "recipient_kind", "recipient_id"),
)

# -- bookkeeping -------------------------------------------------------------------------------

feed_files = Table(
    "feed_files",
    metadata,
    # naming.ledger_hash: a digest of the academy, the feed type and the bytes' sha256
    Column("content_hash", String(64), primary_key=True),
    Column("file_name", String(300), nullable=False),
    Column("school_year", String(9), nullable=False),
    Column("file_type", String(14), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("extraction_date", Date, nullable=False),
    Column("chunk", Integer, nullable=False),
    Column("status", String(12), nullable=False),  # applied | held | quarantined
    Column("run_id", ID),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # why a file is held or was quarantined by a decision: the rule code (R7, R9, order,
    # freeze, stale-year, rejected) and one sentence for the operator
    Column("held_rule", String(20)),
    Column("reason", Text),
    # the academy that delivered the file, in a region of several (ordering is per academy)
    Column("academy", String(8)),
    Index(None, "school_year", "file_type", "extraction_date"),
)

# What the last full apply of each feed type left behind: a digest of its validated records
# and the directory fingerprint right after it. A Complet delivered again with the same
# records onto the same directory has nothing to change: the plan stops there, without
# reading the directory (tasks.sync.records).
feed_states = Table(
    "feed_states",
    metadata,
    Column("school_year", String(9), primary_key=True),
    Column("file_type", String(14), primary_key=True),
    Column("records", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),  # sha256 of the sorted record hashes
    Column("fingerprint", String(64), nullable=False),  # directory_fingerprint after the apply
    Column("run_id", ID),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("flow", String(40), nullable=False),
    Column("school_year", String(9)),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(12), nullable=False),  # running completed failed held
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("summary", JSON),
    Index(None, "flow", "started_at"),
)

change_log = Table(
    "change_log",
    metadata,
    Column(
        "change_id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("run_id", ID, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("entity", String(30), nullable=False),
    Column("entity_id", String(300), nullable=False),
    Column("operation", String(20), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    # No index on run_id: every row of a first import would pay for it (a third of the log's
    # insert); a run's rows are found by the change_id span its commit records.
)

holds = Table(
    "holds",
    metadata,
    Column("hold_id", ID, primary_key=True),
    Column("school_year", String(9), nullable=False),
    Column("kind", String(20), nullable=False),  # delivery | share_purge
    Column("delivery", String(8)),  # YYYYMMDD
    Column("status", String(10), nullable=False),  # pending approved rejected
    Column("reason", Text, nullable=False),
    Column("summary", JSON),
    Column("fingerprint", String(64)),  # directory state the change set was computed on
    Column("change_set_key", String(400)),
    Column("run_id", ID),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
    Column("decided_by", String(200)),
)

pending_attachments = Table(
    "pending_attachments",
    metadata,
    Column("teacher_external_id", ID, primary_key=True),
    Column("class_external_id", LONG_ID, primary_key=True),
    Column("school_year", String(9), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("run_id", ID),
)

late_entries = Table(
    "late_entries",
    metadata,
    Column("school_year", String(9), primary_key=True),
    Column("structure_uai", String(8), primary_key=True),
    Column("level", String(3), primary_key=True),
    Column("detected_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
)

purge_journal = Table(
    "purge_journal",
    metadata,
    Column("run_id", ID, primary_key=True),
    Column("resource_id", ID, primary_key=True),
    Column("recipient_kind", String(8), primary_key=True),
    Column("recipient_id", LONG_ID, primary_key=True),
    Column("rights", String(8), nullable=False),
    Column("school_year", String(9), nullable=False),
    Column("purged_at", DateTime(timezone=True), nullable=False),
    Column("undone_at", DateTime(timezone=True)),
    # derived read-only shares created by the "keep for members" option, undone with the rest
    Column("derived", Boolean, nullable=False, default=False),
)

# -- retirement of people missing past the grace periods (R11, `retire-missing`) ------------

# When the notice about a person about to be deactivated was written: the deactivation waits
# the notice period after it. Cleared when the person comes back in a feed.
retirement_notices = Table(
    "retirement_notices",
    metadata,
    Column("user_external_id", ID, primary_key=True),
    Column("run_id", ID, nullable=False),
    Column("noticed_at", DateTime(timezone=True), nullable=False),
    Index(None, "run_id"),
)

# Every row a retire-missing run changed or removed, as it was before (a JSON object of the
# row's columns), so that `undo` puts back exactly that; kept for the second grace period.
retirement_journal = Table(
    "retirement_journal",
    metadata,
    Column(
        "change_id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("run_id", ID, nullable=False),
    Column("stage", String(10), nullable=False),  # deactivate | retire
    Column("entity", String(30), nullable=False),  # the table the row belongs to
    Column("entity_id", String(300), nullable=False),  # its primary key, parts joined by |
    Column("row", JSON, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("undone_at", DateTime(timezone=True)),
    Index(None, "run_id", "entity"),
    Index(None, "entity", "entity_id"),
)
