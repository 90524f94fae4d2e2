"""Keras plumbing every Keras contender shares: input, pipeline, schedule, deadline.

``fit_within_budget`` trains until the deadline (or until validation stops improving
for ``patience`` epochs), never starting work it cannot finish in time. The learning
rate follows a schedule over the budget's *clock*, not over a fixed epoch count: the
clock starts once the first step has run (so graph tracing does not eat the warm-up)
and ends when the last validation pass must begin, so the finest steps are the last
ones before the deadline whatever the speed of the machine. The weights of the best
validation epoch are restored at the end.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.contenders import Contender, Epoch, Family, FitReport, Probe
from harness.core.budget import Budget
from harness.data import Split

if TYPE_CHECKING:
    import keras

PREDICT_BATCH = 1024
#: the flip probe: from ``at`` of the budget, once validation is ``learned`` of the way
#: from chance to perfect (or at ``until`` regardless), flips go on if mirrored images
#: keep ``kept`` of the accuracy over chance
FLIP_PROBE = {"at": 0.15, "learned": 0.3, "until": 0.5, "kept": 0.8}
#: how often (in budget fractions) the learning rate is re-assigned between batches
LR_UPDATE_FRACTION = 1 / 400


def _is_oom(exc: BaseException) -> bool:
    """TensorFlow's out-of-memory errors (``ResourceExhaustedError``, "OOM when allocating")."""
    text = f"{type(exc).__name__} {exc}".lower()
    return any(mark in text for mark in ("resourceexhausted", "oom when allocating",
                                         "out of memory"))


def _gpu_peak_mb() -> float | None:
    tf = sys.modules.get("tensorflow")
    if tf is None or not tf.config.list_logical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


#: the Keras family: what every Keras contender needs and how its failures look
KERAS = Family(
    "keras",
    extra="keras",
    modules=("tensorflow", "keras"),
    packages=("tensorflow", "keras", "keras-tuner", "optuna"),
    # Keras on TensorFlow, quietly: set in the worker before Keras is first imported
    environment=(("KERAS_BACKEND", "tensorflow"), ("TF_CPP_MIN_LOG_LEVEL", "2")),
    probes=(Probe(
        "TensorFlow", "tensorflow",
        "import tensorflow as tf; d=tf.config.list_physical_devices(); "
        "print(tf.__version__, 'devices:', ', '.join(x.device_type + ':' + "
        "x.name.split(':')[-1] for x in d))",
        "pip install --force-reinstall 'harness[keras]'"),),
    is_oom=_is_oom,
    gpu_peak_mb=_gpu_peak_mb,
)


def import_keras(seed: int):
    """Import Keras (its backend is set by the worker, from :data:`KERAS`), seeded."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def stem(keras, input_shape: tuple[int, ...], min_size: int = 0):
    """``(inputs, x)``: uint8 pixels scaled to [0, 1] and, if smaller, resized up.

    Networks with several poolings would shrink an 8x8 input below 1x1; resizing in
    the model (not in the data) keeps ``predict_proba`` a call on raw images.
    """
    inputs = keras.Input(shape=tuple(input_shape))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    height, width = input_shape[:2]
    if min(height, width) < min_size:
        scale = min_size / min(height, width)
        x = keras.layers.Resizing(round(height * scale), round(width * scale),
                                  interpolation="bilinear")(x)
    return inputs, x


def pretrained_stem(keras, input_shape: tuple[int, ...], size: tuple[int, int],
                    scale: tuple[float, float] | None):
    """``(inputs, x)`` for a pretrained backbone: three channels, its size, its scaling.

    Grayscale is repeated into the three channels the ImageNet weights expect; images
    are resized on the fly to ``size``; ``scale`` is the backbone's ``preprocess_input``
    as ``x * a + b`` (None where the application scales inside itself). In the model,
    not in ``tf.data``: on a GPU the resize runs there, and ``predict_proba`` stays a
    call on raw uint8 images.
    """
    inputs = keras.Input(shape=tuple(input_shape))
    x = keras.layers.Rescaling(1.0)(inputs)  # uint8 -> float
    if input_shape[-1] == 1:
        x = keras.layers.Concatenate()([x, x, x])
    if tuple(input_shape[:2]) != tuple(size):
        x = keras.layers.Resizing(*size, interpolation="bilinear")(x)
    if scale is not None:
        x = keras.layers.Rescaling(*scale)(x)
    return inputs, x


def add_l2(model: keras.Model, l2: float) -> None:
    """L2 on every kernel of ``model``, also of layers built by ``keras.applications``."""
    import keras

    if not l2:
        return
    for variable in model.trainable_weights:
        if variable.path.endswith("kernel"):  # conv, depthwise and dense kernels
            variable.regularizer = keras.regularizers.L2(l2)


# -- the input pipeline -----------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Label-preserving distortions applied per batch, on the CPU, in ``tf.data``."""

    #: left-right flips: right for photos, wrong for digits and text. ``"auto"`` starts
    #: without them and turns them on when a model that never saw a mirror image
    #: already classifies mirrored validation images nearly as well (see FLIP_PROBE).
    flip: bool | str = False
    translate: int = 0  # pixels, in each direction, by reflect-padding then cropping


