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
