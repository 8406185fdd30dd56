"""The directory's vocabulary, stated once: school levels and account profiles."""

from __future__ import annotations

# School levels ("niveaux"), youngest first: maternelle TPS..GS, élémentaire CP..CM2.
LEVELS: tuple[str, ...] = ("TPS", "PS", "MS", "GS", "CP", "CE1", "CE2", "CM1", "CM2")

# Account profiles: staff come from PersEducNat; pupils, relatives and guests are families'.
STAFF_PROFILES: tuple[str, ...] = ("Teacher", "Personnel")
FAMILY_PROFILES: tuple[str, ...] = ("Student", "Relative", "Guest")
