"""Transfer learning with Keras applications: pretrained ImageNet backbones, new heads.

One contender class; backbones and variants are data. A variant is a backbone plus a
recipe: the input size (the images' own, or resized to 224), how much of the backbone
trains (none, all, the last N layers) and whether a head-only phase comes first. The
names say which: ``nasnetmobile-frozen`` (the seed's Model I), ``nasnetmobile-224-frozen``
(Model II), ``nasnetmobile-224-finetune`` (Model III: all layers at 1e-4),
``convnext-base-2phase`` (head first, then the last 50 layers).

Weights are Keras' own no-top files under Keras' own names, found in
``--weights-dir`` (the job context's ``weights_dir``) or Keras' cache (``$KERAS_HOME/models``,
default ``~/.keras/models``), else downloaded once into that cache. Offline and not
there, the row is ``skipped`` and says which file to fetch from where: never random
weights where pretrained ones were asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from baselines import keras as kc
from harness.contenders import ContenderUnavailable, FitReport, WeightsFile, register
from harness.core.budget import Budget
from harness.core.context import JobContext
from harness.data import Split

KERAS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
#: ``preprocess_input`` of the "tf" mode (MobileNet v1/v2, NASNet): x / 127.5 - 1
TF_MODE = (1 / 127.5, -1.0)
#: EfficientNet's ImageNet build divides by sqrt(std) once more after its Normalization
#: layer, a layer Keras adds only for ``weights="imagenet"``, not for a file path
IMAGENET_STDDEV_RGB = (0.229, 0.224, 0.225)
#: the applications downsample 32x: images below 64 px are resized up to it, so that
#: the last feature map is at least 2x2 (at 32 px one value per channel is left)
MIN_INPUT_SIZE = 64


@dataclass(frozen=True)
class Backbone:
    """A Keras application and the no-top ImageNet weights file Keras would fetch for it."""

    app: str  # constructor in keras.applications
    file: str  # Keras' cache name; ``{rows}`` is the input size for per-size files
    url: str  # where Keras downloads it from; same ``{rows}``
    #: its ``preprocess_input`` as ``x * a + b`` on 0..255 pixels; None: the model does it
    scale: tuple[float, float] | None = None
    rows: tuple[int, ...] = (224,)  # input sizes with a file of their own (else 224's)
    static: bool = False  # cannot be built for any input size (NASNet's cells)
    min_size: int = 32  # Keras' minimum input size
    #: Keras backends its application cannot be built on, with Keras' reason
    unsupported: tuple[tuple[str, str], ...] = ()

    def weights_file(self, size: int | None) -> tuple[str, str]:
        rows = size if size in self.rows else 224
        return self.file.format(rows=rows), self.url.format(rows=rows)


BACKBONES: dict[str, Backbone] = {
    "mobilenet": Backbone(
        "MobileNet", "mobilenet_1_0_{rows}_tf_no_top.h5",
        KERAS_URL + "mobilenet/mobilenet_1_0_{rows}_tf_no_top.h5", TF_MODE,
        rows=(128, 160, 192, 224)),
    "mobilenetv2": Backbone(
        "MobileNetV2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5",
        KERAS_URL + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}"
        "_no_top.h5", TF_MODE, rows=(96, 128, 160, 192, 224)),
    "mobilenetv3small": Backbone(
        "MobileNetV3Small", "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
        KERAS_URL + "mobilenet_v3/weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"),
    "mobilenetv3large": Backbone(
        "MobileNetV3Large", "weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
        KERAS_URL + "mobilenet_v3/weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5"),
    "nasnetmobile": Backbone(
        "NASNetMobile", "nasnet_mobile_no_top.h5", KERAS_URL + "nasnet/NASNet-mobile-no-top.h5",
        TF_MODE, static=True,
        unsupported=(("torch", "Keras builds NASNetMobile on TensorFlow and JAX only, not "
                               "on PyTorch (a Keras limitation)"),)),
    "efficientnetb0": Backbone(
        "EfficientNetB0", "efficientnetb0_notop.h5",
        "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"),
    "convnext-tiny": Backbone(
        "ConvNeXtTiny", "convnext_tiny_notop.h5", KERAS_URL + "convnext/convnext_tiny_notop.h5"),
    "convnext-base": Backbone(
        "ConvNeXtBase", "convnext_base_notop.h5", KERAS_URL + "convnext/convnext_base_notop.h5"),
}


def keras_cache() -> Path:
    """Where Keras keeps downloaded weights (``get_file(..., cache_subdir="models")``),
    resolved as Keras resolves it (``KERAS_HOME``, else ``~/.keras``, else
    ``/tmp/.keras`` where the home folder is not writable) without importing Keras:
    its backend's start would cost seconds, and clash with torch in one process."""
    import os

    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def _home_relative(path: Path) -> str:
    """``~/.keras/models`` rather than the home folder's path: a message that goes into
    rows and pages names no user's folder."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def find_weights(backbone: Backbone, size: int | None, context: JobContext) -> Path:
    """The weights file on disk, downloaded into Keras' cache if need be, or why not."""
    name, url = backbone.weights_file(size)
    places = [p for p in (context.weights_dir,) if p] + [keras_cache()]
    for place in places:
        if (place / name).is_file():
            return place / name
    why = context.why_offline
    if not context.offline:
        import keras

        try:  # Keras' own download, once, into its own cache
            return Path(keras.utils.get_file(name, url, cache_subdir="models"))
        except Exception as exc:
            why = f"download failed: {str(exc).splitlines()[0][:120]}"
    raise ContenderUnavailable(  # the fix first: tables cut long messages short
        f"pretrained weights {name} not found: `harness weights fetch` downloads it, or "
        f"fetch {url} and put it in --weights-dir or {_home_relative(keras_cache())} under "
        f"that name; {why}"
    )


