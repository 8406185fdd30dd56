"""The places a user's space is counted in (domain.md: messaging inbox, sent and trash;
documents own, added in the apps and trash; every other app), and the quota alert
threshold: the vocabulary the storage figures and charts share."""

from __future__ import annotations

import polars as pl

# (column, app, area): the places domain.md names; `other_apps` is everything else.
AREAS: tuple[tuple[str, str, str], ...] = (
    ("messaging_inbox", "messaging", "inbox"),
    ("messaging_sent", "messaging", "sent"),
    ("messaging_trash", "messaging", "trash"),
    ("documents_own", "documents", "own"),
    ("documents_apps", "documents", "apps"),
    ("documents_trash", "documents", "trash"),
)
OTHER_APPS = "other_apps"
AREA_COLUMNS: tuple[str, ...] = (*(c for c, _, _ in AREAS), OTHER_APPS)
AREA_LABELS = {
    "messaging_inbox": "Messagerie : reçus / inbox",
    "messaging_sent": "Messagerie : envoyés / sent",
    "messaging_trash": "Messagerie : corbeille / trash",
    "documents_own": "Documents : mes dossiers / own",
    "documents_apps": "Documents ajoutés dans les applis / added in the apps",
    "documents_trash": "Documents : corbeille / trash",
    "other_apps": "Autres applis / other apps",
}
TRASH_COLUMNS = ("messaging_trash", "documents_trash")
# Users above this share of their quota are listed (operations.md).
QUOTA_ALERT_RATIO = 0.8


def area_of(app: pl.Expr, area: pl.Expr) -> pl.Expr:
    """The place column of each (app, area) pair; `other_apps` for anything else."""
    places = {f"{app_name}/{area_name}": name for name, app_name, area_name in AREAS}
    return (
        pl.concat_str([app, area], separator="/")
        .replace_strict(places, default=OTHER_APPS, return_dtype=pl.String)
        .fill_null(OTHER_APPS)
    )
