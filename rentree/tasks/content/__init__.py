"""Content and reports: inventory, share purge (R5, R6), bookmarks (R13), storage, status."""