def _hdf5(path: Path) -> None:
    """Keras' weights files are HDF5: a page of HTML or a cut file is not."""
    with open(path, "rb") as fh:
        if fh.read(8) != b"\x89HDF\r\n\x1a\n":
            raise ValueError("not an HDF5 file (a proxy's page, or the wrong URL)")


def build_backbone(keras, backbone: Backbone, size: int | None, weights: Path | None):
    """The application without its top, pooled, with ``weights`` loaded (a file or None).

    ``size`` None builds it for any input size, so that it can be built (and its
    weights loaded) before the images are seen.
    """
    shape = (size, size, 3) if size else (None, None, 3)
    model = getattr(keras.applications, backbone.app)(
        input_shape=shape, include_top=False, pooling="avg",
        weights=str(weights) if weights else None,
    )
    if backbone.app.startswith("EfficientNet") and weights is not None:
        # what Keras' extra Rescaling(1 / sqrt(std)) does, folded into the variance
        norm = next(la for la in model.layers if isinstance(la, keras.layers.Normalization))
        mean, variance, *rest = norm.get_weights()
        norm.set_weights([mean, variance * np.asarray(IMAGENET_STDDEV_RGB), *rest])
    return model


def write_stand_in_weights(key: str, directory: Path, size: int | None = None) -> Path:
    """Save a ``weights=None`` backbone under Keras' file name and format (legacy HDF5).

    Stands in for the ImageNet file in tests and benchmarks: the real loading path runs.
    """
    import h5py

    from baselines.keras.family import import_keras

    keras = import_keras(0)
    from keras.src.legacy.saving import legacy_h5_format

    backbone = BACKBONES[key]
    name, _ = backbone.weights_file(size)
    # the weights do not depend on the input size: NASNet is built at its quickest
    built = size or (backbone.min_size if backbone.static else None)
    model = build_backbone(keras, backbone, built, None)
    directory.mkdir(parents=True, exist_ok=True)
    with h5py.File(directory / name, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, model)
    return directory / name


RECIPE: dict[str, Any] = {
    "backbone": "mobilenet",
    "input_size": None,  # None: the images' own size (at least the backbone's minimum)
    "train_layers": 0,  # backbone layers that train: 0 none (frozen), -1 all, N the last N
    "head_fraction": 0.0,  # > 0: a head-only phase first, for this fraction of the budget
    "head_learning_rate": 1e-3,  # the head-only phase's rate
    "learning_rate": 1e-3,
    "batch_size": 32,
    "dropout": 0.2,
    "schedule": "cosine",  # over each phase's clock
    "label_smoothing": 0.0,
    "patience": None,
    "precision": "auto",  # float32 on the CPU, mixed on GPUs (see baselines.keras.family)
    "jit_compile": "auto",
    #: a phase shorter than this trains eagerly: tracing a fine-tuned backbone's
    #: training step takes 10 s (MobileNet) to 100 s (ConvNeXtBase) on a CPU, more than
    #: such a phase could win back by faster steps
    "eager_below": 60.0,
}


