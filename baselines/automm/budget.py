"""AutoMM held to the budget: its ``time_limit``, the overheads measured around its
training, and the Lightning callbacks that stop it and set its learning rate.

AutoMM's ``time_limit`` clock starts with training and stops nothing after it (the last
validation, averaging the best checkpoints, saving), so ``fit`` overshoots it.
``time_limit`` is what is left of the budget minus the overhead measured on earlier fits
of the same backbone, image size and device (:class:`OverheadLog`; a guess the first
time), and :func:`budget_callback` stops training as soon as the work still to come
after the stop, timed in this very run, would end past the deadline.

AutoMM sizes its warm-up and cosine decay for ``optim.max_epochs`` epochs: a budget that
holds a fraction of one would pass inside the warm-up, at a fraction of the learning
rate. The callback replaces AutoMM's schedule by one on the budget's clock
(:class:`~baselines.deadline.Schedule` of the :class:`~baselines.deadline.TrainingClock`'s
progress, as the Keras contenders have), so that warm-up and decay fit the steps the
time allows, whatever the speed of the machine. On the CPU it also measures a few steps
on every core and on one fewer, and keeps the faster.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from baselines.deadline import Schedule, TrainingClock
from harness.contenders import Epoch, FitReport
from harness.core.budget import Budget

TOP_K = 3  # AutoMM's optim.top_k: the best checkpoints its greedy soup averages
MIN_TIME_LIMIT = 1.0


def after_training_seconds(val_seconds: float, top_k: int = TOP_K) -> float:
    """Time AutoMM still spends once training stops, from one measured validation.

    ``val_seconds`` is a validation pass with its checkpoint write. After the stop come
    the last validation, the greedy soup's evaluations of up to ``top_k - 1`` averaged
    checkpoints (each about a validation pass), loading and averaging checkpoints and the
    final save (about one more, and a second and a half). Measured on 2 CPU cores, what
    followed the stop took 2 to 4.6 validations, or 0.9 s with validations of 0.1 s.
    """
    return top_k * val_seconds + 1.5


class AutoMMClock(TrainingClock):
    """The deadline rules for AutoMM: after the last step come a validation that may fall
    due, and what AutoMM does after training — the larger of what earlier fits measured
    (``learned_after``) and what this run's validation predicts. Until a validation is
    timed, it is guessed from the step time: a forward pass is about a third of a
    training step over the same images, plus a second for writing the checkpoint."""

    def __init__(self, budget: Budget, *, learned_after: float | None = None,
                 val_batches: float = 0.0, top_k: int = TOP_K, now=time.monotonic) -> None:
        super().__init__(budget, step_margin=1.0, val_margin=1.0, now=now)
        self.learned_after, self.val_batches, self.top_k = learned_after, val_batches, top_k
        self.val_measured = False

    def validation_done(self, seconds: float) -> None:
        # the latest, not the longest: the first also pays for first-time setup
        self.val_seconds, self.val_measured = seconds, True

    def step_done(self, seconds: float, *, counts: bool = True) -> None:
        if self.started is None:  # the first step sets up the kernels: says little
            return super().step_done(seconds, counts=False)
        self.steps += 1  # smoothed, so that one slow step (a busy machine) is not the rule
        self.step_seconds = seconds if not self.step_seconds else (
            0.7 * self.step_seconds + 0.3 * seconds)

    def reserve(self) -> float:
        val = self.val_seconds if self.val_measured else (
            self.val_batches * self.step_seconds / 3 + 1.0)
        return val + max(self.learned_after or 0.0, after_training_seconds(val, self.top_k))


def should_stop(
    now: float,
    deadline: float,
    step_seconds: float,
    val_seconds: float,
    learned_after: float | None = None,
    top_k: int = TOP_K,
) -> bool:
    """Whether to stop before another step: one step, a validation that may fall due
    after it, and what AutoMM does after training would end past ``deadline``."""
    clock = AutoMMClock(Budget(deadline - now, started=now), learned_after=learned_after,
                        top_k=top_k, now=lambda: now)
    clock.step_seconds = step_seconds
    clock.validation_done(val_seconds)
    return clock.out_of_time(steps=1)


def plan_time_limit(remaining: float, overhead: float) -> float:
    """AutoMM's ``time_limit``: the budget left minus the overhead expected around training."""
    return round(max(MIN_TIME_LIMIT, remaining - overhead), 1)


