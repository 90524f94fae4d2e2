"""Hand-built Keras CNNs, trained from scratch within the budget.

Each contender is a builder function plus its training recipe, both data: the
architecture in ``build_*``, the recipe in ``defaults`` (optimizer, schedule over the
budget's clock, augmentation, label smoothing). ``KerasCNN`` does the rest with the
shared plumbing of :mod:`baselines.keras`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from baselines import keras as kc
from harness.contenders import FitReport, register
from harness.core.budget import Budget
from harness.core.context import JobContext
from harness.data import Split

#: the training recipe every Keras CNN starts from; each contender overrides a few
RECIPE: dict[str, Any] = {
    "batch_size": 64,
    "learning_rate": 1e-3,
    "optimizer": "adam",  # adam | adamw | sgd (nesterov)
    "weight_decay": 0.0,  # adamw only
    "schedule": "cosine",  # over the budget's clock: cosine | onecycle | exponential
    "warmup": 0.0,  # fraction of the clock
    "label_smoothing": 0.0,
    "flip": False,  # left-right flips in training: True, False or "auto" (a probe decides)
    "translate": 0,  # pixels of random shift in training (at most an eighth of the side)
    "tta": False,  # test-time flip, kept only where it does not hurt validation
    "patience": None,  # epochs without a better validation before stopping early
    "dropout": 0.0,
    "l2": 0.0,
    # Keras' default (0.99) needs many hundred steps before the inference statistics
    # are right; a short budget may give fewer
    "bn_momentum": 0.9,
    "min_size": 0,  # inputs smaller than this are resized up inside the model
    # auto: float32 on the CPU, mixed bfloat16 (float16 before Ampere) on GPUs
    "precision": "auto",  # auto | float32 | mixed_float16 | mixed_bfloat16
    "jit_compile": "auto",  # auto (Keras' choice per backend) | True | False
}


#: validation images the test-time flip is checked on: two predictions of them run on
#: the budget's clock, after the last epoch (5,000 of CIFAR-10's took 6 s on 2 cores)
FLIP_CHECK = 1000


class KerasCNN(kc.KerasContender):
    """A Keras model built by ``build(keras, input_shape, num_classes, params)``."""

    family = "keras-cnn"
    defaults: ClassVar[dict[str, Any]] = RECIPE
    build: ClassVar[Any] = None

    @classmethod
    def input_side(cls, side: int, budget_seconds: float, gpus: int) -> int | None:
        return kc.scratch_side(budget_seconds, gpus)

    def fit(self, train: Split, val: Split, budget: Budget, context: JobContext) -> FitReport:
        keras = kc.import_keras(self.seed)
        p = self.params
        notes: list[str] = []
        runtime = self.start(keras, context)
        if p.get("widths") == "auto":  # recorded in the row's params as chosen
            side = [max(n, p["min_size"]) for n in train.images.shape[1:3]]
            p = self.params = {**p, "widths": fastnet_widths(budget.seconds, runtime.gpus_used,
                                                             side[0] * side[1])}
        try:
            with runtime.scope():
                self.model = type(self).build(keras, train.images.shape[1:],
                                              train.num_classes, p)
                kc.add_l2(self.model, p["l2"])
                kc.compile_model(keras, self.model, learning_rate=p["learning_rate"],
                                 optimizer=p["optimizer"], weight_decay=p["weight_decay"],
                                 label_smoothing=p["label_smoothing"],
                                 jit_compile=p["jit_compile"])
        finally:  # the policy is global: later models in this process start from float32
            keras.mixed_precision.set_global_policy("float32")
        if runtime.note:
            notes.append(runtime.note)
        report = kc.fit_within_budget(
            self.model, train, val, budget,
            batch_size=p["batch_size"], patience=p["patience"], base_lr=p["learning_rate"],
            schedule=kc.Schedule(p["schedule"], p["warmup"]),
            augment=kc.Augment(p["flip"], shift(p["translate"], train.images.shape[1:3])),
            seed=self.seed,
            # the flip check: its images predicted plain and twice more for the mirror
            after_validations=3 * min(len(val), FLIP_CHECK) / max(1, len(val))
            if p["tta"] and p["flip"] else 0.0,
        )
        report.notes[:0] = notes
        flipped = p["flip"] is True or any(n.startswith("flip augmentation on")
                                           for n in report.notes)
        # a model never trained on mirror images gains nothing from seeing them at test
        self.tta = bool(p["tta"]) and flipped and self._flip_helps(val)
        if p["tta"] and flipped:
            report.notes.append(f"test-time flip {'on' if self.tta else 'off (hurt validation)'}")
        return report

    def _flip_helps(self, val: Split) -> bool:
        """Whether test-time flip does not hurt validation, on at most ``FLIP_CHECK``
        of its images: the check runs on the clock, after the last epoch."""
        if len(val) > FLIP_CHECK:
            val = val.subset(np.sort(np.random.default_rng(self.seed).choice(
                len(val), FLIP_CHECK, replace=False)))
        plain = kc.predict_in_batches(self.model, val.images).argmax(1)
        flipped = kc.predict_in_batches(self.model, val.images, flip=True).argmax(1)
        return np.mean(flipped == val.labels) >= np.mean(plain == val.labels)


def shift(pixels: int, size: tuple[int, int]) -> int:
    """The random shift for images of ``size``: at most an eighth of the smaller side
    (2 px of an 8 px digit moves a quarter of it: no longer the same digit)."""
    return min(pixels, max(1, min(size) // 8)) if pixels else 0


def bn(keras, x, momentum: float = RECIPE["bn_momentum"]):
    return keras.layers.BatchNormalization(momentum=momentum)(x)


def conv_bn(keras, x, width: int, activation: str = "relu",
            momentum: float = RECIPE["bn_momentum"]):
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
    return keras.layers.Activation(activation)(bn(keras, x, momentum))


def head(keras, x, num_classes: int, dropout: float, hidden: int = 0):
    layers = keras.layers
    if hidden:
        x = layers.Dense(hidden, activation="relu")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    # float32 softmax also under mixed precision: float16 logits lose small classes
    return layers.Dense(num_classes, activation="softmax", dtype="float32")(x)


def build_shallow(keras, input_shape, num_classes, p):
    layers = keras.layers
    inputs, x = kc.stem(keras, input_shape)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(p["dropout"])(layers.Flatten()(x))
    x = head(keras, x, num_classes, p["dropout"], hidden=64)
    return keras.Model(inputs, x, name="keras_shallow")


def build_cnn6(keras, input_shape, num_classes, p):
    layers = keras.layers
    inputs, x = kc.stem(keras, input_shape, p["min_size"])
    m = p["bn_momentum"]
    for i, width in enumerate((32, 64, 128)):
        x = conv_bn(keras, conv_bn(keras, x, width, momentum=m), width, momentum=m)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(p["dropout"] + 0.1 * i)(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, head(keras, x, num_classes, 0.5, hidden=128), name="keras_cnn6")


def build_deep(keras, input_shape, num_classes, p):
    layers = keras.layers
    inputs, x = kc.stem(keras, input_shape, p["min_size"])
    for i, width in enumerate(p["widths"]):
        for _ in range(p["convs_per_block"]):
            x = conv_bn(keras, x, width, momentum=p["bn_momentum"])
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(p["dropout"] + 0.05 * i)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = head(keras, x, num_classes, 0.5, hidden=2 * p["widths"][-1])
    return keras.Model(inputs, x, name="keras_deep")


def build_mobilenet(keras, input_shape, num_classes, p):
    inputs, x = kc.stem(keras, input_shape, p["min_size"])
    backbone = keras.applications.MobileNet(
        input_shape=tuple(x.shape[1:]), alpha=p["alpha"], include_top=False,
        weights=None, pooling="avg", dropout=0.0,
    )
    for layer in backbone.layers:  # see RECIPE: short budgets need quicker statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = p["bn_momentum"]
    x = head(keras, backbone(x), num_classes, p["dropout"])
    return keras.Model(inputs, x, name="mobilenet_scratch")


def build_fastnet(keras, input_shape, num_classes, p):
    """airbench's shape: a conv stem, then blocks of conv, pool, BN, GELU, conv, BN, GELU."""
    layers = keras.layers
    # "auto" is resolved by fit() from the budget, the device and the image size; a
    # bare build (no budget) gets what a CPU gets below WIDE_FROM_SECONDS
    widths = NARROW if p["widths"] == "auto" else p["widths"]
    inputs, x = kc.stem(keras, input_shape, p["min_size"])
    m = p["bn_momentum"]
    x = conv_bn(keras, x, widths[0] // 2, "gelu", m)
    for width in widths:
        x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Activation("gelu")(bn(keras, x, m))
        x = conv_bn(keras, x, width, "gelu", m)
    # Flatten, not airbench's global max-pooling: in small images (digits) where a
    # stroke is matters, and the map left after three poolings is small anyway.
    x = layers.Flatten()(x)
    return keras.Model(inputs, head(keras, x, num_classes, p["dropout"]), name="keras_fastnet")


#: keras-fastnet's widths. The narrow net's epochs cost a quarter as much: where the
#: wide one would get only a few hundred steps it is ahead, beyond that the wide one is
#: (``make bench-real``, 2 CPU cores: the photo patches at 10 s 78.0 % narrow against
#: 49.5-56.5 % wide, CIFAR-10 photos at 30 s 61.3 % against 57.0-57.8 %, at 90 s 58.3 %
#: against 61.7-64.9 %). On CPUs the wide one from WIDE_FROM_SECONDS for 32x32 images,
#: scaled by the pixels; on GPUs always, where its steps cost little more.
NARROW, WIDE = (16, 32, 64), (32, 64, 128)
WIDE_FROM_SECONDS = 60.0


def fastnet_widths(budget_seconds: float, gpus: int, pixels: int = 32 * 32) -> tuple[int, ...]:
    if gpus or budget_seconds >= WIDE_FROM_SECONDS * pixels / (32 * 32):
        return WIDE
    return NARROW


def _variant(name: str, builder, doc: str, **recipe: Any) -> type[KerasCNN]:
    """Register a KerasCNN variant: a builder and its recipe, no new class hierarchy."""
    cls = type("".join(w.capitalize() for w in name.split("-")), (KerasCNN,), {
        "__doc__": doc, "build": staticmethod(builder), "defaults": {**RECIPE, **recipe},
        "__module__": __name__,
    })
    return register(name)(cls)


KerasShallow = _variant(
    "keras-shallow", build_shallow,
    "The seed project's MNIST model: one Conv2D with 8 kernels, a dense head. Dropout "
    "around the head: trained for the whole budget it would otherwise overfit digits.",
    dropout=0.3,
)

_variant(
    "keras-cnn6", build_cnn6,
    "The seed's CIFAR-10 network: six Conv2D with batch norm, max-pooling and rising "
    "dropout (86.49 % on CIFAR-10 there). Three poolings: 8x8 inputs go up to 16x16.",
    dropout=0.2, min_size=16, translate=1,
)
_variant(
    "keras-deep", build_deep,
    "Deeper and wider (the seed's CIFAR-100 network): four blocks of two conv-BN-ReLU, "
    "max-pooling and dropout, cosine decay with warm-up over the budget's clock.",
    widths=(32, 64, 128, 256), convs_per_block=2, dropout=0.1, min_size=16,
    warmup=0.1, learning_rate=2e-3, translate=1,
    # eight BN layers behind a 2e-3 warm-up: at 0.9 the inference statistics lagged the
    # weights so far that on 36 images validation stayed at chance for 50 steps (5 at
    # 0.6), and on the photo patches at 10 s it scored 36.5 % (0.6: 70.5 %); CIFAR-10
    # photos at 90 s 58.5 / 60.9 % at 0.9, 58.6 / 62.1 % at 0.6 (runs side by side)
    bn_momentum=0.6,
)
_variant(
    "mobilenet-scratch", build_mobilenet,
    "MobileNet (v1) with no pretrained weights, L2 on every kernel and dropout (the "
    "second seed's Model II.1); the learning rate decays exponentially over the clock.",
    alpha=1.0, l2=1e-4, dropout=0.3, min_size=32, schedule="exponential",
    learning_rate=2e-3, translate=1,
    # as keras-deep: on 36 images validation reached 1.0 at 11.7 s at 0.6, at 31.5 s at
    # 0.9; photo patches at 30 s 60.0 % both, CIFAR-10 photos at 90 s 32.0 % (15 epochs)
    # at 0.6, 32.8 % (16 epochs) at 0.9
    bn_momentum=0.6,
)
_variant(
    "keras-fastnet", build_fastnet,
    "Accuracy per second, after the CIFAR-10 speed records (airbench): a small VGG-style "
    "net with batch norm, a one-cycle schedule sized to the budget, label smoothing, "
    "flip-and-translate augmentation, test-time flip; mixed precision and XLA on a GPU. "
    "Flips only where a probe finds labels survive mirroring (photos, not digits).",
    widths="auto", min_size=16, optimizer="adamw", weight_decay=5e-4,
    learning_rate=3e-3, schedule="onecycle", warmup=0.2, label_smoothing=0.2,
    flip="auto", translate=2, tta=True, batch_size=128,
)
