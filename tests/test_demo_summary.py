"""The demo's summary cell for the teacher attachments kept pending (R10)."""

from rentree.flows.demo import no_pupil_yet


def test_waiting_classes_are_named_when_few_and_counted_when_many() -> None:
    assert no_pupil_yet([]) == ""
    assert no_pupil_yet(["2025-2026:0590001A:CP-A"]) == ": 2025-2026:0590001A:CP-A has no pupil yet"
    assert no_pupil_yet(["a", "b"]) == ": a, b have no pupil yet"
    many = [f"2025-2026:0590001A:C{i}" for i in range(426)]
    cell = no_pupil_yet(many)
    assert cell == ": 426 classes of late-entry pupils only have no pupil yet"
    assert "0590001A" not in cell