class KerasTransfer(kc.KerasContender):
    """A pretrained Keras application with a new softmax head, trained within the budget."""

    family = "keras-transfer"
    requires = ("h5py",)
    pretrained = True
    overhead_seconds = 60.0
    defaults: ClassVar[dict[str, Any]] = RECIPE
    # the weights are looked for first, in prepare: a job without them is skipped in a
    # second or two, not after the seconds of importing Keras and its backend
    import_on_create = False
    backbone: Any = None
    weights: Path | None = None

    def __init__(self, seed: int = 0, **params: Any) -> None:
        super().__init__(seed, **params)
        self.spec = BACKBONES[self.params["backbone"]]

    @classmethod
    def weights_status(cls, context: JobContext) -> tuple[str, str]:
        (f,) = cls.weights_files(context)
        if f.present:
            return "on disk", str(f.target)
        if not context.offline:
            return "downloadable", f"{f.name} from {f.url} into {keras_cache()} on first use"
        return "missing", (f"{f.name} not on disk, and {context.why_offline}: fetch {f.url} "
                           f"and put it in --weights-dir or {keras_cache()}")

    @classmethod
    def weights_files(cls, context: JobContext) -> list[WeightsFile]:
        name, url = BACKBONES[cls.defaults["backbone"]].weights_file(cls.defaults["input_size"])
        places = [p for p in (context.weights_dir,) if p] + [keras_cache()]
        found = next((place / name for place in places if (place / name).is_file()), None)
        target = found or places[0] / name

        def fetch(mirror: str | None = None) -> Path:
            from urllib.parse import urlsplit

            from harness.data.download import download

            # a mirror keeps the files' paths: MIRROR/tensorflow/keras-applications/...
            source = mirror.rstrip("/") + urlsplit(url).path if mirror else url
            return download(source, target, check=_hdf5)

        return [WeightsFile(cls.name, name, url, target, found is not None, fetch)]

    def prepare(self, train: Split, val: Split, context: JobContext) -> None:
        """Setup, not training: find the file (or skip), build the backbone and load it."""
        size = self.params["input_size"]
        self.weights = find_weights(self.spec, size, context)
        keras = kc.import_keras(self.seed)
        self.start(keras, context)
        if size or not self.spec.static:
            self.backbone = self._build(keras, size)

    def _build(self, keras, size: int | None):
        keras.mixed_precision.set_global_policy(self.runtime.precision)
        try:
            with self.runtime.scope():
                return build_backbone(keras, self.spec, size, self.weights)
        finally:
            keras.mixed_precision.set_global_policy("float32")

    def _input_size(self, shape: tuple[int, ...]) -> tuple[int, int]:
        if self.params["input_size"]:
            return self.params["input_size"], self.params["input_size"]
        height, width = shape[:2]
        scale = max(1.0, max(self.spec.min_size, MIN_INPUT_SIZE) / min(height, width))
        return round(height * scale), round(width * scale)

    def fit(self, train: Split, val: Split, budget: Budget, context: JobContext) -> FitReport:
        if self.weights is None:  # not prepared (called directly): do it on the clock
            self.prepare(train, val, context)
        keras = kc.import_keras(self.seed)
        p = self.params
        size = self._input_size(train.images.shape[1:])
        notes = [self.runtime.note] if self.runtime.note else []
        if self.backbone is None:  # a static backbone, buildable only once the size is known
            self.backbone = self._build(keras, size[0])
            size = (size[0], size[0])
            notes.append(f"{self.spec.app} built and loaded at {size[0]} px within the "
                         f"budget ({budget.elapsed():.1f} s)")
        with self.runtime.scope():
            inputs, x = kc.pretrained_stem(keras, train.images.shape[1:], size,
                                           self.spec.scale)
            # BatchNormalization in inference mode also when unfrozen: its ImageNet
            # statistics are worth more than a few small batches' (Keras' transfer guide)
            x = self.backbone(x, training=False)
            if p["dropout"]:
                x = keras.layers.Dropout(p["dropout"])(x)
            outputs = keras.layers.Dense(train.num_classes, activation="softmax",
                                         dtype="float32")(x)
            self.model = keras.Model(inputs, outputs, name=f"{self.spec.app.lower()}_transfer")
        # 1024 images at 32 px, as few as the memory of 8 at 224 px allows
        pixels = size[0] * size[1]
        self.predict_batch = max(8, min(kc.PREDICT_BATCH, kc.PREDICT_BATCH * 32**2 // pixels))

        phases = [(p["train_layers"], p["learning_rate"], 1.0)]
        if p["head_fraction"]:
            phases.insert(0, (0, p["head_learning_rate"], p["head_fraction"]))
        report, batch_size, best = FitReport(notes=notes), p["batch_size"], -1.0
        for i, (layers, lr, fraction) in enumerate(phases):
            if budget.remaining() <= 0:
                break
            last = i == len(phases) - 1
            seconds = budget.remaining() if last else fraction * budget.remaining()
            part = Budget(seconds, gpus=budget.gpus)  # this phase's own clock and deadline
            self._set_trainable(layers)
            with self.runtime.scope():
                kc.compile_model(keras, self.model, learning_rate=lr,
                                 label_smoothing=p["label_smoothing"],
                                 jit_compile=p["jit_compile"])
            if seconds < p["eager_below"] and kc.backend() != "jax":
                # (JAX runs eagerly op by op, compiling each op: slower than its jit)
                self.model.run_eagerly = True
                report.notes.append(f"trained eagerly: {seconds:.0f} s is too short to trace")
            got, batch_size = kc.halve_batch_on_oom(
                lambda b, part=part, lr=lr, best=best: kc.fit_within_budget(
                    self.model, train, val, part, batch_size=b, patience=p["patience"],
                    base_lr=lr, schedule=kc.Schedule(p["schedule"]), seed=self.seed,
                    best_score=best, predict_batch=self.predict_batch),
                batch_size, part)
            offset = part.started - budget.started
            report.history += [replace(e, elapsed_seconds=e.elapsed_seconds + offset,
                                       epoch=len(report.history) + e.epoch) for e in got.history]
            report.notes += got.notes
            report.images_seen = (report.images_seen or 0) + (got.images_seen or 0)
            scored = [e.val_accuracy for e in report.history if e.val_accuracy is not None]
            best = max(scored, default=best)
            if len(phases) > 1:
                report.notes.append(f"phase {i + 1}: {self._trainable_text(layers)} for "
                                    f"{part.elapsed():.0f} s at learning rate {lr:g}")
        return report

    def _set_trainable(self, layers: int) -> None:
        self.backbone.trainable = layers != 0
        if layers > 0:
            for layer in self.backbone.layers[:-layers]:
                layer.trainable = False

    @staticmethod
    def _trainable_text(layers: int) -> str:
        return {0: "head only", -1: "all layers"}.get(layers, f"the last {layers} layers")

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "backbone": self.spec.app,
            "backbone_input": list(self.backbone.input_shape[1:]) if self.backbone else None,
            "weights": str(self.weights),
        }


def _variant(name: str, doc: str, **recipe: Any) -> type[KerasTransfer]:
    """Register a KerasTransfer variant: its recipe only, no new class hierarchy."""
    cls = type("".join(w.capitalize() for w in name.split("-")), (KerasTransfer,), {
        "__doc__": doc, "defaults": {**RECIPE, **recipe}, "__module__": __name__,
        "unsupported_backends": dict(BACKBONES[recipe["backbone"]].unsupported),
    })
    return register(name)(cls)


for _key, _spec in BACKBONES.items():
    if _key != "convnext-base":  # its seed recipe is the two-phase one below
        _variant(f"{_key}-frozen",
                 f"{_spec.app}, ImageNet weights frozen, a new head at the images' own size "
                 "(at least 64 px: a 2x2 last feature map): the seed's Model I.", backbone=_key)
    _variant(f"{_key}-224-finetune",
             f"{_spec.app} on images resized to 224, every layer fine-tuned at 1e-4 from "
             "ImageNet weights: the seed's Model III.",
             backbone=_key, input_size=224, train_layers=-1, learning_rate=1e-4)

_variant("nasnetmobile-224-frozen",
         "NASNetMobile on images resized to 224 (its ImageNet size), weights frozen, a new "
         "head: the seed's Model II.", backbone="nasnetmobile", input_size=224)
_variant("convnext-base-2phase",
         "ConvNeXtBase at 224, two phases sized to the budget: the new head alone for 30 % "
         "of it, then the last 50 layers too at 1e-4 (the first seed's CIFAR-100 and "
         "Tiny-ImageNet recipe).",
         backbone="convnext-base", input_size=224, train_layers=50, head_fraction=0.3,
         learning_rate=1e-4)