class OverheadLog:
    """Seconds each fit spent before and after its training steps, by backbone, size,
    device and validation size.

    AutoMM's clock counts training steps only; what comes before them (building the model
    and the data pipeline, a sanity validation) and after the stop (the last validation,
    checkpoint averaging, saving) must come out of ``time_limit``. Each estimate is the
    mean of the last ``keep`` measurements; with none yet, a guess that the in-run
    callback corrects.
    """

    keep = 3

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, dict[str, list[float]]]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def _mean(self, key: str, part: str) -> float | None:
        seen = self._read().get(key, {}).get(part)
        return sum(seen) / len(seen) if seen else None

    def after(self, key: str) -> float | None:
        """Seconds from the stop of training to the end of ``fit``; None if not measured."""
        return self._mean(key, "after")

    def estimate(self, key: str, remaining: float) -> float:
        """Seconds of ``fit`` outside training steps, to take out of ``time_limit``."""
        before, after = self._mean(key, "before"), self._mean(key, "after")
        if before is None or after is None:
            return 3.0 + 0.1 * remaining
        return before + after

    def record(self, key: str, before: float, after: float) -> None:
        data = self._read()
        entry = data.setdefault(key, {})
        for part, seconds in (("before", before), ("after", after)):
            entry[part] = [*entry.get(part, []), round(seconds, 2)][-self.keep :]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)  # concurrent jobs: the last writer wins, nothing breaks




#: AutoMM's schedule, replaced: a short warm-up (2 % of the clock), then cosine decay
SCHEDULE = Schedule("cosine", warmup=0.02)
#: steps timed at each torch thread count before the faster is kept (CPU only)
THREAD_TRIAL_STEPS = 3


def budget_callback(budget: Budget, report: FitReport, val_batches: float,
                    learned_after: float | None, *, batch_size: int,
                    schedule: Schedule | None = SCHEDULE, threads: tuple[int, ...] = (),
                    top_k: int = TOP_K):
    """A Lightning callback that stops training in time, puts the learning rate on the
    budget's clock, records the validation curve and the images trained on, and, given
    two or more torch ``threads`` counts to try, keeps the fastest."""
    import lightning.pytorch as pl

    def metric(trainer, name: str) -> float | None:
        value = trainer.callback_metrics.get(name)
        return None if value is None else float(value)

    class BudgetCallback(pl.Callback):
        def __init__(self) -> None:
            self.clock = AutoMMClock(budget, learned_after=learned_after,
                                     val_batches=val_batches, top_k=top_k)
            self.train_started: float | None = None
            self.stopped_at: float | None = None
            self.stopped_by_deadline = False
            self.batch_started = 0.0
            self.last_batch_end: float | None = None
            self.val_started: float | None = None
            self.images = 0
            self.threads = ThreadTrial(threads)

        @property
        def step_seconds(self) -> float | None:
            return self.clock.step_seconds or None

        @property
        def val_seconds(self) -> float | None:
            return self.clock.val_seconds if self.clock.val_measured else None

        def on_train_start(self, trainer, pl_module) -> None:
            self.train_started = time.monotonic()
            if schedule is not None:
                on_the_clock(trainer, schedule, self.clock)

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            now = time.monotonic()
            if self.val_started is not None:  # a validation and its checkpoint just ended
                self.clock.validation_done(now - self.val_started)
                self.val_started = None
            self.batch_started = now

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            now = self.last_batch_end = time.monotonic()
            self.images += batch_size
            first = self.clock.started is None
            self.clock.step_done(now - self.batch_started)
            if first:
                return
            self.threads.step_done(now - self.batch_started)
            if not trainer.should_stop and self.clock.out_of_time(steps=1):
                trainer.should_stop = self.stopped_by_deadline = True
            if trainer.should_stop and self.stopped_at is None:
                self.stopped_at = now

        def on_validation_start(self, trainer, pl_module) -> None:
            if trainer.sanity_checking:
                return
            self.val_started = time.monotonic()
            if trainer.should_stop and self.stopped_at is None:  # AutoMM's own clock stopped it
                self.stopped_at = self.last_batch_end or self.val_started

        def on_validation_end(self, trainer, pl_module) -> None:
            if trainer.sanity_checking:
                return
            report.history.append(
                Epoch(
                    len(report.history) + 1,
                    budget.elapsed(),
                    train_loss=metric(trainer, "train_loss"),
                    val_loss=metric(trainer, "val_loss"),
                    val_accuracy=metric(trainer, "val_accuracy"),
                )
            )

        def training_seconds(self) -> float | None:
            """Seconds from the first step to the stop (or to the last step)."""
            end = self.stopped_at or self.last_batch_end
            return end - self.train_started if end and self.train_started else None

    return BudgetCallback()