def make_dataset(split: Split, batch_size: int, *, training: bool,
                 augment: Augment = Augment(), seed: int = 0, flip_switch=None):
    """``tf.data``: cache, shuffle, batch, augment, one-hot labels, prefetch.

    Training data repeats forever (epochs are ``steps_per_epoch`` long, all batches full
    so the step is traced once); labels are one-hot so that label smoothing works.
    ``flip_switch``, a boolean ``tf.Variable``, turns flipping on and off while training.
    """
    import tensorflow as tf

    num_classes = split.num_classes
    ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels)).cache()
    if training:
        ds = ds.shuffle(len(split), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=training, num_parallel_calls=tf.data.AUTOTUNE)
    pad = augment.translate
    height, width = split.images.shape[1:3]

    def transform(images, labels):
        if training and flip_switch is not None:
            images = tf.cond(flip_switch, lambda: tf.image.random_flip_left_right(images),
                             lambda: images)
        if training and pad:
            padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
            shape = tf.stack([tf.shape(images)[0], height, width, tf.shape(images)[3]])
            # one shift per batch: cheap, and over many batches just as varied
            images = tf.image.random_crop(padded, shape, seed=seed)
        return images, tf.one_hot(labels, num_classes)

    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# -- the budget-sized schedule and the deadline -----------------------------------------


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


def make_callback(budget: Budget, val: Split, patience: int | None, report: FitReport,
                  base_lr: float | None = None, schedule: Schedule = Schedule(),
                  best_score: float = -1.0, flip_switch=None,
                  predict_batch: int = PREDICT_BATCH, eager: bool = False):
    """A callback that stops at the deadline, records each epoch, keeps the best weights.

    With ``base_lr``, the learning rate follows ``schedule`` over the clock between the
    end of the first step and the moment the last validation pass must start.
    ``best_score`` (a validation accuracy) is the score to beat: a model that is
    already trained keeps its weights unless an epoch here does better.

    Validation is a direct call of the model (as ``predict_proba`` is), not Keras'
    ``validation_data``: no second graph to trace (seconds for a MobileNet on a CPU,
    before the first epoch could be scored) and it can score a model stopped mid-epoch.
    Its ``val_accuracy`` and ``val_loss`` go into the epoch's logs for later callbacks.
    With ``flip_switch``, the flip probe decides once whether to turn flips on.
    """
    import keras

    class BudgetCallback(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            # (val acc, -val loss); a warm start is beaten only by a strictly better accuracy
            self.best: tuple[float, float] = (best_score, math.inf)
            self.best_weights: list[np.ndarray] | None = None
            self.best_epoch = 0
            self.val_seconds = 0.0  # how long validation takes, measured
            self.step_seconds = 0.0  # the slowest recent training step, measured
            self.step_started = 0.0
            self.flip_decided = flip_switch is None
            self.clock_start: float | None = None  # set after the first (traced) step
            self.next_lr_update = 0.0

        def _reserve(self) -> float:
            return 1.2 * self.val_seconds

        def _out_of_time(self, next_step: bool = False) -> bool:
            # Stop while the epoch's validation pass (and, between batches, one more
            # step) still fits before the deadline.
            step = 1.5 * self.step_seconds if next_step else 0.0
            return time.monotonic() + step + self._reserve() >= budget.deadline

        def _set_lr(self) -> None:
            now = time.monotonic()
            if base_lr is None or now < self.next_lr_update:
                return
            start = self.clock_start if self.clock_start is not None else now
            end = budget.deadline - self._reserve()
            progress = (now - start) / max(end - start, 1e-6)
            self.model.optimizer.learning_rate.assign(base_lr * schedule.factor(progress))
            self.next_lr_update = now + budget.seconds * LR_UPDATE_FRACTION

        def on_train_begin(self, logs=None):
            if base_lr is not None:  # warm-up starts at 0, not at the base rate
                self.model.optimizer.learning_rate.assign(base_lr * schedule.factor(0.0))

        def on_train_batch_begin(self, batch, logs=None):
            self._set_lr()
            self.step_started = time.monotonic()

        def on_train_batch_end(self, batch, logs=None):
            now = time.monotonic()
            if self.clock_start is None:  # the first step traced the graph: not a step
                self.clock_start = now
                self.next_lr_update = 0.0
                if eager:  # nothing was traced: a step like the others, maybe a long one
                    self.step_seconds = now - self.step_started
            else:  # slowest recent step; forgets a one-off stall slowly
                self.step_seconds = max(now - self.step_started, 0.95 * self.step_seconds)
            if self._out_of_time(next_step=True):
                self.model.stop_training = True

        def _probe_flip(self, proba: np.ndarray) -> None:
            if budget.elapsed() < FLIP_PROBE["at"] * budget.seconds:
                return
            chance = 1 / val.num_classes
            plain = float(np.mean(proba.argmax(1) == val.labels))
            if plain < chance + FLIP_PROBE["learned"] * (1 - chance) and (
                    budget.elapsed() < FLIP_PROBE["until"] * budget.seconds):
                return  # too early to tell: the model has not learned enough yet
            mirrored = predict_in_batches(self.model, val.images[:, :, ::-1],
                                          batch_size=predict_batch)
            kept = (np.mean(mirrored.argmax(1) == val.labels) - chance) / max(plain - chance, 1e-9)
            on = plain > chance and kept >= FLIP_PROBE["kept"]
            flip_switch.assign(on)
            self.flip_decided = True
            report.notes.append(f"flip augmentation {'on' if on else 'off'}: mirrored "
                                f"images keep {max(kept, 0):.0%} of the accuracy over chance")

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            started = time.monotonic()
            proba = predict_in_batches(self.model, val.images, batch_size=predict_batch)
            acc = float(np.mean(proba.argmax(1) == val.labels))
            picked = proba[np.arange(len(val)), val.labels]
            logs.update(val_accuracy=acc, val_loss=float(-np.mean(np.log(picked + 1e-12))))
            self.val_seconds = max(self.val_seconds, time.monotonic() - started)
            if not self.flip_decided:
                self._probe_flip(proba)
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
                report.notes.append(
                    f"stopped early on purpose: no better validation in {patience} epochs")
            if self._out_of_time():
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

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
    schedule: Schedule = Schedule(),
    augment: Augment = Augment(),
    seed: int = 0,
    best_score: float = -1.0,
    callbacks: list | None = None,
    predict_batch: int = PREDICT_BATCH,
) -> FitReport:
    """Train ``model`` (compiled with an ``accuracy`` metric, one-hot loss) within ``budget``."""
    import tensorflow as tf

    report = FitReport()
    batch_size = max(1, min(batch_size, len(train)))
    switch = tf.Variable(augment.flip is True, trainable=False) if augment.flip else None
    callback = make_callback(budget, val, patience, report, base_lr, schedule, best_score,
                             switch if augment.flip == "auto" else None, predict_batch,
                             eager=bool(model.run_eagerly))
    model.fit(
        make_dataset(train, batch_size, training=True, augment=augment, seed=seed,
                     flip_switch=switch),
        steps_per_epoch=max(1, len(train) // batch_size),
        epochs=max_epochs, verbose=0, shuffle=False,  # the dataset shuffles
        callbacks=[callback, *(callbacks or [])],
    )
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
                  label_smoothing: float = 0.0) -> None:
    """Compile for the one-hot pipeline; XLA where a GPU is present (Keras' own default)."""
    optimizers = {
        "adam": lambda: keras.optimizers.Adam(learning_rate),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
    }
    model.compile(
        optimizer=optimizers[optimizer](),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
        jit_compile="auto",
    )


