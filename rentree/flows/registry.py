"""The phase flows by their names (the CLI and the demo look them up here)."""

from __future__ import annotations

from typing import Any

# Flows that change the directory: they take `dry_run` and hold the directory guard.
CHANGING_FLOWS = frozenset(
    {
        "freeze",
        "staff-import",
        "onde-switch",
        "family-import",
        "attach-teachers",
        "share-purge",
        "retire-missing",
    }
)


def flow_by_name(name: str) -> Any:
    """The flow object; imported on demand so that a command loads only what it runs."""
    if name == "freeze":
        from rentree.flows.freeze import freeze

        return freeze
    if name == "staff-import":
        from rentree.flows.staff_import import staff_import

        return staff_import
    if name == "onde-switch":
        from rentree.flows.onde_switch import onde_switch

        return onde_switch
    if name == "family-import":
        from rentree.flows.family_import import family_import

        return family_import
    if name == "attach-teachers":
        from rentree.flows.attach_teachers import attach_teachers

        return attach_teachers
    if name == "share-purge":
        from rentree.flows.share_purge import share_purge

        return share_purge
    if name == "retire-missing":
        from rentree.flows.retire_missing import retire_missing

        return retire_missing
    if name == "storage-report":
        from rentree.flows.storage_report import storage_report

        return storage_report
    if name == "nightly":
        from rentree.flows.nightly import nightly

        return nightly
    raise KeyError(name)
