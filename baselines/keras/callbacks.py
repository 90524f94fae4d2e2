"""Small Keras callbacks, each doing one thing, composed by the training loop.

- :class:`StepTimer`: times every training step into the run's
  :class:`~baselines.deadline.TrainingClock` (the first, traced step starts the clock)
  and counts the images trained on;
- :class:`ScheduleOnClock`: the learning rate as a :class:`~baselines.deadline.Schedule`
  of the clock's progress, re-assigned between batches;
- :class:`Validation`: scores the validation images after each epoch by a direct call
  of the model (as ``predict_proba`` is: no second graph to trace, and a model stopped
  mid-epoch can be scored), puts ``val_accuracy``/``val_loss`` in the epoch's logs and
  the learning curve, and times itself into the clock;
- :class:`FlipProbe`: decides once whether left-right flips keep the labels;
- :class:`BestWeights`: keeps the weights of the best validation epoch (a warm start's
  own weights, scored ``best_score``, beaten only by a strictly better accuracy), stops
  after ``patience`` epochs without one, and restores them at the end; it times its
  copies into the clock, which keeps room for a last copy and the restore;
- :class:`Deadline`: stops once one more step and what must follow it (a validation,
  a copy, the restore) would end past the deadline: checked between batches, and after
  an epoch, where the next step comes first.

Keras is imported lazily: the classes are made on first use by :func:`callbacks`.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from baselines.deadline import Schedule, TrainingClock
from baselines.keras.predict import predict_in_batches
from harness.contenders import Epoch, FitReport
from harness.data import Split

if TYPE_CHECKING:
    from baselines.keras.pipeline import Switch

#: the flip probe: from ``at`` of the budget, once validation is ``learned`` of the way
#: from chance to perfect (or at ``until`` regardless), flips go on if mirrored images
#: keep ``kept`` of the accuracy over chance. Measured (``make bench-real``): digits keep
#: 0-25 %, photographs 79-118 % (the CIFAR-10 photos' 79 % on 300 validation images
#: once turned flips off at 0.8, and that run lost 11 points to overfitting)
FLIP_PROBE = {"at": 0.15, "learned": 0.3, "until": 0.5, "kept": 0.6}
#: how often (in budget fractions) the learning rate is re-assigned between batches
LR_UPDATE_FRACTION = 1 / 400


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def _make_classes() -> dict[str, type]:
    import keras

    base = keras.callbacks.Callback

    class StepTimer(base):
        def __init__(self, clock: TrainingClock, batch_size: int, eager: bool) -> None:
            super().__init__()
            self.clock, self.batch_size, self.eager = clock, batch_size, eager
            self.started = 0.0
            self.images = 0

        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            # the first step traced the graph (unless eager): it starts the clock
            self.clock.step_done(time.monotonic() - self.started, counts=self.eager)
            self.images += self.batch_size

    class ScheduleOnClock(base):
        def __init__(self, clock: TrainingClock, base_lr: float, schedule: Schedule) -> None:
            super().__init__()
            self.clock, self.base_lr, self.schedule = clock, base_lr, schedule
            self.next_update = 0.0

        def _assign(self, factor: float) -> None:
            self.model.optimizer.learning_rate.assign(self.base_lr * factor)

        def on_train_begin(self, logs=None):
            self._assign(self.schedule.factor(0.0))  # a warm-up starts at 0

        def on_train_batch_begin(self, batch, logs=None):
            now = time.monotonic()
            if self.clock.started is None or now < self.next_update:
                return
            self._assign(self.schedule.factor(self.clock.progress()))
            self.next_update = now + self.clock.budget.seconds * LR_UPDATE_FRACTION

    class Validation(base):
        def __init__(self, clock: TrainingClock, val: Split, report: FitReport,
                     predict_batch: int) -> None:
            super().__init__()
            self.clock, self.val, self.report = clock, val, report
            self.predict_batch = predict_batch

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            started = time.monotonic()
            proba = predict_in_batches(self.model, self.val.images,
                                       batch_size=self.predict_batch)
            acc = float(np.mean(proba.argmax(1) == self.val.labels))
            picked = proba[np.arange(len(self.val)), self.val.labels]
            logs.update(val_accuracy=acc, val_loss=float(-np.mean(np.log(picked + 1e-12))))
            self.clock.validation_done(time.monotonic() - started)
            self.report.history.append(Epoch(
                epoch + 1, self.clock.budget.elapsed(),
                train_loss=_f(logs.get("loss")), train_accuracy=_f(logs.get("accuracy")),
                val_loss=_f(logs["val_loss"]), val_accuracy=acc,
            ))

    class FlipProbe(base):
        def __init__(self, clock: TrainingClock, val: Split, switch: Switch,
                     report: FitReport, predict_batch: int) -> None:
            super().__init__()
            self.clock, self.val, self.switch, self.report = clock, val, switch, report
            self.predict_batch = predict_batch
            self.decided = False

        def on_epoch_end(self, epoch, logs=None):
            budget = self.clock.budget
            if self.decided or budget.elapsed() < FLIP_PROBE["at"] * budget.seconds:
                return
            chance = 1 / self.val.num_classes
            plain = float((logs or {}).get("val_accuracy", 0.0))
            if plain < chance + FLIP_PROBE["learned"] * (1 - chance) and (
                    budget.elapsed() < FLIP_PROBE["until"] * budget.seconds):
                return  # too early to tell: the model has not learned enough yet
            mirrored = predict_in_batches(self.model, self.val.images[:, :, ::-1],
                                          batch_size=self.predict_batch)
            kept = (np.mean(mirrored.argmax(1) == self.val.labels) - chance) / max(
                plain - chance, 1e-9)
            on = plain > chance and kept >= FLIP_PROBE["kept"]
            self.switch.assign(on)
            self.decided = True
            self.report.notes.append(f"flip augmentation {'on' if on else 'off'}: mirrored "
                                     f"images keep {max(kept, 0):.0%} of the accuracy over "
                                     "chance")

    class BestWeights(base):
        def __init__(self, clock: TrainingClock, report: FitReport, best_score: float,
                     patience: int | None) -> None:
            super().__init__()
            self.clock, self.report, self.patience = clock, report, patience
            # (val acc, -val loss): a warm start is beaten only by a better accuracy
            self.best: tuple[float, float] = (best_score, math.inf)
            self.weights: list[np.ndarray] | None = None
            self.best_epoch = 0

        def _copy(self) -> None:
            started = time.monotonic()
            self.weights = self.model.get_weights()
            # after the last step may come one more copy, then the restore (as long)
            self.clock.after = max(self.clock.after, 2 * (time.monotonic() - started))

        def on_train_begin(self, logs=None):
            if self.best[0] >= 0:  # a warm start: its weights stand until an epoch beats them
                self._copy()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            score = (float(logs["val_accuracy"]), -float(logs["val_loss"]))
            if score > self.best:
                self.best, self.best_epoch = score, epoch
                self._copy()
            if self.patience is not None and epoch - self.best_epoch >= self.patience:
                self.model.stop_training = True
                self.report.notes.append(f"stopped early on purpose: no better validation "
                                         f"in {self.patience} epochs")

        def on_train_end(self, logs=None):
            if self.weights is not None:
                self.model.set_weights(self.weights)

    class Deadline(base):
        def __init__(self, clock: TrainingClock) -> None:
            super().__init__()
            self.clock = clock

        def on_train_batch_end(self, batch, logs=None):
            if self.clock.out_of_time(steps=1):
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.clock.out_of_time(steps=1):  # the next epoch's first step comes next
                self.model.stop_training = True

    return {c.__name__: c for c in (StepTimer, ScheduleOnClock, Validation, FlipProbe,
                                    BestWeights, Deadline)}


_CLASSES: dict[str, type] = {}


def callbacks() -> dict[str, type]:
    """The callback classes by name (made once Keras is imported)."""
    if not _CLASSES:
        _CLASSES.update(_make_classes())
    return _CLASSES
