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
from harness.core.context import JobContext
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
    """Out of memory on any backend: TensorFlow's ``ResourceExhaustedError``, XLA's
    ``RESOURCE_EXHAUSTED``, torch's ``OutOfMemoryError``."""
    text = f"{type(exc).__name__} {exc}".lower()
    return any(mark in text for mark in ("resourceexhausted", "resource_exhausted",
                                         "oom when allocating", "out of memory",
                                         "outofmemoryerror"))


#: the Keras 3 backends a Keras contender can train on, in the order of preference
#: when none is asked for, on the CPU (measured on a 2-core CPU: keras-cnn6 trains at
#: 476 images/s on TensorFlow, 280 on PyTorch, 222 on JAX; see the README) and on GPUs
#: (where the ``gpu`` extra brings CUDA for JAX and torch, not for TensorFlow)
BACKENDS = ("tensorflow", "jax", "torch")
GPU_BACKENDS = ("jax", "torch", "tensorflow")
BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
#: what each backend's import is called, to see whether it is installed
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
#: what to do when a backend sees none of the GPUs a job was given
GPU_FIX = {
    "tensorflow": "pip install 'tensorflow[and-cuda]', or --keras-backend jax",
    "jax": "pip install 'harness[gpu]' (JAX with its CUDA wheels), or --keras-backend torch",
    "torch": "pip install 'harness[gpu]' (torch with its CUDA wheels), or --keras-backend jax",
}


def backend() -> str:
    import keras

    return keras.backend.backend()


def visible_gpus(name: str | None = None) -> int:
    """How many GPUs the backend ``name`` (default: Keras' own) sees in this process."""
    name = name or backend()
    if name == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if name == "jax":
        import jax

        try:
            return len(jax.devices("gpu"))
        except RuntimeError:  # no GPU platform: jax says so by raising
            return 0
    if name == "torch":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    raise ValueError(f"unknown Keras backend {name!r}")


def _check_gpus(granted: int) -> str | None:
    """The GPU guard: ``None`` where Keras' backend sees exactly the ``granted`` GPUs."""
    name = backend()
    seen = visible_gpus(name)
    if seen == granted:
        return None
    shown = BACKEND_NAMES[name]
    if seen == 0:
        return (f"{shown} sees no GPU but the job was given {granted}: {GPU_FIX[name]}; "
                "or --gpus 0 to train on the CPU")
    return (f"{shown} sees {seen} GPUs but the job was given {granted}: "
            "CUDA_VISIBLE_DEVICES is overridden somewhere; unset it and let the harness "
            "assign GPUs")


def _gpu_peak_mb() -> float | None:
    """The peak GPU memory of whichever backend this process trained on."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and tf.config.list_logical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    jax = sys.modules.get("jax")
    if jax is not None:
        try:
            stats = [d.memory_stats() or {} for d in jax.devices("gpu")]
        except RuntimeError:
            stats = []
        peaks = [s.get("peak_bytes_in_use", 0) for s in stats]
        if peaks:
            return max(peaks) / 2**20
    return None  # torch: the AutoMM family reads torch's own peak


def _backend_probe(name: str) -> Probe:
    return Probe(
        f"Keras on {BACKEND_NAMES[name]}", BACKEND_MODULES[name],
        f"import os; os.environ['KERAS_BACKEND'] = {name!r}; "
        "os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3'); import keras; "
        "from baselines.keras_common import visible_gpus; "
        f"n = visible_gpus({name!r}); "
        f"print('keras', keras.__version__, 'on {name}: sees', n, 'GPU' + 's' * (n != 1))",
        f"pip install --force-reinstall 'harness[keras]' ({GPU_FIX[name]} for its GPUs)")


#: the Keras family: what every Keras contender needs and how its failures look
KERAS = Family(
    "keras",
    extra="keras",
    modules=("keras",),
    packages=("keras", "tensorflow", "jax", "jaxlib", "torch", "keras-tuner", "optuna"),
    # set in the worker before Keras is first imported; the job's backend overrides
    # KERAS_BACKEND. Neither TensorFlow nor JAX takes the whole GPU's memory up front:
    # the peak then says what the model needed.
    environment=(("KERAS_BACKEND", BACKENDS[0]), ("TF_CPP_MIN_LOG_LEVEL", "2"),
                 ("TF_FORCE_GPU_ALLOW_GROWTH", "true"),
                 ("XLA_PYTHON_CLIENT_PREALLOCATE", "false")),
    backend_variable="KERAS_BACKEND",
    backends=BACKENDS,
    gpu_backends=GPU_BACKENDS,
    backend_modules=BACKEND_MODULES,
    probes=tuple(_backend_probe(name) for name in ("tensorflow", "jax", "torch")),
    is_oom=_is_oom,
    gpu_peak_mb=_gpu_peak_mb,
    check_gpus=_check_gpus,
)


def import_keras(seed: int):
    """Import Keras (its backend is set by the worker, from the job), seeded."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras


