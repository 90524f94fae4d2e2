"""Keras plumbing every Keras contender shares: setup, the deadline, the history.

``fit_within_budget`` trains until the deadline (or until validation stops improving
for ``patience`` epochs), never starting work it cannot finish in time, anneals the
learning rate over the time really available (a cosine over the budget's clock, not
over a fixed epoch count) and restores the weights of the best validation epoch.
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.budget import Budget
from harness.contender import Epoch, FitReport
from harness.data import Split

if TYPE_CHECKING:
    import keras

PREDICT_BATCH = 1024


def import_keras(seed: int):
    """Import Keras on TensorFlow, quietly, seeded; return the ``keras`` module."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    keras.utils.set_random_seed(seed)
    return keras


def make_callback(budget: Budget, patience: int | None, report: FitReport,
                  base_lr: float | None = None):
    """A callback that stops at the deadline, records each epoch, keeps the best weights.

    With ``base_lr``, the learning rate follows a cosine from ``base_lr`` to 0 over the
    budget's remaining clock, so the last epochs before the deadline are the finest.
    """
    import keras

    class BudgetCallback(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best: tuple[float, float] = (-1.0, 0.0)  # (val accuracy, -val loss)
            self.best_weights: list[np.ndarray] | None = None
            self.best_epoch = 0
            self.epoch_started = 0.0
            self.val_seconds = 0.0  # how long validation takes, measured
            self.train_end = 0.0
            self.stopped_by_deadline = False

        def _out_of_time(self) -> bool:
            # Stop while the epoch's validation pass still fits before the deadline.
            return time.monotonic() + 1.2 * self.val_seconds >= budget.deadline

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.monotonic()
            if base_lr is not None:
                progress = min(1.0, budget.elapsed() / budget.seconds)
                lr = base_lr * 0.5 * (1 + math.cos(math.pi * progress))
                self.model.optimizer.learning_rate.assign(lr)

        def on_train_batch_end(self, batch, logs=None):
            if self._out_of_time():
                self.stopped_by_deadline = True
                self.model.stop_training = True

        def on_test_begin(self, logs=None):
            self.train_end = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            now = time.monotonic()
            if self.train_end:
                self.val_seconds = max(self.val_seconds, now - self.train_end)
            acc = logs.get("val_accuracy")
            report.history.append(Epoch(
                epoch + 1, budget.elapsed(),
                train_loss=_f(logs.get("loss")), train_accuracy=_f(logs.get("accuracy")),
                val_loss=_f(logs.get("val_loss")), val_accuracy=_f(acc),
            ))
            score = (float(acc), -float(logs.get("val_loss", 0.0))) if acc is not None else None
            if score is not None and score > self.best:
                self.best, self.best_epoch = score, epoch
                self.best_weights = self.model.get_weights()
            if patience is not None and epoch - self.best_epoch >= patience:
                self.model.stop_training = True
                report.notes.append(f"stopped early: no better validation in {patience} epochs")
            if self._out_of_time():
                self.stopped_by_deadline = True
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            if self.stopped_by_deadline:
                report.notes.append("stopped at the deadline")

    return BudgetCallback()


def _f(value: Any) -> float | None:
    return None if value is None else float(value)


def fit_within_budget(
    model: keras.Model,
    train: Split,
    val: Split,
    budget: Budget,
    *,
    batch_size: int,
    patience: int | None = None,
    max_epochs: int = 100_000,
    base_lr: float | None = None,
    callbacks: list | None = None,
) -> FitReport:
    """Train ``model`` (compiled, with an ``accuracy`` metric) within ``budget``."""
    report = FitReport()
    callback = make_callback(budget, patience, report, base_lr)
    model.fit(
        train.images, train.labels,
        validation_data=(val.images, val.labels),
        batch_size=batch_size, epochs=max_epochs, shuffle=True, verbose=0,
        callbacks=[callback, *(callbacks or [])],
    )
    return report


def predict_in_batches(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Softmax outputs for ``images``; one direct call per batch (no ``predict`` overhead)."""
    out = [
        np.asarray(model(images[i : i + PREDICT_BATCH], training=False), dtype=np.float64)
        for i in range(0, len(images), PREDICT_BATCH)
    ]
    proba = np.concatenate(out)
    return proba / proba.sum(axis=1, keepdims=True)
