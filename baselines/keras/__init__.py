"""The Keras family: hand-built CNNs, transfer-learned Keras applications and tuners, on
any Keras 3 backend. One concern per module:

- ``family``: the family (:data:`KERAS`), its backends, the GPU guard, and the runtime:
  precision and distribution (:class:`Runtime`)
- ``pipeline``: the input pipeline (NumPy batches, augmentation, the flip switch)
- ``callbacks``: small callbacks, one job each (step timer, schedule on the clock,
  validation, flip probe, best weights, deadline)
- ``loop``: ``fit_within_budget``, compiling, out-of-memory retries
- ``predict``: predictions by direct calls, batch by batch, on any backend
- ``model``: the stems, L2, and :class:`KerasContender`, the base of every contender
- ``cnn``, ``transfer``, ``tuning``: the contenders; ``explain``: Grad-CAM

The shared deadline arithmetic (the schedule, the clock) is :mod:`baselines.deadline`,
which AutoMM uses too. The names below are the family's API for its contenders and
tests; importing the package registers the contenders.
"""

from baselines.deadline import Schedule
from baselines.keras.family import (
    BACKEND_NAMES,
    BACKENDS,
    KERAS,
    PRECISIONS,
    Runtime,
    backend,
    import_keras,
    runtime,
    visible_gpus,
)
from baselines.keras.loop import compile_model, fit_within_budget, halve_batch_on_oom
from baselines.keras.model import KerasContender, add_l2, pretrained_stem, scratch_side, stem
from baselines.keras.pipeline import Augment, Switch, make_batches
from baselines.keras.predict import PREDICT_BATCH, predict_in_batches

__all__ = [
    "BACKENDS", "BACKEND_NAMES", "KERAS", "PRECISIONS", "PREDICT_BATCH", "Augment",
    "KerasContender", "Runtime", "Schedule", "Switch", "add_l2", "backend",
    "compile_model", "fit_within_budget", "halve_batch_on_oom", "import_keras",
    "make_batches", "predict_in_batches", "pretrained_stem", "runtime", "scratch_side", "stem",
    "visible_gpus",
]

from baselines.keras import cnn, transfer, tuning  # noqa: F401  (registration)