# -- devices, precision, compilation ----------------------------------------------------

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def _bfloat16_gpu(name: str) -> bool:
    """Whether the first GPU computes in bfloat16 at speed (compute capability 8.0+)."""
    try:
        if name == "tensorflow":
            import tensorflow as tf

            gpu = tf.config.list_physical_devices("GPU")[0]
            major = tf.config.experimental.get_device_details(gpu)["compute_capability"][0]
        elif name == "jax":
            import jax

            major = int(str(jax.devices("gpu")[0].compute_capability).split(".")[0])
        else:
            import torch

            major = torch.cuda.get_device_capability(0)[0]
    except Exception:
        return False
    return major >= 8


@dataclass(frozen=True)
class Runtime:
    """Where and how a Keras model trains: backend, GPUs used, precision, distribution.

    Made by :func:`runtime` before the model is built; ``scope()`` wraps building and
    compiling (a mirrored strategy on TensorFlow; JAX's data parallelism is global).
    """

    backend: str
    gpus: int  # granted
    gpus_used: int
    precision: str  # the Keras dtype policy: float32 | mixed_float16 | mixed_bfloat16
    distribution: str  # none | data-parallel (JAX) | mirrored (TensorFlow)
    note: str = ""
    strategy: Any = None

    def scope(self):
        import contextlib

        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self, model: keras.Model | None = None) -> dict[str, Any]:
        jit = bool(getattr(model, "jit_compile", False)) if model is not None else None
        return {
            "keras_backend": self.backend,
            "gpus_used": self.gpus_used,
            "precision": self.precision,
            "jit_compile": None if jit is None else (
                ("torch.compile" if self.backend == "torch" else "xla") if jit else "off"),
            "distribution": self.distribution,
        }


