"""The steps of importing one delivery, named as they start so that a long run shows what it
is doing (the flows turn them into progress artifacts and the CLI's bars; tasks never import
Prefect, so they are handed a listener)."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class Step(StrEnum):
    CHECK_AND_PLAN = "checking the files, planning the changes"
    APPLY = "applying the changes"
    HOLD = "recording the hold"
    FINISH = "moving the files, writing the reports"
    DONE = "done"


# How far along each step starts, out of STEP_COUNT; a delivery that is blocked, held or
# previewed skips some (its bar jumps ahead).
STEP_POSITION = {Step.CHECK_AND_PLAN: 0, Step.APPLY: 1, Step.HOLD: 1, Step.FINISH: 2, Step.DONE: 3}
STEP_COUNT = STEP_POSITION[Step.DONE]

# (delivery, the step starting)
StepListener = Callable[[str, Step], None]


def no_steps(delivery: str, step: Step) -> None:
    """The listener when nobody shows progress (plain calls, tests)."""
