"""R11's second half: people missing from the feeds past the grace periods are first
deactivated (after a notice to those who share with them), then retired from the directory
("désactivation" then "suppression"); their productions are handed over, never deleted (R4).

`eligibility` says who is due (grace periods counted from the missing mark, marks of the
rollover transition counted once the new year's complete delivery confirms them, guests and
people with a manual link left out), `notice` writes the notice, `plan` puts a run together
(with its hold reasons), `journal` records every row a run changes so that `undo` puts it
back, `stages` counts the accounts in each stage per school.
"""