def on_the_clock(trainer, schedule: Schedule, clock: TrainingClock) -> int:
    """Replace the trainer's learning-rate schedulers by ``schedule`` on ``clock``.

    Each parameter group keeps its own peak rate (AutoMM decays it layer by layer); the
    factor is read from the clock at every scheduler step. Returns how many were replaced.
    """
    from torch.optim.lr_scheduler import LambdaLR

    replaced = 0
    for config in getattr(trainer, "lr_scheduler_configs", None) or []:
        optimizer = config.scheduler.optimizer
        for group in optimizer.param_groups:  # the peak, where AutoMM's scheduler kept it
            group.setdefault("initial_lr", group["lr"])
        config.scheduler = LambdaLR(optimizer, lambda _step: schedule.factor(clock.progress()))
        config.interval, config.frequency = "step", 1
        replaced += 1
    return replaced


class ThreadTrial:
    """Times ``THREAD_TRIAL_STEPS`` steps at each torch thread count in ``counts`` and
    keeps the fastest (one core left free can be faster than all of them where other
    work shares the machine, or slower where nothing does: measured, not assumed)."""

    def __init__(self, counts: tuple[int, ...]) -> None:
        self.counts = tuple(counts)
        self.times: dict[int, list[float]] = {n: [] for n in self.counts}
        self.chosen: int | None = self.counts[0] if len(self.counts) == 1 else None
        if len(self.counts) > 1:
            _set_threads(self.counts[0])

    def step_done(self, seconds: float) -> None:
        if self.chosen is not None or len(self.counts) < 2:
            return
        for i, n in enumerate(self.counts):
            if len(self.times[n]) < THREAD_TRIAL_STEPS:
                self.times[n].append(seconds)
                if len(self.times[n]) == THREAD_TRIAL_STEPS:
                    following = self.counts[i + 1:]
                    if following:
                        _set_threads(following[0])
                    else:
                        self.chosen = min(self.counts, key=lambda c: sorted(self.times[c])[1])
                        _set_threads(self.chosen)
                return

    def describe(self) -> str | None:
        if len(self.counts) < 2 or not any(self.times.values()):
            return None
        timed = ", ".join(f"{n}: {1000 * sorted(t)[len(t) // 2]:.0f} ms"
                          for n, t in self.times.items() if t)
        if self.chosen is None:
            return f"torch threads: trial unfinished (a step on {timed})"
        return f"torch threads {self.chosen} (a step on {timed})"


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def timer_callback(budget: Budget, after: float | None):
    """Lightning's ``Timer`` for the time left, less what AutoMM does after training
    (as measured on earlier fits, else a fifth of the time left)."""
    from datetime import timedelta

    from lightning.pytorch.callbacks import Timer

    left = budget.remaining()
    reserve = after if after is not None else 0.2 * left
    return Timer(duration=timedelta(seconds=max(1.0, left - reserve)), interval="step")


def attach(predictor, callback) -> bool:
    """Add ``callback`` to the trainer AutoMM builds for fitting; False if it can't be done."""
    learner = getattr(predictor, "_learner", None)
    original = getattr(learner, "get_callbacks_per_run", None)
    if original is None:
        return False

    def with_budget(*args, **kwargs):
        callbacks = original(*args, **kwargs)
        return [*callbacks, callback] if kwargs.get("is_train", True) else callbacks

    learner.get_callbacks_per_run = with_budget
    return True


