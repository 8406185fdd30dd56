"""How big a synthetic region is: the three scales of `rentree generate`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ScaleName = Literal["tiny", "small", "region"]
SCALE_NAMES: tuple[ScaleName, ...] = ("tiny", "small", "region")


@dataclass(frozen=True)
class Scale:
    """The size of a region and the yearly rates of its rollover.

    `schools` and `pupils` are targets of the closing year; classes and staff follow from
    them (about 22 pupils a class, one teacher a class plus replacements and personnel).
    """

    name: ScaleName
    schools: int
    pupils: int
    # tiny lays its five schools out by hand so that every phenomenon is in it.
    fixed_layout: bool = False
    rpi_share: float = 0.06
    maternelle_share: float = 0.27
    elementaire_share: float = 0.30
    late_entry_share: float = 0.3
    class_capacity: int = 26
    guests_per_school: float = 0.4
    resources_per_staff: float = 40.0
    resources_per_student: float = 1.2
    resources_per_relative: float = 0.4


SCALES: dict[ScaleName, Scale] = {
    "tiny": Scale("tiny", schools=5, pupils=330, fixed_layout=True, guests_per_school=0.8),
    "small": Scale("small", schools=100, pupils=12_000),
    "region": Scale("region", schools=4_800, pupils=560_000),
}
