"""R10: a teacher is attached to a class ("rattachement enseignant – classe") only once at
least one student of that class is in the ENT; until then the request waits, pending, and is
applied by itself when a student arrives.

Every request is decided in one set-based pass (a staging table joined to the directory):
- attached: valid teacher (profile Teacher, not missing), known class with a present
  student: a `user_classes` link (source manual) and membership of `<class id>:teachers`;
- pending (kept in `pending_attachments` with the reason): the class has no student yet,
  the class is not in the ENT yet (classes appear with the family import), or the teacher
  is marked missing;
- refused (not kept): unknown teacher, a person who is not a teacher, a class id that
  cannot exist: not of the form `<school-year>:<UAI>:<code>`, a school the ENT does not
  know, or a school year that is not the current one (a closed year's class never gets a
  pupil again). Only a well-formed class of the current year may wait.

`decide` decides requests (reads only), `apply` carries a decision out, `pending` keeps the
pending list, `on_arrival` decides that list again when students arrive (a family import),
`school_team` asks for a school's whole teaching team, `request_lists` reads an operator's
list of requests and writes the reports of their outcome.
"""