def predict_in_batches(model: keras.Model, images: np.ndarray, *, flip: bool = False,
                       batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Softmax outputs for ``images``; one direct call per batch (no ``predict`` overhead).

    With ``flip``, the average over each image and its mirror (test-time augmentation).
    ``batch_size``: smaller for models that resize inputs up (224 px backbones).
    """
    out = []
    for i in range(0, len(images), batch_size):
        batch = images[i : i + batch_size]
        proba = np.asarray(model(batch, training=False), dtype=np.float64)
        if flip:
            mirrored = np.ascontiguousarray(batch[:, :, ::-1])
            proba = 0.5 * (proba + np.asarray(model(mirrored, training=False), dtype=np.float64))
        out.append(proba)
    proba = np.concatenate(out)
    return proba / proba.sum(axis=1, keepdims=True)


class KerasContender(Contender):
    """What every Keras contender shares: Keras imported as setup, and the fitted
    ``self.model`` predicted from, described, saved and explained the same way."""

    framework = KERAS
    overhead_seconds = 20.0
    #: images per call when predicting; models that resize inputs up ask for fewer
    predict_batch: int = PREDICT_BATCH
    #: test-time flip (mirror averaging), where the contender found it helps
    tta: bool = False

    def __init__(self, seed: int = 0, **params: Any) -> None:
        super().__init__(seed, **params)
        # Created in the worker's setup phase: the seconds Keras takes to import are
        # setup, not training.
        import_keras(seed)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return predict_in_batches(self.model, images, flip=self.tta,
                                  batch_size=self.predict_batch)

    def describe(self) -> dict[str, Any]:
        """Parameters (all weights, and the trainable ones), input shape, layers."""
        model = getattr(self, "model", None)
        if model is None:
            return {"params": dict(self.params), "parameters": None}
        return {
            "params": dict(self.params),
            "parameters": int(model.count_params()),
            "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "input_shape": list(model.input_shape[1:]),
            "layers": [layer.__class__.__name__ for layer in model.layers],
            "test_time_flip": self.tta,
        }

    def save(self, path: Path) -> Path | None:
        path.mkdir(parents=True, exist_ok=True)
        target = path / "model.keras"
        self.model.save(target)
        return target

    def explain(self, images: np.ndarray, path: Path) -> None:
        from baselines.keras_explain import explain

        explain(self.model, images, path)
