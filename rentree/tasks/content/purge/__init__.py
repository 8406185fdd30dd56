"""The share purge ("purge des partages", R5), its pre-purge notice (R6) and its undo.

Shares made to a scolarité group of the closing year stop granting access at rollover; shares
to people, to share bookmarks and to manual groups stay. Resources are never touched (R4):
every statement here reads or writes `shares`, `purge_journal` and `change_log` only.

Everything is set-based: the plan is one query (plus the school names), the apply and the
undo are a handful of `INSERT ... SELECT` / `DELETE ... WHERE (...) IN (SELECT ...)`
statements whatever the number of shares, run inside the caller's transaction.
"""
