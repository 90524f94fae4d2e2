"""The deadline arithmetic every trained family shares: a schedule on the budget's clock
and the rule for when to stop.

A contender trains in steps and validates now and then; after its last step comes work
that must still end before the deadline (a validation, AutoMM's checkpoint averaging).
:class:`TrainingClock` holds what was measured in this run (the slowest recent step,
the longest validation) and answers two questions from it:

- ``progress()``: how far training is from the first timed step (the first one traces
  or compiles, so it is not counted) to the moment the last validation must begin;
  a learning-rate :class:`Schedule` is a function of it, so that the finest steps are
  the last ones before the deadline whatever the speed of the machine;
- ``out_of_time(steps)``: whether ``steps`` more steps and what must follow them would
  end past the deadline.

Nothing here imports a framework: the Keras callbacks and AutoMM's Lightning callback
both use it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from harness.core.budget import Budget


@dataclass(frozen=True)
class Schedule:
    """A learning rate as a function of the fraction of training time gone, 0..1."""

    kind: str = "cosine"  # cosine | onecycle | exponential | constant
    warmup: float = 0.0  # fraction of the time spent ramping linearly up from 0
    final: float = 0.01  # exponential: the factor reached at the end

    def factor(self, progress: float) -> float:
        p = min(max(progress, 0.0), 1.0)
        if self.warmup and p < self.warmup:
            return p / self.warmup
        q = (p - self.warmup) / (1 - self.warmup) if self.warmup < 1 else 1.0
        if self.kind == "cosine":
            return 0.5 * (1 + math.cos(math.pi * q))
        if self.kind == "onecycle":  # airbench's triangle: the linear descent to 0
            return 1 - q
        if self.kind == "exponential":
            return self.final**q
        if self.kind == "constant":
            return 1.0
        raise ValueError(f"unknown schedule {self.kind!r}")


#: prediction after the last validation (a flip check) shorter than this share of the
#: budget is not kept in the reserve: it passes the deadline by at most that, well
#: inside the 5 % a row may run over; a longer one (thousands of validation images) is
EXTRA_SLACK = 0.03


class TrainingClock:
    """What one run measured of its own speed, and the deadline rules drawn from it.

    ``after`` is what must follow the last step besides a validation (AutoMM's
    averaging and saving; for Keras, a copy of the best weights and their restore).
    ``step_margin`` and ``val_margin`` are the safety factors on the measured step and
    validation.
    """

    def __init__(self, budget: Budget, *, step_margin: float = 1.5, val_margin: float = 1.2,
                 now=time.monotonic) -> None:
        self.budget = budget
        self.step_margin, self.val_margin = step_margin, val_margin
        self.now = now
        self.step_seconds = 0.0  # the slowest recent step, forgetting a stall slowly
        self.val_seconds = 0.0  # the longest validation
        #: before the first validation is measured, its guess in steps' time (a
        #: validation of 5,000 images after a 45,000-image first epoch is seconds)
        self.val_steps_guess = 0.0
        #: validations' worth of prediction that follows the last one (a test-time flip
        #: check), kept in the reserve too
        self.extra_validations = 0.0
        self.after = 0.0
        self.started: float | None = None  # the end of the first (traced) step
        self.steps = 0  # steps timed, the first one included

    def step_done(self, seconds: float, *, counts: bool = True) -> None:
        """Record a step of ``seconds``. The first one starts the clock; it counts toward
        the step time only where nothing was traced (``counts``)."""
        self.steps += 1
        if self.started is None:
            self.started = self.now()
            if counts:
                self.step_seconds = seconds
            return
        self.step_seconds = max(seconds, 0.95 * self.step_seconds)

    def validation_done(self, seconds: float) -> None:
        self.val_seconds = max(self.val_seconds, seconds)

    def expect_validation(self, steps: float) -> None:
        """A validation is expected to take about ``steps`` training steps' time until
        one has been measured."""
        self.val_steps_guess = steps

    def reserve(self) -> float:
        """Seconds kept at the end for the last validation and what follows it."""
        val = self.val_margin * (self.val_seconds or self.val_steps_guess * self.step_seconds)
        extra = val * self.extra_validations
        if extra < EXTRA_SLACK * self.budget.seconds:  # may pass the deadline, as little
            extra = 0.0  # as that: steps are worth more than a few tenths of a second
        return val + extra + self.after

    def out_of_time(self, steps: int = 0) -> bool:
        needed = steps * self.step_margin * self.step_seconds + self.reserve()
        return self.now() + needed >= self.budget.deadline

    def progress(self) -> float:
        """0 at the first timed step, 1 when the last validation must begin."""
        now = self.now()
        start = self.started if self.started is not None else now
        end = self.budget.deadline - self.reserve()
        return (now - start) / max(end - start, 1e-6)
