"""Checking AAF files and deliveries, and the validation report ("rapport de validation").

`files.check_file` reads and checks one file on its own; `delivery.assess_delivery` then runs
the checks across the files of one delivery and decides, with the severities of feeds.md,
whether the delivery is usable; `report` turns every problem into one row with a French and an
English sentence and the support channel that can fix it; `local` is `rentree validate` on
files and folders.
"""

from rentree.tasks.intake.validate.delivery import (
    Assessment,
    assess_delivery,
    known_from_files,
    lookups,
    not_used_note,
)
from rentree.tasks.intake.validate.files import (
    CheckContext,
    FileCheck,
    FileProblem,
    StoredFile,
    check_file,
    check_not_used,
    check_stored_file,
    school_year_for,
    scope_ids,
)
from rentree.tasks.intake.validate.local import (
    FileGroup,
    Verdict,
    collect_files,
    group_files,
    validate_groups,
)
from rentree.tasks.intake.validate.report import (
    ACADEMY_CHANNEL,
    REPORT_SCHEMA,
    SUPPORT_CHANNELS,
    report_rows,
    write_validation_report,
)

__all__ = [
    "ACADEMY_CHANNEL",
    "REPORT_SCHEMA",
    "SUPPORT_CHANNELS",
    "Assessment",
    "CheckContext",
    "FileCheck",
    "FileGroup",
    "FileProblem",
    "StoredFile",
    "Verdict",
    "assess_delivery",
    "check_file",
    "check_not_used",
    "check_stored_file",
    "collect_files",
    "group_files",
    "known_from_files",
    "lookups",
    "not_used_note",
    "report_rows",
    "school_year_for",
    "scope_ids",
    "validate_groups",
    "write_validation_report",
]