def runtime(keras, gpus: int, precision: str = "auto") -> Runtime:
    """Set Keras' dtype policy and distribution for ``gpus`` GPUs; say what was set.

    ``precision="auto"``: float32 on the CPU, mixed bfloat16 on GPUs that have it
    (Ampere and later), mixed float16 on older ones.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    name = keras.backend.backend()
    if precision == "auto":
        precision = ("mixed_bfloat16" if _bfloat16_gpu(name) else "mixed_float16") if gpus \
            else "float32"
    keras.mixed_precision.set_global_policy(precision)
    if name == "torch" and not gpus:
        import os

        import torch

        # One core stays free, as for AutoMM: torch's OpenMP threads that wait for a
        # busy core make a step many times slower (measured on 2 cores: keras-shallow
        # 5.8 ms a step on one thread, 58 ms on two while another process ran)
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    if gpus <= 1:
        return Runtime(name, gpus, gpus, precision, "none")
    if name == "jax":
        devices = keras.distribution.list_devices("gpu")[:gpus]
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return Runtime(name, gpus, len(devices), precision, "data-parallel")
    if name == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy()
        return Runtime(name, gpus, strategy.num_replicas_in_sync, precision, "mirrored",
                       strategy=strategy)
    return Runtime(name, gpus, 1, precision, "none",
                   note=f"trained on 1 of the {gpus} GPUs granted: Keras on PyTorch has no "
                        "multi-GPU training; --keras-backend jax uses them all")


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
    not in the input pipeline: on a GPU the resize runs there, and ``predict_proba`` stays a
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
    """Label-preserving distortions applied per batch, on the CPU, as array operations."""

    #: left-right flips: right for photos, wrong for digits and text. ``"auto"`` starts
    #: without them and turns them on when a model that never saw a mirror image
    #: already classifies mirrored validation images nearly as well (see FLIP_PROBE).
    flip: bool | str = False
    translate: int = 0  # pixels, in each direction, by reflect-padding then cropping


class Switch:
    """A flag the training loop reads between batches (the flip probe turns flips on)."""

    def __init__(self, on: bool = False) -> None:
        self.on = bool(on)

    def assign(self, on: bool) -> None:
        self.on = bool(on)


def _batches_class():
    """``Batches``, made once Keras is imported (``PyDataset`` is Keras' own class)."""
    global _BATCHES
    if _BATCHES is not None:
        return _BATCHES
    import keras

    class Batches(keras.utils.PyDataset):
        """NumPy batches for any Keras backend: shuffled, augmented, one-hot labelled.

        Training batches repeat forever (Keras counts ``steps_per_epoch``), each epoch
        a new permutation, all batches full so that the step is traced once; the
        images stay uint8 until the model's own ``Rescaling`` (a quarter of the bytes
        to move). Evaluation batches are the split in order, the last one partial.
        """

        def __init__(self, split: Split, batch_size: int, training: bool,
                     augment: Augment, seed: int, flip_switch: Switch | None) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.images, self.labels = split.images, split.labels
            self.eye = np.eye(split.num_classes, dtype=np.float32)
            self.batch_size, self.training = batch_size, training
            self.augment, self.flip_switch = augment, flip_switch
            self.rng = np.random.default_rng(seed)
            self.steps = len(split) // batch_size if training else \
                -(-len(split) // batch_size)
            self.order = np.arange(len(split))
            self.epoch = -1

        @property
        def num_batches(self) -> int | None:
            return None if self.training else self.steps

        def __len__(self) -> int:
            return self.steps

        def __getitem__(self, index: int):
            size = self.batch_size
            if not self.training:
                part = slice(index * size, (index + 1) * size)
                return self.images[part], self.eye[self.labels[part]]
            epoch, step = divmod(index, self.steps)
            if epoch != self.epoch:  # the generator asks in order: one shuffle an epoch
                self.order, self.epoch = self.rng.permutation(len(self.images)), epoch
            picked = self.order[step * size:(step + 1) * size]
            images = self.images[picked]
            if self.flip_switch is not None and self.flip_switch.on:
                mirror = self.rng.random(len(images)) < 0.5
                images[mirror] = images[mirror, :, ::-1]
            pad = self.augment.translate
            if pad:  # one shift per batch: cheap, and over many batches just as varied
                height, width = images.shape[1:3]
                padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                                mode="reflect")
                dy, dx = self.rng.integers(0, 2 * pad + 1, 2)
                images = padded[:, dy:dy + height, dx:dx + width]
            return images, self.eye[self.labels[picked]]

    _BATCHES = Batches
    return Batches


_BATCHES = None


def make_batches(split: Split, batch_size: int, *, training: bool,
                 augment: Augment = Augment(), seed: int = 0,
                 flip_switch: Switch | None = None):
    """The input pipeline, backend-neutral: a Keras ``PyDataset`` of NumPy batches.

    ``flip_switch`` turns flipping on and off while training (None: no flips).
    """
    return _batches_class()(split, max(1, min(batch_size, len(split))), training, augment,
                            seed, flip_switch)


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
    report = FitReport()
    batch_size = max(1, min(batch_size, len(train)))
    switch = Switch(augment.flip is True) if augment.flip else None
    callback = make_callback(budget, val, patience, report, base_lr, schedule, best_score,
                             switch if augment.flip == "auto" else None, predict_batch,
                             eager=bool(model.run_eagerly))
    model.fit(
        make_batches(train, batch_size, training=True, augment=augment, seed=seed,
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


def _inference():
    """No autograd bookkeeping for direct calls on torch (the other backends keep none)."""
    import contextlib

    torch = sys.modules.get("torch") if backend() == "torch" else None
    return torch.no_grad() if torch is not None else contextlib.nullcontext()


def predict_in_batches(model: keras.Model, images: np.ndarray, *, flip: bool = False,
                       batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Softmax outputs for ``images``; one direct call per batch (no ``predict`` overhead).

    With ``flip``, the average over each image and its mirror (test-time augmentation).
    ``batch_size``: smaller for models that resize inputs up (224 px backbones).
    """
    from keras import ops

    if backend() == "jax" and not model.run_eagerly:
        # JAX runs a direct call op by op, compiling each op on its first call (1.4 s
        # for keras-cnn6's first validation on a CPU); Keras' jitted predict step is
        # compiled once per batch shape (0.3 s) and then as fast as a direct call
        def call(x):
            return model.predict_on_batch(x)
    else:
        def call(x):
            return model(x, training=False)

    out = []
    with _inference():
        for i in range(0, len(images), batch_size):
            batch = images[i : i + batch_size]
            proba = ops.convert_to_numpy(call(batch)).astype(np.float64)
            if flip:
                mirrored = np.ascontiguousarray(batch[:, :, ::-1])
                proba = 0.5 * (proba + ops.convert_to_numpy(call(mirrored)).astype(np.float64))
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
    #: backend, GPUs, precision and distribution, set by ``start`` before the build
    runtime: Runtime | None = None

    def __init__(self, seed: int = 0, **params: Any) -> None:
        super().__init__(seed, **params)
        # Created in the worker's setup phase: the seconds Keras takes to import are
        # setup, not training.
        import_keras(seed)

    def start(self, keras, context: JobContext) -> Runtime:
        """Set the dtype policy and the distribution for the job's GPUs, before the build.

        Build and compile inside ``self.runtime.scope()``, then set the policy back to
        float32: it is global, and later models in the process start from it.
        """
        self.runtime = runtime(keras, context.gpus, self.params.get("precision", "auto"))
        return self.runtime

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return predict_in_batches(self.model, images, flip=self.tta,
                                  batch_size=self.predict_batch)

    def describe(self) -> dict[str, Any]:
        """Parameters (all weights, and the trainable ones), input shape, layers."""
        model = getattr(self, "model", None)
        if model is None:
            return {"params": dict(self.params), "parameters": None}
        return {
            **(self.runtime.describe(model) if self.runtime else {}),
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
