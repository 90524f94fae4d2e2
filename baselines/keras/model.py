"""What every Keras contender shares: the stems that take raw uint8 images, L2, and the
contender base class that predicts from, describes, saves and explains ``self.model``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from baselines.keras.family import KERAS, Runtime, import_keras, runtime
from baselines.keras.predict import PREDICT_BATCH, predict_in_batches
from harness.contenders import Contender
from harness.core.context import JobContext

if TYPE_CHECKING:
    import keras


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



#: budgets from which a network trained from scratch on a CPU affords 64 px (below it,
#: 32 px: the size its recipes were measured at, CIFAR-10's); with GPUs 64 px below
#: SCRATCH_LARGE_SECONDS, 128 px from it
SCRATCH_64_SECONDS = 600.0
SCRATCH_LARGE_SECONDS = 1800.0


def scratch_side(budget_seconds: float, gpus: int) -> int:
    """The side a network trained from scratch can use in ``budget_seconds``: every
    doubling of the side costs four times the computation of a step."""
    if gpus:
        return 128 if budget_seconds >= SCRATCH_LARGE_SECONDS else 64
    return 64 if budget_seconds >= SCRATCH_64_SECONDS else 32


class KerasContender(Contender):
    """What every Keras contender shares: Keras imported as setup, and the fitted
    ``self.model`` predicted from, described, saved and explained the same way."""

    framework = KERAS
    overhead_seconds = 20.0
    # measured (make bench-scale): a small CNN's job 1.2-1.3 GiB on 1,000 images of 32 px,
    # most of it the framework, 1.8 GiB on 50,000 and 2.5 GiB on Tiny-ImageNet's 110,000
    # of 64 px; the pipeline streams uint8 batches from one copy of the splits
    memory_base_mb = 1200.0
    memory_per_byte = 2.0
    #: images per call when predicting; models that resize inputs up ask for fewer
    predict_batch: int = PREDICT_BATCH
    #: test-time flip (mirror averaging), where the contender found it helps
    tta: bool = False
    #: backend, GPUs, precision and distribution, set by ``start`` before the build
    runtime: Runtime | None = None
    #: import Keras when created (False: in ``prepare``, after what can skip the job)
    import_on_create: ClassVar[bool] = True

    def __init__(self, seed: int = 0, **params: Any) -> None:
        super().__init__(seed, **params)
        # Created in the worker's setup phase: the seconds Keras takes to import are
        # setup, not training.
        if self.import_on_create:
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

    def restore(self, path: Path, num_classes: int, manifest: dict[str, Any]) -> None:
        keras = import_keras(self.seed)
        self.model = keras.saving.load_model(path / "model.keras", compile=False)
        self.tta = bool(manifest.get("test_time_flip", False))

    def explain(self, images: np.ndarray, path: Path) -> None:
        from baselines.keras.explain import explain

        explain(self.model, images, path)
