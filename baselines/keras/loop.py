"""The training loop: ``fit_within_budget``, compiling, and retrying on out-of-memory.

``fit_within_budget`` is Keras' own ``fit`` on the NumPy pipeline with the small
callbacks of :mod:`baselines.keras.callbacks`: it trains until the deadline (or until
validation stops improving for ``patience`` epochs), never starting work it cannot
finish in time, with the learning rate on the budget's clock, and restores the weights
of the best validation epoch at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from baselines.deadline import Schedule, TrainingClock
from baselines.keras.callbacks import callbacks as made
from baselines.keras.family import KERAS
from baselines.keras.pipeline import Augment, Switch, training_data
from baselines.keras.predict import PREDICT_BATCH
from harness.contenders import FitReport
from harness.core.budget import Budget
from harness.data import Split

if TYPE_CHECKING:
    import keras

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
    schedule: Schedule | None = None,
    augment: Augment | None = None,
    seed: int = 0,
    best_score: float = -1.0,
    callbacks: list | None = None,
    predict_batch: int = PREDICT_BATCH,
    after_validations: float = 0.0,
) -> FitReport:
    """Train ``model`` (compiled with an ``accuracy`` metric, one-hot loss) within ``budget``.

    With ``base_lr``, the learning rate follows ``schedule`` (cosine by default) over
    the clock between the end of the first step and the moment the last validation pass
    must start.
    ``best_score`` (a validation accuracy) is the score to beat: a model that is
    already trained keeps its weights unless an epoch here does better. The report's
    ``images_seen`` counts the training images of every step taken.
    ``after_validations``: how many validations' worth of prediction the caller still
    does on the clock once this returns (a test-time flip check): the deadline keeps
    room for it.
    """
    c = made()
    schedule, augment = schedule or Schedule(), augment or Augment()
    report = FitReport()
    batch_size = max(1, min(batch_size, len(train)))
    switch = Switch(augment.flip is True) if augment.flip else None
    clock = TrainingClock(budget)
    # a prediction has no backward pass, but runs at another batch size through another
    # path: measured at about half a training step per image (CIFAR-10 at 32 px, 2 cores)
    clock.expect_validation(len(val) / batch_size / 2)
    clock.extra_validations = after_validations
    timer = c["StepTimer"](clock, batch_size, eager=bool(model.run_eagerly))
    steps = [
        *([c["ScheduleOnClock"](clock, base_lr, schedule)] if base_lr is not None else []),
        timer,
        c["Validation"](clock, val, report, predict_batch),
        *([c["FlipProbe"](clock, val, switch, report, predict_batch)]
          if augment.flip == "auto" else []),
        c["BestWeights"](clock, report, best_score, patience),
        c["Deadline"](clock),
    ]
    try:
        model.fit(
            training_data(train, batch_size, augment=augment, seed=seed, flip_switch=switch),
            steps_per_epoch=max(1, len(train) // batch_size),
            epochs=max_epochs, verbose=0, shuffle=False,  # the dataset shuffles
            callbacks=[*steps, *(callbacks or [])],
        )
    finally:
        report.images_seen = timer.images
    return report


def halve_batch_on_oom(train: Callable[[int], FitReport], batch_size: int,
                      budget: Budget) -> tuple[FitReport, int]:
    """``train(batch_size)``; on out-of-memory, halve the batch and retry while time is left.

    Returns the report (its notes say each retry) and the batch size that fitted. The
    retries share the budget's deadline: memory trouble is no reason for more time.
    """
    notes: list[str] = []
    while True:
        try:
            report = train(batch_size)
        except Exception as exc:
            if not (isinstance(exc, MemoryError) or KERAS.is_oom(exc)) or batch_size <= 1 \
                    or budget.expired():
                raise
            notes.append(f"out of memory at batch size {batch_size}: "
                         f"retried at {batch_size // 2}")
            batch_size //= 2
            continue
        report.notes[:0] = notes
        return report, batch_size


def compile_model(keras, model: keras.Model, *, learning_rate: float,
                  optimizer: str = "adam", weight_decay: float = 0.0,
                  label_smoothing: float = 0.0, jit_compile: bool | str = "auto") -> None:
    """Compile for the one-hot pipeline.

    ``jit_compile="auto"`` is Keras' own choice: XLA on JAX always, on TensorFlow where
    a GPU is present (not under a mirrored strategy), eager on PyTorch.
    """
    optimizers = {
        "adam": lambda: keras.optimizers.Adam(learning_rate),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
    }
    model.compile(
        optimizer=optimizers[optimizer](),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
